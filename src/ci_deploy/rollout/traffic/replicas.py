"""The ``replicas`` router: canary pods next to the stable ones, behind the one Service.

The Service selects the app's pods of both tracks, so kube-proxy spreads connections over all
Ready pods: the canary's share is its pods over all pods. The stable set stays at its full size
the whole time (an abort is instant: nothing has to start), so with ``N`` stable pods the
shares possible are ``k / (N + k)``: with 5 stable pods, 5 % is not possible, the nearest is one
canary pod (16.7 %). ``split`` says so, and the plan prints it. Nothing is moved but the canary's
replica count, which the strategy sets; a share of requests, not of connections, needs a
router that weighs requests (gateway-api).

A baseline is ``k`` more pods of the stable version behind the same Service, so the canary and
the baseline get ``k / (N + 2k)`` each: with 4 stable pods one canary pod and one baseline pod
get 16.7 % each and the stable set 66.7 %, whatever the weight asked below that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ci_deploy.rollout.traffic import Split, TrafficNames, _pct, baseline_runs_at

if TYPE_CHECKING:
    from ci_deploy.rollout.session import RolloutContext


class ReplicasRouter:
    """Traffic follows the pod ratio behind the app's Service."""

    name = "replicas"
    baseline_unsupported = ""
    weighs_requests = False  # the canary's share ends only when its pods are gone

    def split(self, weight: float, stable_pods: int, baseline: bool = False) -> Split:
        """The canary pod count whose share ``k / (N + k)`` is nearest ``weight`` (at least 1);
        with a baseline of ``k`` pods too, ``k / (N + 2k)`` each."""
        stable = max(1, stable_pods)
        if weight >= 100:
            return Split(weight, 100.0, stable, 0)
        if baseline and not baseline_runs_at(weight):
            raise ValueError(f"a baseline cannot take the canary's share at {weight}%")
        wanted, others = weight / 100, 2 if baseline else 1

        def share(k: int) -> float:
            return k / (stable + others * k)

        best = min(range(1, 100 * stable + 1), key=lambda k: (abs(share(k) - wanted), k))
        actual = round(100 * share(best), 1)
        note = ""
        if abs(actual - weight) >= 0.05:
            have = f"{stable} stable pod{'s' if stable != 1 else ''}"
            if baseline:
                have += " and a baseline as large as the canary"
            note = f"{_pct(weight)} asked: with {have} the nearest pod ratio is {_pct(actual)}"
        pods = best if baseline else 0
        rest = round(100 * stable / (stable + best + pods), 1)  # 66.7 %, not 100 - 2 × 16.7
        return Split(weight, actual, best, stable, note, baseline_pods=pods, stable_actual=rest)

    def describe(self, names: TrafficNames) -> str:
        pods = "canary and baseline pods" if names.baseline_deployment else "canary pods"
        return (
            f"replicas: {pods} next to the stable ones behind Service {names.stable_service}"
            " (traffic follows the pod ratio)"
        )

    def prepare(self, ctx: RolloutContext, names: TrafficNames) -> None:
        """Nothing to make: the Service already selects both tracks."""

    def set_weight(self, ctx: RolloutContext, names: TrafficNames, split: Split) -> None:
        """Nothing to move: the canary's replica count (set by the strategy) is the weight.
        Weight 0 is not something this router can do while canary pods run: the strategy's
        removal of the canary is what ends its share (``weighs_requests`` is False)."""
        if split.actual <= 0:
            ctx.progress.line(
                f"traffic: the canary's pods keep their share behind Service"
                f" {names.stable_service} until they are removed (the replicas router moves no"
                " requests)"
            )
            return
        ctx.progress.line(f"traffic: {split.describe()} behind Service {names.stable_service}")

    def reset(self, ctx: RolloutContext, names: TrafficNames) -> None:
        """Nothing to undo: once the canary's (and baseline's) pods are gone, the Service has
        only stable ones."""


ROUTER = ReplicasRouter()
