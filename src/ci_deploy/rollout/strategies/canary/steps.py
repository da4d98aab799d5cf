"""The canary's own steps: each carries what its ``run`` uses (see ``rollout/steps.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ci_deploy.kube.apply import apply_object
from ci_deploy.kube.client import DEPLOYMENT
from ci_deploy.rollout.session import RolloutContext, StepFailed
from ci_deploy.rollout.steps import (
    Step,
    WaitForRollout,
    wait_until_pods_gone,
)
from ci_deploy.rollout.traffic import (
    TRACK_LABEL,
    Split,
    TrafficNames,
    router_for,
)
from ci_deploy.rollout.traffic.services import delete_if_present, router_patch

Obj = dict[str, Any]


# -- the canary's own steps ---------------------------------------------------------------------
@dataclass(frozen=True)
class LabelStable(Step):
    """Put the stable pods on the stable track (a restart with the same image and template)."""

    deployment: str
    name = "label-stable"

    def describe(self) -> str:
        return (
            f"label the pods of deployment/{self.deployment} {TRACK_LABEL}=stable (they do not "
            "carry it yet: a rolling restart of the stable version, nothing else changes)"
        )

    def run(self, ctx: RolloutContext) -> None:
        ctx.before_change(self.deployment)
        patch = {"spec": {"template": {"metadata": {"labels": {TRACK_LABEL: "stable"}}}}}
        router_patch(ctx.client, DEPLOYMENT.path(ctx.namespace, self.deployment), patch)


@dataclass(frozen=True)
class StartCanary(Step):
    """Create (or update) the canary Deployment from the rendered one."""

    deployment: str
    image: str
    replicas: int
    manifest: Obj = field(default_factory=dict, compare=False)
    name = "start-canary"

    def describe(self) -> str:
        pods = f"{self.replicas} pod{'s' if self.replicas != 1 else ''}"
        return f"start the canary: deployment/{self.deployment} with {self.image}, {pods}"

    def run(self, ctx: RolloutContext) -> None:
        if not self.manifest:
            raise StepFailed(
                "failed",
                f"the manifest of deployment/{self.deployment} is not known here: run deploy again",
            )
        apply_object(ctx.client, self.manifest)
        ctx.progress.line(f"applied deployment/{self.deployment} ({self.image})")


@dataclass(frozen=True)
class StartBaseline(StartCanary):
    """Create (or update) the baseline Deployment: the stable pod template, freshly started."""

    name = "start-baseline"

    def describe(self) -> str:
        pods = f"{self.replicas} pod{'s' if self.replicas != 1 else ''}"
        return (
            f"start the baseline: deployment/{self.deployment} with the stable version "
            f"({self.image}), {pods}, {TRACK_LABEL}=baseline"
        )


@dataclass(frozen=True)
class PrepareTraffic(Step):
    """Make what the router needs before the first weight."""

    router: str
    names: TrafficNames
    name = "prepare-traffic"

    def describe(self) -> str:
        return f"prepare traffic: {router_for(self.router).describe(self.names)}"

    def run(self, ctx: RolloutContext) -> None:
        router_for(self.router).prepare(ctx, self.names)


@dataclass(frozen=True)
class SetWeight(Step):
    """Scale the canary for the stage's weight, wait until it is ready, move the traffic."""

    router: str
    names: TrafficNames
    stage: str
    weight: float
    planned: Split  # for the printed plan; the live stable size decides when it runs
    timeout: float
    selector: str  # the canary's pods
    baseline_selector: str = ""  # the baseline's pods, when the baseline runs at this stage
    name = "set-weight"

    def describe(self) -> str:
        return f"stage {self.stage}: {self.planned.describe()}"

    def run(self, ctx: RolloutContext) -> None:
        router = router_for(self.router)
        stable = ctx.client.get(DEPLOYMENT.path(ctx.namespace, self.names.stable_deployment))
        live = int((stable.get("spec") or {}).get("replicas", 1))
        split = router.split(self.weight, live, baseline=bool(self.baseline_selector))
        sized = [(self.names.canary_deployment, self.selector)]
        if split.baseline_pods:
            sized.append((self.names.baseline_deployment, self.baseline_selector))
        for deployment, _ in sized:  # both scaled first, so they start side by side
            path = DEPLOYMENT.path(ctx.namespace, deployment)
            router_patch(ctx.client, path, {"spec": {"replicas": split.canary_pods}})
        for deployment, selector in sized:
            WaitForRollout(deployment, self.timeout, selector).run(ctx)
        router.set_weight(ctx, self.names, split)
        ctx.save(canary_weight=split.actual)
        ctx.progress.line(f"stage {self.stage}: {split.describe()}")


@dataclass(frozen=True)
class PromoteStable(Step):
    """The stable Deployment gets the new template (the rendered one, recorded)."""

    deployment: str
    image: str
    manifest: Obj = field(default_factory=dict, compare=False)
    name = "promote"

    def describe(self) -> str:
        return f"promote: deployment/{self.deployment} gets the canary's version ({self.image})"

    def run(self, ctx: RolloutContext) -> None:
        if not self.manifest:
            raise StepFailed("failed", "the Deployment to promote is not recorded: abort instead")
        ctx.before_change(self.deployment)
        apply_object(ctx.client, self.manifest)
        ctx.events.emit("promoted", ctx.record, message=f"{self.image} promoted to stable")


@dataclass(frozen=True)
class TrafficToStable(Step):
    """Weight 0 for the canary: every request goes to the stable pods (the canary still runs,
    so nothing is sent to pods that are going away). With the ``replicas`` router the share
    follows the pods: the canary keeps it until ``RemoveCanary`` has removed them, and weight 0
    is recorded then, not here."""

    router: str
    names: TrafficNames
    name = "traffic-to-stable"

    def describe(self) -> str:
        if not router_for(self.router).weighs_requests:
            return (
                f"all traffic to the stable pods ({self.router}: the canary's pods keep their"
                " share until they are removed, the next step)"
            )
        return f"all traffic to the stable pods ({self.router}: canary weight 0)"

    def run(self, ctx: RolloutContext) -> None:
        stable = ctx.client.get_or_none(
            DEPLOYMENT.path(ctx.namespace, self.names.stable_deployment)
        )
        replicas = int(((stable or {}).get("spec") or {}).get("replicas", 1))
        canary = ctx.client.get_or_none(
            DEPLOYMENT.path(ctx.namespace, self.names.canary_deployment)
        )
        pods = int(((canary or {}).get("spec") or {}).get("replicas", 0))
        router = router_for(self.router)
        router.set_weight(ctx, self.names, Split(0.0, 0.0, pods, replicas))
        if router.weighs_requests:
            ctx.save(canary_weight=0.0)


@dataclass(frozen=True)
class ResetTraffic(Step):
    """Remove what the router made (canary Service, canary Ingress, the narrowed selector);
    runs once the canary's pods are gone, so the stable Service never selects them."""

    router: str
    names: TrafficNames
    name = "reset-traffic"

    def describe(self) -> str:
        return f"remove what the {self.router} router made for the canary"

    def run(self, ctx: RolloutContext) -> None:
        router_for(self.router).reset(ctx, self.names)


@dataclass(frozen=True)
class RemoveCanary(Step):
    """Delete the canary Deployment (its ReplicaSets and pods go with it)."""

    deployment: str
    selector: str
    timeout: float
    name = "remove-canary"

    def describe(self) -> str:
        return f"remove deployment/{self.deployment} and wait until its pods are gone"

    def run(self, ctx: RolloutContext) -> None:
        self._remove(ctx)
        if ctx.record.canary_weight:  # no canary pod left: whatever the router, it gets nothing
            ctx.save(canary_weight=0.0)

    def _remove(self, ctx: RolloutContext) -> None:
        path = DEPLOYMENT.path(ctx.namespace, self.deployment)
        delete_if_present(ctx.client, path, propagation="Foreground")
        wait_until_pods_gone(
            ctx,
            self.selector,
            self.timeout,
            done=f"deployment/{self.deployment} was deleted",
            waiting=f"pods of deployment/{self.deployment}",
        )
        ctx.progress.line(f"removed deployment/{self.deployment}")


@dataclass(frozen=True)
class RemoveBaseline(RemoveCanary):
    """Delete the baseline Deployment (its pods go with it); no traffic is sent to it by then."""

    why: str = ""  # for the plan: why here
    name = "remove-baseline"

    def describe(self) -> str:
        text = f"remove the baseline: deployment/{self.deployment}, until its pods are gone"
        return f"{text} ({self.why})" if self.why else text

    def run(self, ctx: RolloutContext) -> None:
        self._remove(ctx)  # the canary may still serve (a stage at 50 % or more): its weight stays
