"""The blue-green steps: each carries what its ``run`` uses (see ``rollout/steps.py``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ci_deploy.kube.apply import ApplyError, apply_object
from ci_deploy.kube.client import DEPLOYMENT, POD
from ci_deploy.kube.disruption import shortfalls
from ci_deploy.kube.endpoints import ready_endpoint_pods
from ci_deploy.kube.errors import ApiError
from ci_deploy.kube.verify import pod_ready
from ci_deploy.rollout.labels import COLOR_LABEL
from ci_deploy.rollout.session import RolloutContext, StepFailed
from ci_deploy.rollout.steps import (
    Step,
    duration_text,
    pods_text,
    wait_until_pods_gone,
)
from ci_deploy.rollout.strategies.blue_green.spec import (
    POLL,
)
from ci_deploy.rollout.traffic.services import (
    delete_if_present,
    object_path,
    require,
    router_apply,
    router_patch,
    service_beside,
    service_path,
)

Obj = dict[str, Any]


# -- the blue-green steps -----------------------------------------------------------------------
@dataclass(frozen=True)
class RecordStart(Step):
    """Remember the serving version and colour, and the rollout's parameters (strict)."""

    image: str | None
    color: str  # serving now
    plan: Obj | None = field(default=None, compare=False)
    name = "record-stable"

    def describe(self) -> str:
        return f"record stable revision: {self.image} ({self.color} serves)"

    def run(self, ctx: RolloutContext) -> None:
        ctx.save(strict=True, previous_revision=self.image, plan=self.plan, active_color=self.color)


@dataclass(frozen=True)
class RecordColor(Step):
    """Record which colour serves (a first deploy: the one it rolled out)."""

    color: str
    name = "record-color"

    def describe(self) -> str:
        return f"record the serving colour: {self.color}"

    def run(self, ctx: RolloutContext) -> None:
        ctx.save(active_color=self.color)


@dataclass(frozen=True)
class LabelColor(Step):
    """Put the serving pods on a colour (a rolling restart: same image, one more label)."""

    deployment: str
    color: str
    name = "label-color"

    def describe(self) -> str:
        return (
            f"label the pods of deployment/{self.deployment} {COLOR_LABEL}={self.color} (they "
            "carry no colour yet: a rolling restart of the serving version, nothing else changes)"
        )

    def run(self, ctx: RolloutContext) -> None:
        ctx.before_change(self.deployment)
        labels = {COLOR_LABEL: self.color}
        patch = {
            "metadata": {"labels": labels},
            "spec": {"template": {"metadata": {"labels": labels}}},
        }
        router_patch(ctx.client, DEPLOYMENT.path(ctx.namespace, self.deployment), patch)


@dataclass(frozen=True)
class StartColor(Step):
    """Server-side apply the rendered Deployment as the colour that does not serve."""

    deployment: str
    color: str
    image: str
    replicas: int
    service: str
    manifest: Obj = field(default_factory=dict, compare=False)
    name = "deploy-color"

    def describe(self) -> str:
        pods = f"{self.replicas} pod{'s' if self.replicas != 1 else ''}"
        return (
            f"deploy {self.color}: deployment/{self.deployment} with {self.image}, {pods} "
            f"(Service {self.service} does not select them yet)"
        )

    def run(self, ctx: RolloutContext) -> None:
        if not self.manifest:
            raise StepFailed(
                "failed", f"the manifest of {self.color} is not known here: deploy again"
            )
        ctx.before_change(self.deployment)
        try:
            apply_object(ctx.client, self.manifest)
        except ApplyError as exc:
            raise exc.error from exc  # the executor tells forbidden from other API failures
        ctx.progress.line(f"applied deployment/{self.deployment} ({self.color}, {self.image})")


@dataclass(frozen=True)
class PreviewService(Step):
    """A Service beside the app's one, selecting the new colour: for checks before the switch."""

    service: str
    preview: str
    selector: tuple[tuple[str, str], ...]  # the app's Service's selector as rendered
    color: str
    name = "preview"

    def describe(self) -> str:
        return f"create Service {self.preview} selecting the {self.color} pods (the preview)"

    def run(self, ctx: RolloutContext) -> None:
        main = require(
            ctx,
            service_path(ctx, self.service),
            f"Service {self.service}",
            "it was applied by this rollout: look for what deleted it, then deploy again",
        )
        selector = {**dict(self.selector), COLOR_LABEL: self.color}
        router_apply(
            ctx.client, service_beside(main, self.preview, selector, {COLOR_LABEL: self.color})
        )


@dataclass(frozen=True)
class RemovePreview(Step):
    """Delete the preview Service (gone is fine)."""

    preview: str
    name = "remove-preview"

    def describe(self) -> str:
        return f"delete Service {self.preview} (the preview)"

    def run(self, ctx: RolloutContext) -> None:
        delete_if_present(ctx.client, service_path(ctx, self.preview))


@dataclass(frozen=True)
class CheckTraffic(Step):
    """The promotion check: the Service sends to every ready pod of the colour and no other
    (its EndpointSlices: what every router relies on). The HTTP and command checks are the
    ``Smoke`` step after it (``analysis.smoke``, through the preview Service); the metric
    rules are judged after the switch (``Watch`` during ``scale_down_delay``)."""

    what: str  # pre-promotion | post-promotion
    service: str
    deployment: str
    color: str
    selector: str  # the colour's pods
    timeout: float
    name = "check"

    def describe(self) -> str:
        return (
            f"{self.what} check: Service {self.service} lists every pod of {self.color} "
            f"(deployment/{self.deployment}) as a ready endpoint, and no other pod "
            "(its EndpointSlices)"
        )

    def run(self, ctx: RolloutContext) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            problem = self._problem(ctx)
            if problem is None:
                ctx.progress.line(
                    f"{self.what} check passed: Service {self.service} sends to the {self.color} "
                    "pods only"
                )
                return
            if time.monotonic() > deadline:
                raise StepFailed(
                    "failed", f"{self.what} check: {problem} (after {duration_text(self.timeout)})"
                )
            ctx.progress.update(f"{self.what} check: {problem}")
            if ctx.cancel.wait(POLL):
                raise StepFailed("cancelled", ctx.cancel.reason or "cancelled")

    def _problem(self, ctx: RolloutContext) -> str | None:
        deployment = ctx.client.get(DEPLOYMENT.path(ctx.namespace, self.deployment))
        wanted = int((deployment.get("spec") or {}).get("replicas", 1))
        pods = ctx.client.get(POD.path(ctx.namespace), [("labelSelector", self.selector)])
        items = pods.get("items") or []
        ready = {str(p["metadata"]["name"]) for p in items if pod_ready(p)}
        ours = {str(p["metadata"]["name"]) for p in items}
        endpoints = ready_endpoint_pods(ctx.client, ctx.namespace, self.service)
        if len(ready) < wanted:
            return f"{len(ready)} of {wanted} pods of deployment/{self.deployment} are ready"
        missing = sorted(ready - endpoints)
        if missing:
            return f"Service {self.service} does not list {pods_text(missing)} as ready endpoints"
        others = sorted(endpoints - ours)
        if others:
            return f"Service {self.service} also sends to {pods_text(others)}, not of {self.color}"
        return None


@dataclass(frozen=True)
class RouteTraffic(Step):
    """Point the app's Service (and its HPA) at one colour; record that colour as serving."""

    service: str
    color: str
    deployment: str  # the colour's Deployment
    autoscaler: str = ""
    name = "route"

    def describe(self) -> str:
        return f"route Service {self.service} to the {self.color} pods{self._hpa()}"

    def _hpa(self) -> str:
        if not self.autoscaler:
            return ""
        return f"; HPA {self.autoscaler} scales deployment/{self.deployment}"

    def run(self, ctx: RolloutContext) -> None:
        path = service_path(ctx, self.service)
        require(
            ctx,
            path,
            f"Service {self.service}",
            "it carries the traffic of the app; apply the app's manifests (deploy again)",
        )
        router_patch(ctx.client, path, {"spec": {"selector": {COLOR_LABEL: self.color}}})
        if self.autoscaler:
            hpa = object_path(ctx, "autoscaling/v2", "HorizontalPodAutoscaler", self.autoscaler)
            router_patch(ctx.client, hpa, {"spec": {"scaleTargetRef": {"name": self.deployment}}})
        # Strict: the next deploy must know which colour serves, or it would replace it.
        ctx.save(strict=True, active_color=self.color)
        ctx.progress.line(f"Service {self.service} now selects {COLOR_LABEL}={self.color}")


@dataclass(frozen=True)
class Switch(RouteTraffic):
    """The switch: all traffic to the new colour at once (the promotion)."""

    image: str = ""
    name = "promote"

    def describe(self) -> str:
        return (
            f"switch: Service {self.service} to the {self.color} pods ({self.image}){self._hpa()}"
        )

    def run(self, ctx: RolloutContext) -> None:
        super().run(ctx)
        ctx.events.emit("promoted", ctx.record, message=f"{self.image} serves from {self.color}")


@dataclass(frozen=True)
class ScaleColor(Step):
    """Set a colour's replicas; to zero: first the budgets, then until its pods are gone."""

    deployment: str
    color: str
    selector: str  # the colour's pods
    replicas: int
    timeout: float
    serving: str = ""  # with budgets: the Deployment that keeps serving (what they count on)
    name = "scale"

    def describe(self) -> str:
        if self.replicas:
            pods = f"{self.replicas} pod{'s' if self.replicas != 1 else ''}"
            return f"scale deployment/{self.deployment} ({self.color}) to {pods}"
        text = (
            f"scale deployment/{self.deployment} ({self.color}) to 0 and wait until its pods "
            "are gone"
        )
        if self.serving:
            text += (
                f"; first, wait (timeout {duration_text(self.timeout)}) until the "
                "PodDisruptionBudgets that select them hold with the ready pods of "
                f"deployment/{self.serving} alone"
            )
        return text

    def run(self, ctx: RolloutContext) -> None:
        if self.serving:
            self._wait_for_budgets(ctx)
        path = DEPLOYMENT.path(ctx.namespace, self.deployment)
        try:
            router_patch(ctx.client, path, {"spec": {"replicas": self.replicas}})
        except ApiError as exc:
            if exc.status != 404 or self.replicas:
                raise
        if self.replicas == 0:
            wait_until_pods_gone(
                ctx,
                self.selector,
                self.timeout,
                done=f"deployment/{self.deployment} was scaled to 0",
                waiting=f"{self.color} pods",
            )
            ctx.progress.line(f"scaled deployment/{self.deployment} ({self.color}) to 0")

    def _wait_for_budgets(self, ctx: RolloutContext) -> None:
        kind = ctx.client.resolve_kind("policy/v1", "PodDisruptionBudget")
        deadline = time.monotonic() + self.timeout
        while True:
            budgets = ctx.client.get(kind.path(ctx.namespace)).get("items") or []
            if not budgets:
                return
            pods = ctx.client.get(POD.path(ctx.namespace)).get("items") or []
            retiring = ctx.client.get(POD.path(ctx.namespace), [("labelSelector", self.selector)])
            names = frozenset(str(p["metadata"]["name"]) for p in retiring.get("items") or [])
            serving = ctx.client.get_or_none(DEPLOYMENT.path(ctx.namespace, self.serving)) or {}
            floor = int((serving.get("spec") or {}).get("replicas", 0))
            short = shortfalls(budgets, pods, names, floor)
            if not short:
                return
            reason = "; ".join(map(str, short))
            if time.monotonic() > deadline:
                raise StepFailed(
                    "timeout",
                    f"{self.color} was not scaled down: without its pods, {reason} (only the "
                    f"ready pods of deployment/{self.serving} count); waited "
                    f"{duration_text(self.timeout)}",
                )
            ctx.progress.update(f"waiting to scale {self.color} down: {reason}")
            if ctx.cancel.wait(POLL):
                raise StepFailed("cancelled", ctx.cancel.reason or "cancelled")
