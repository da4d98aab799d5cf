"""The ``replicas`` router: canary pods next to the stable ones, behind the one Service.

The Service selects the app's pods of both tracks, so kube-proxy spreads connections over all
Ready pods: the canary's share is its pods over all pods. The stable set stays at its full size
the whole time (an abort is instant: nothing has to start), so with ``N`` stable pods the
shares possible are ``k / (N + k)``: with 5 stable pods, 5 % is not possible, the nearest is one
canary pod (16.7 %). ``split`` says so, and the plan prints it. Nothing is moved but the canary's
replica count, which the strategy sets; a share of requests, not of connections, needs a
router that weighs requests (gateway-api).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ci_deploy.rollout.traffic import Split, TrafficNames, _pct

if TYPE_CHECKING:
    from ci_deploy.rollout.session import RolloutContext


class ReplicasRouter:
    """Traffic follows the pod ratio behind the app's Service."""

    name = "replicas"

    def split(self, weight: float, stable_pods: int) -> Split:
        """The canary pod count whose share ``k / (N + k)`` is nearest ``weight`` (at least 1)."""
        stable = max(1, stable_pods)
        if weight >= 100:
            return Split(weight, 100.0, stable, 0)
        wanted = weight / 100
        best = min(range(1, 100 * stable + 1), key=lambda k: (abs(k / (stable + k) - wanted), k))
        actual = round(100 * best / (stable + best), 1)
        note = ""
        if abs(actual - weight) >= 0.05:
            note = (
                f"{_pct(weight)} asked: with {stable} stable pod{'s' if stable != 1 else ''} the "
                f"nearest pod ratio is {_pct(actual)}"
            )
        return Split(weight, actual, best, stable, note)

    def describe(self, names: TrafficNames) -> str:
        return (
            f"replicas: canary pods next to the stable ones behind Service {names.stable_service}"
            " (traffic follows the pod ratio)"
        )

    def prepare(self, ctx: RolloutContext, names: TrafficNames) -> None:
        """Nothing to make: the Service already selects both tracks."""

    def set_weight(self, ctx: RolloutContext, names: TrafficNames, split: Split) -> None:
        """Nothing to move: the canary's replica count (set by the strategy) is the weight."""
        ctx.progress.line(f"traffic: {split.describe()} behind Service {names.stable_service}")

    def reset(self, ctx: RolloutContext, names: TrafficNames) -> None:
        """Nothing to undo: once the canary's pods are gone, the Service has only stable ones."""


ROUTER = ReplicasRouter()
