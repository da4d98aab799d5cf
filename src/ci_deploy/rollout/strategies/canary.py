"""Canary: the new version beside the stable one, more traffic stage by stage, then promoted.

The stable Deployment (named after the app) keeps running the stable version at its full size
the whole time, so an abort is instant: traffic goes back and the canary goes away. The canary
is a second Deployment, ``<app>-canary``, made from the rendered one, whose pods carry
``ci-deploy.dev/track: canary`` (the stable pods carry ``stable``, for routers and metric
queries). Its size follows the router's ``split`` of each stage's weight; a HorizontalPodAutoscaler
keeps scaling the stable Deployment only (it targets it by name), and the canary is sized from
the stable Deployment's replica count as it is when each stage starts, so the two never fight.

Each stage is: set the weight (scale the canary, wait until its pods are ready, move the router),
watch for the stage's duration (the canary must stay healthy; metric analysis plugs in here),
and optionally pause for a manual ``promote``. The last stage (100 %) promotes: the stable
Deployment gets the new template, traffic returns to it alone, and the canary is removed.

With ``canary.baseline`` a third Deployment, ``<app>-baseline``, runs the stable version's pod
template (freshly started, ``track: baseline``) at the canary's size and share, so metrics
compare the canary with pods as new and as loaded as it is, not with the warm stable set. It
starts after the canary, is scaled with it at each stage and goes with it; at the first stage of
50 % or more it is removed (the two would leave the stable version no traffic: see
``baseline_runs_at``), and the comparison from there on is with the stable set, by then no
larger than the canary.

Everything a later job needs (stages, router, object names, the Deployment to promote) is
recorded when the rollout starts (``record.plan``), so ``promote`` and ``abort`` rebuild the
very same steps from the cluster alone (the baseline's template is the recorded stable one).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field, replace
from typing import Any

from ci_deploy.config.model import CanaryConfig
from ci_deploy.config.values import Duration
from ci_deploy.errors import UserInputError
from ci_deploy.kube.apply import apply_object
from ci_deploy.kube.client import DEPLOYMENT, MERGE_PATCH, POD
from ci_deploy.kube.errors import ApiError
from ci_deploy.kube.state import STATE_ANNOTATION, StateRecord
from ci_deploy.rollout.plan import (
    FailurePath,
    Observed,
    Plan,
    Target,
    check_recorded,
    continued,
    image_of,
    images_of,
    primary_manifest,
    recorded_number,
    recorded_target,
    resumed_plan,
    stable_template,
)
from ci_deploy.rollout.session import RolloutContext, StepFailed
from ci_deploy.rollout.steps import (
    Apply,
    Pause,
    Record,
    RecordStable,
    RestoreTemplate,
    Step,
    VerifyRunning,
    WaitForRollout,
    Watch,
    duration_text,
)
from ci_deploy.rollout.traffic import (
    BASELINE_BELOW,
    ROUTER_FIELD_MANAGER,
    TRACK_LABEL,
    Split,
    TrafficNames,
    baseline_runs_at,
    router_for,
)
from ci_deploy.rollout.traffic.services import service_for_pods

Obj = dict[str, Any]

CANARY_SUFFIX = "-canary"
BASELINE_SUFFIX = "-baseline"
PLAN_VERSION = 1


# -- what a canary rollout is, as recorded ------------------------------------------------------
@dataclass(frozen=True)
class Stage:
    """One stage as it runs: durations already divided by the time scale."""

    name: str
    weight: float
    seconds: float = 0.0  # watch after setting the weight
    monitor: float = 0.0  # watch after the stage (monitor_duration)
    pause: bool = False
    written: str = ""  # the durations as configured, for the plan ("15m", "2h")
    monitor_written: str = ""
    criteria: tuple[str, ...] = ()  # "error_rate < 0.1%", as configured


@dataclass(frozen=True)
class CanarySpec:
    """A canary rollout's parameters: made from the target, kept in ``record.plan``."""

    router: str
    stages: tuple[Stage, ...]
    names: TrafficNames
    images: tuple[tuple[str, str], ...]
    timeout: float
    stable_selector: str  # the stable pods (the Deployment's selector + track=stable)
    canary_selector: str
    stable_replicas: int  # as planned; each stage sizes the canary from the live count
    time_scale: float = 1.0
    relabel: bool = False  # the stable pods get the track label first (keeps the numbering)
    manifest: Obj = field(default_factory=dict, compare=False)  # the Deployment to promote
    baseline: bool = False  # canary.baseline: <app>-baseline beside the canary (names say which)
    baseline_selector: str = ""  # the baseline's pods (the Deployment's selector + track)

    def baseline_at(self, stage: Stage) -> bool:
        """Whether the baseline runs at ``stage`` (on, and the stage below 50 %)."""
        return self.baseline and baseline_runs_at(stage.weight)

    def to_dict(self) -> Obj:
        return {
            "version": PLAN_VERSION,
            "strategy": "canary",
            "router": self.router,
            "stages": [_stage_dict(s) for s in self.stages],
            "names": self.names.to_dict(),
            "images": [list(pair) for pair in self.images],
            "timeout": self.timeout,
            "stableSelector": self.stable_selector,
            "canarySelector": self.canary_selector,
            "stableReplicas": self.stable_replicas,
            "timeScale": self.time_scale,
            "relabel": self.relabel,
            "manifest": self.manifest,
            "baseline": self.baseline,
            "baselineSelector": self.baseline_selector,
        }

    @classmethod
    def from_dict(cls, doc: Obj) -> CanarySpec:
        check_recorded(doc, "canary", PLAN_VERSION)
        return cls(
            router=str(doc["router"]),
            stages=tuple(Stage(**_stage_args(s)) for s in doc["stages"]),
            names=TrafficNames.from_dict(doc["names"]),
            images=tuple((str(c), str(i)) for c, i in doc["images"]),
            timeout=float(doc["timeout"]),
            stable_selector=str(doc["stableSelector"]),
            canary_selector=str(doc["canarySelector"]),
            stable_replicas=int(doc["stableReplicas"]),
            time_scale=float(doc.get("timeScale", 1.0)),
            relabel=bool(doc.get("relabel", False)),
            manifest=dict(doc.get("manifest") or {}),
            baseline=bool(doc.get("baseline", False)),
            baseline_selector=str(doc.get("baselineSelector", "")),
        )


def _stage_dict(stage: Stage) -> Obj:
    return {
        "name": stage.name,
        "weight": stage.weight,
        "seconds": stage.seconds,
        "monitor": stage.monitor,
        "pause": stage.pause,
        "written": stage.written,
        "monitorWritten": stage.monitor_written,
        "criteria": list(stage.criteria),
    }


def _stage_args(doc: Obj) -> Obj:
    return {
        "name": str(doc["name"]),
        "weight": float(doc["weight"]),
        "seconds": float(doc.get("seconds", 0.0)),
        "monitor": float(doc.get("monitor", 0.0)),
        "pause": bool(doc.get("pause", False)),
        "written": str(doc.get("written", "")),
        "monitor_written": str(doc.get("monitorWritten", "")),
        "criteria": tuple(str(c) for c in doc.get("criteria") or ()),
    }


# -- from the rendered objects ------------------------------------------------------------------
def with_track(obj: Obj, track: str, *, selector: bool = False) -> Obj:
    """A copy of a Deployment (or pod template holder) whose pods carry ``track``."""
    out = copy.deepcopy(obj)
    spec = out.setdefault("spec", {})
    labels = spec.setdefault("template", {}).setdefault("metadata", {}).setdefault("labels", {})
    labels[TRACK_LABEL] = track
    if selector:
        spec.setdefault("selector", {}).setdefault("matchLabels", {})[TRACK_LABEL] = track
    return out


def template_with_track(template: Obj, track: str) -> Obj:
    """A pod template whose labels carry ``track``."""
    out = copy.deepcopy(template)
    out.setdefault("metadata", {}).setdefault("labels", {})[TRACK_LABEL] = track
    return out


def canary_manifest(manifest: Obj, names: TrafficNames, replicas: int) -> Obj:
    """The canary Deployment: the rendered one, renamed, its pods on the canary track."""
    return _track_deployment(manifest, names.canary_deployment, "canary", replicas)


def baseline_manifest(manifest: Obj, stable: Obj, names: TrafficNames, replicas: int) -> Obj:
    """The baseline Deployment: shaped as the canary, with the stable pod template ``stable``
    (as recorded before the rollout) on the baseline track."""
    out = _track_deployment(manifest, names.baseline_deployment, "baseline", replicas)
    out["spec"]["template"] = template_with_track(stable, "baseline")
    return out


def _track_deployment(manifest: Obj, name: str, track: str, replicas: int) -> Obj:
    """The rendered Deployment renamed, its pods and selector on ``track``, without the state."""
    out = with_track(manifest, track, selector=True)
    meta = out.setdefault("metadata", {})
    meta["name"] = name
    meta["labels"] = {**(meta.get("labels") or {}), TRACK_LABEL: track}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()}
    annotations.pop(STATE_ANNOTATION, None)
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    out["spec"]["replicas"] = replicas
    return out


def _selector_text(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _match_labels(manifest: Obj) -> dict[str, str]:
    selector = ((manifest.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return {str(k): str(v) for k, v in selector.items()}


def traffic_names(
    target: Target, manifest: Obj, router: str, baseline: bool = False
) -> TrafficNames:
    """The Service, routes and Ingresses of the app among the rendered objects (exit 2 if the
    router's objects are missing); with ``baseline``, the baseline's names too."""
    service = service_for_pods(target.manifests, manifest)
    if service is None:
        raise UserInputError(
            f"strategy canary needs a Service that selects the pods of deployment/{target.app}; "
            "none of the rendered objects does",
            hint="the built-in templates render one; add one to your templates",
        )
    name = str(service["metadata"]["name"])
    routes = tuple(
        str(o["metadata"]["name"])
        for o in target.manifests
        if o.get("kind") == "HTTPRoute" and _route_uses(o, name)
    )
    ingresses = tuple(
        str(o["metadata"]["name"])
        for o in target.manifests
        if o.get("kind") == "Ingress" and _ingress_uses(o, name)
    )
    if router == "gateway-api" and not routes:
        raise UserInputError(
            f"traffic_router gateway-api needs an HTTPRoute with a backendRef to Service {name}; "
            "none of the rendered objects has one",
            hint="set manifests.http_route in ci-deploy.yml (the built-in HTTPRoute) or render one",
        )
    if router == "nginx-ingress" and not ingresses:
        raise UserInputError(
            f"traffic_router nginx-ingress needs an Ingress with a backend of Service {name}; "
            "none of the rendered objects has one",
            hint="set manifests.ingress in ci-deploy.yml (the built-in Ingress), or render one",
        )
    selector = tuple(sorted((str(k), str(v)) for k, v in service["spec"]["selector"].items()))
    return TrafficNames(
        app=target.app,
        stable_deployment=target.app,
        canary_deployment=f"{target.app}{CANARY_SUFFIX}",
        stable_service=name,
        canary_service=f"{name}{CANARY_SUFFIX}",
        selector=selector,
        http_routes=routes,
        ingresses=ingresses,
        baseline_deployment=f"{target.app}{BASELINE_SUFFIX}" if baseline else "",
        baseline_service=f"{name}{BASELINE_SUFFIX}" if baseline and router != "replicas" else "",
    )


def _route_uses(route: Obj, service: str) -> bool:
    for rule in (route.get("spec") or {}).get("rules") or []:
        for ref in rule.get("backendRefs") or []:
            if ref.get("name") == service and ref.get("kind", "Service") == "Service":
                return True
    return False


def _ingress_uses(ingress: Obj, service: str) -> bool:
    for rule in (ingress.get("spec") or {}).get("rules") or []:
        for path in (rule.get("http") or {}).get("paths") or []:
            if ((path.get("backend") or {}).get("service") or {}).get("name") == service:
                return True
    return False


def stages_of(settings: CanaryConfig, time_scale: float) -> tuple[Stage, ...]:
    """The configured stages, their durations divided by ``time_scale``."""

    def scaled(duration: Duration | None) -> float:
        return duration.seconds / time_scale if duration is not None else 0.0

    return tuple(
        Stage(
            name=s.name,
            weight=s.traffic_percentage,
            seconds=scaled(s.duration),
            monitor=scaled(s.monitor_duration),
            pause=s.pause,
            written=str(s.duration) if s.duration is not None else "",
            monitor_written=str(s.monitor_duration) if s.monitor_duration is not None else "",
            criteria=tuple(f"{k} {v.text}" for k, v in s.success_criteria.items()),
        )
        for s in settings.stages
    )


def spec_for(target: Target) -> CanarySpec:
    """The canary's parameters for ``target`` (UserInputError: exit 2, nothing touched)."""
    settings = target.settings
    if not isinstance(settings, CanaryConfig):
        raise UserInputError(
            f"environment {target.environment} uses strategy canary, but ci-deploy.yml has no "
            "`canary:` block with its stages",
            hint="add `canary: {stages: [...]}` (docs/configuration.md)",
        )
    if settings.baseline:
        _check_baseline(settings)
    rendered = primary_manifest(target)
    manifest = with_track(rendered, "stable")
    names = traffic_names(target, manifest, settings.traffic_router, settings.baseline)
    labels = _match_labels(rendered)
    return CanarySpec(
        router=settings.traffic_router,
        stages=stages_of(settings, target.time_scale),
        names=names,
        images=target.images,
        timeout=target.timeout,
        stable_selector=_selector_text({**labels, TRACK_LABEL: "stable"}),
        canary_selector=_selector_text({**labels, TRACK_LABEL: "canary"}),
        stable_replicas=target.replicas,
        time_scale=target.time_scale,
        manifest=manifest,
        baseline=settings.baseline,
        baseline_selector=_selector_text({**labels, TRACK_LABEL: "baseline"})
        if settings.baseline
        else "",
    )


def _check_baseline(settings: CanaryConfig) -> None:
    """Exit 2 for a baseline the router cannot weigh, or one that would never run."""
    refused = router_for(settings.traffic_router).baseline_unsupported
    if refused:
        raise UserInputError(
            f"canary.baseline: true cannot be used with canary.traffic_router: "
            f"{settings.traffic_router}: {refused}",
            hint="use canary.traffic_router: gateway-api (a third weighted backendRef) or "
            "replicas, or set canary.baseline: false",
        )
    if not any(baseline_runs_at(s.traffic_percentage) for s in settings.stages):
        raise UserInputError(
            f"canary.baseline: true, but no stage of canary.stages is below "
            f"{BASELINE_BELOW:g}%: a baseline runs only at those stages (with the canary's "
            "share, the two would leave the stable version no traffic), so it would never run",
            hint="add a first stage below 50% (e.g. traffic_percentage: 10), or set "
            "canary.baseline: false",
        )


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
        ctx.client.request(
            "PATCH",
            DEPLOYMENT.path(ctx.namespace, self.deployment),
            query=[("fieldManager", ROUTER_FIELD_MANAGER)],
            body=patch,
            content_type=MERGE_PATCH,
        )


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
            ctx.client.request(
                "PATCH",
                DEPLOYMENT.path(ctx.namespace, deployment),
                query=[("fieldManager", ROUTER_FIELD_MANAGER)],
                body={"spec": {"replicas": split.canary_pods}},
                content_type=MERGE_PATCH,
            )
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
    so nothing is sent to pods that are going away)."""

    router: str
    names: TrafficNames
    name = "traffic-to-stable"

    def describe(self) -> str:
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
        router_for(self.router).set_weight(ctx, self.names, Split(0.0, 0.0, pods, replicas))
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
        try:
            ctx.client.request(
                "DELETE",
                DEPLOYMENT.path(ctx.namespace, self.deployment),
                body={"propagationPolicy": "Foreground"},
            )
        except ApiError as exc:
            if exc.status != 404:
                raise
        deadline = time.monotonic() + self.timeout
        while True:
            left = self._remaining(ctx)
            if not left:
                ctx.progress.line(f"removed deployment/{self.deployment}")
                return
            if time.monotonic() > deadline:
                raise StepFailed(
                    "timeout",
                    f"deployment/{self.deployment} was deleted, but pods {', '.join(left)} are "
                    f"still there after {duration_text(self.timeout)}",
                )
            ctx.progress.update(f"waiting for {len(left)} pods of deployment/{self.deployment}")
            if ctx.cancel.wait(0.2):
                raise StepFailed("cancelled", ctx.cancel.reason or "cancelled")

    def _remaining(self, ctx: RolloutContext) -> list[str]:
        gone = ctx.client.get_or_none(DEPLOYMENT.path(ctx.namespace, self.deployment)) is None
        pods = ctx.client.get(POD.path(ctx.namespace), [("labelSelector", self.selector)])
        names = [str(p["metadata"]["name"]) for p in pods.get("items") or []]
        return names if names or not gone else []


@dataclass(frozen=True)
class RemoveBaseline(RemoveCanary):
    """Delete the baseline Deployment (its pods go with it); no traffic is sent to it by then."""

    why: str = ""  # for the plan: why here
    name = "remove-baseline"

    def describe(self) -> str:
        text = f"remove the baseline: deployment/{self.deployment}, until its pods are gone"
        return f"{text} ({self.why})" if self.why else text


# -- the plans ----------------------------------------------------------------------------------
def rollout_steps(
    spec: CanarySpec,
    target: Target,
    previous_image: str | None,
    manifests: tuple[Obj, ...] = (),
    stable: Obj | None = None,
) -> list[Step]:
    """The canary's steps, from its spec alone (the same list in deploy and in promote);
    ``stable`` is the stable pod template (recorded), the baseline's."""
    names = spec.names
    primary = _primary_in(manifests, target.app)
    others = tuple(_narrowed(o, spec) for o in manifests if o is not primary)
    other_refs = tuple(r for r in target.objects if r != f"Deployment {target.app}")
    steps: list[Step] = [RecordStable(previous_image, plan=spec.to_dict())]
    if spec.relabel:  # before the apply, which may narrow the Service to the stable pods
        steps += [
            LabelStable(names.stable_deployment),
            WaitForRollout(names.stable_deployment, spec.timeout, spec.stable_selector),
        ]
    steps.append(Apply(other_refs, target.image, others, ""))
    steps += _start_steps(spec, target.image, previous_image, stable)
    steps.append(PrepareTraffic(spec.router, names))
    baseline_left = spec.baseline
    for stage in spec.stages:
        if stage.weight >= 100:
            steps += _promotion(spec, target.image, stage, target.environment, baseline_left)
            continue
        steps.append(_set_weight(spec, stage))
        if baseline_left and not spec.baseline_at(stage):
            steps.append(_remove_baseline(spec, BASELINE_WHY))
            baseline_left = False
        steps += _watches(spec, stage, names.canary_deployment, spec.canary_selector)
        if stage.pause:
            steps.append(Pause(f"after stage {stage.name}", target.environment))
    steps.append(Record("Succeeded"))
    return steps


def _narrowed(obj: Obj, spec: CanarySpec) -> Obj:
    """The app's Service as applied during a canary with a router that weighs requests: it
    selects the stable pods only. ``Service.spec.selector`` is an atomic map, so an apply of
    the bare rendered selector would replace the router's narrowing and send canary pods a
    share of the stable Service's traffic (after a restart from an early step, say)."""
    if spec.router == "replicas" or obj.get("kind") != "Service":
        return obj
    if obj["metadata"]["name"] != spec.names.stable_service:
        return obj
    out = copy.deepcopy(obj)
    out["spec"]["selector"] = {**out["spec"]["selector"], TRACK_LABEL: "stable"}
    return out


BASELINE_WHY = (
    f"from {BASELINE_BELOW:g}% on, a baseline with the canary's share would leave the stable "
    "version no traffic; the canary is compared with the stable set from here"
)


def _start_steps(
    spec: CanarySpec, image: str, previous_image: str | None, stable: Obj | None
) -> list[Step]:
    """Start the canary at the first stage's size, then the baseline beside it (if on)."""
    names = spec.names
    first = next((s for s in spec.stages if s.weight < 100), None)
    pods = _planned(spec, first).canary_pods if first else 1
    steps: list[Step] = [
        StartCanary(
            names.canary_deployment,
            image,
            pods,
            canary_manifest(spec.manifest, names, pods) if spec.manifest else {},
        ),
        WaitForRollout(names.canary_deployment, spec.timeout, spec.canary_selector),
        VerifyRunning(names.canary_deployment, spec.images, spec.canary_selector),
    ]
    if not spec.baseline:
        return steps
    manifest = baseline_manifest(spec.manifest, stable, names, pods) if stable else {}
    return [
        *steps,
        StartBaseline(names.baseline_deployment, previous_image or "", pods, manifest),
        WaitForRollout(names.baseline_deployment, spec.timeout, spec.baseline_selector),
        VerifyRunning(
            names.baseline_deployment,
            tuple(images_of(stable)) if stable else (),
            spec.baseline_selector,
        ),
    ]


def _planned(spec: CanarySpec, stage: Stage) -> Split:
    """The split of ``stage`` at the planned stable size (with the baseline if it runs)."""
    return router_for(spec.router).split(
        stage.weight, spec.stable_replicas, baseline=spec.baseline_at(stage)
    )


def _set_weight(spec: CanarySpec, stage: Stage) -> SetWeight:
    return SetWeight(
        spec.router,
        spec.names,
        stage.name,
        stage.weight,
        _planned(spec, stage),
        spec.timeout,
        spec.canary_selector,
        spec.baseline_selector if spec.baseline_at(stage) else "",
    )


def _remove_baseline(spec: CanarySpec, why: str = "") -> RemoveBaseline:
    return RemoveBaseline(
        spec.names.baseline_deployment, spec.baseline_selector, spec.timeout, why=why
    )


def _primary_in(manifests: tuple[Obj, ...], app: str) -> Obj | None:
    return next(
        (o for o in manifests if o.get("kind") == "Deployment" and o["metadata"]["name"] == app),
        None,
    )


def _watches(spec: CanarySpec, stage: Stage, deployment: str, selector: str) -> list[Step]:
    steps: list[Step] = []
    if stage.seconds > 0:
        steps.append(
            Watch(
                f"stage {stage.name}",
                stage.seconds,
                stage.written,
                deployment,
                selector,
                stage.criteria,
            )
        )
    if stage.monitor > 0:
        steps.append(
            Watch(
                f"stage {stage.name}",
                stage.monitor,
                stage.monitor_written,
                deployment,
                selector,
                stage.criteria,
                what="monitor",
            )
        )
    return steps


def _promotion(
    spec: CanarySpec, image: str, stage: Stage, environment: str, baseline: bool
) -> list[Step]:
    """Promote, traffic back to the stable Deployment, the canary (and ``baseline``) removed."""
    names = spec.names
    steps: list[Step] = []
    if stage.pause:
        steps.append(Pause(f"after stage {stage.name} (before promoting)", environment))
    steps += [
        PromoteStable(names.stable_deployment, image, spec.manifest),
        WaitForRollout(names.stable_deployment, spec.timeout, spec.stable_selector),
        VerifyRunning(names.stable_deployment, spec.images, spec.stable_selector),
        TrafficToStable(spec.router, names),
        RemoveCanary(names.canary_deployment, spec.canary_selector, spec.timeout),
        *([_remove_baseline(spec)] if baseline else []),
        ResetTraffic(spec.router, names),
    ]
    steps += _watches(spec, stage, names.stable_deployment, spec.stable_selector)
    return steps


def undo_steps(
    spec: CanarySpec,
    previous_image: str | None,
    previous_template: Obj | None,
    *,
    promoted: bool,
    phase: str,
    message: str = "",
) -> list[Step]:
    """Traffic back to stable, the canary (and baseline) removed; after a promotion, the
    stable restored."""
    names = spec.names
    steps: list[Step] = [
        TrafficToStable(spec.router, names),
        RemoveCanary(names.canary_deployment, spec.canary_selector, spec.timeout),
        *([_remove_baseline(spec)] if spec.baseline else []),
        ResetTraffic(spec.router, names),
    ]
    if promoted and previous_template is not None:
        images = tuple(images_of(previous_template))
        steps += [
            RestoreTemplate(names.stable_deployment, previous_image, previous_template),
            WaitForRollout(names.stable_deployment, spec.timeout, spec.stable_selector),
            VerifyRunning(names.stable_deployment, images, spec.stable_selector),
        ]
    steps.append(Record(phase, message))
    return steps


def promoted_by(steps: list[Step] | tuple[Step, ...], number: int) -> bool:
    """Whether step ``number`` (1-based) is at or after the promotion (the stable may differ)."""
    at = next((i for i, s in enumerate(steps, 1) if isinstance(s, PromoteStable)), None)
    return at is not None and number >= at


class CanaryStrategy:
    """Stages of increasing traffic on a canary Deployment, then promotion (see the module)."""

    name = "canary"

    def validate(self, target: Target) -> None:
        """Exit 2 for a configuration this strategy cannot run (before the cluster is asked)."""
        spec_for(target)

    def steps(self, target: Target, observed: Observed, previous_image: str | None) -> list[Step]:
        return list(self.plan(target, observed).steps)

    def plan(self, target: Target, observed: Observed) -> Plan:
        """The deploy's plan: a canary, or a direct rollout when there is nothing stable."""
        from ci_deploy.rollout.plan import make_rolling_plan

        template = stable_template(observed)
        stable = observed.workload("stable")
        if template is None or stable is None:
            first = replace(target, manifests=_first_manifests(target))
            note = (
                "no stable version here yet: the first deploy rolls out directly (a canary needs "
                "a stable version to run beside)"
            )
            return replace(make_rolling_plan(first, observed), notes=(note,))
        record = observed.record
        if record is not None and record.phase in ("Progressing", "Paused") and record.plan:
            if (
                record.revision == target.image
                and record.manifests_digest == target.manifests_digest
            ):
                return self._continued(target, record)
            prelude, note = _abort_first(target, record)
        else:
            prelude, note = (), ""
        labels = ((observed.live_template or {}).get("metadata") or {}).get("labels") or {}
        spec = replace(spec_for(target), relabel=labels.get(TRACK_LABEL) != "stable")
        previous = image_of(template, target.container)
        return self._plan(
            target,
            spec,
            previous,
            template_with_track(template, "stable"),
            prelude=prelude,
            notes=(note,) if note else (),
        )

    def _plan(
        self,
        target: Target,
        spec: CanarySpec,
        previous: str | None,
        template: Obj | None,
        **extra: Any,
    ) -> Plan:
        steps = tuple(rollout_steps(spec, target, previous, target.manifests, template))
        if spec.baseline:
            extra["notes"] = (*extra.get("notes", ()), baseline_note(spec))
        return Plan(
            target,
            steps,
            previous,
            template,
            deployment_exists=True,
            failure_paths=failure_paths(spec, previous, template, steps, target.environment),
            total_seconds=sum(_seconds(s) for s in steps),
            **extra,
        )

    def _continued(self, target: Target, record: StateRecord) -> Plan:
        """The same image and manifests are in flight: hold at the gate, or continue the run
        that was interrupted, from the recorded step and with the recorded parameters."""
        assert record.plan is not None
        spec = CanarySpec.from_dict(record.plan)
        previous, template = record.previous_revision, record.previous_template
        return self._plan(target, spec, previous, template, **continued(target, record))

    def resume_steps(self, record: StateRecord, observed: Observed) -> list[Step]:
        """The rollout's steps rebuilt from the record (for ``promote``: no manifests)."""
        assert record.plan is not None
        spec = CanarySpec.from_dict(record.plan)
        target = target_of(record, spec, observed)
        return rollout_steps(
            spec, target, record.previous_revision, stable=record.previous_template
        )

    def resume_plan(self, record: StateRecord, observed: Observed, target: Target) -> Plan:
        """``promote``'s plan: the recorded rollout, continued after its gate."""
        assert record.plan is not None
        steps = tuple(self.resume_steps(record, observed))
        spec = CanarySpec.from_dict(record.plan)
        paths = failure_paths(
            spec, record.previous_revision, record.previous_template, steps, target.environment
        )
        return resumed_plan(target, record, steps, paths)

    def abort_steps(self, record: StateRecord, observed: Observed) -> list[Step]:
        """All traffic to stable, the canary removed, the stable restored if it was promoted."""
        assert record.plan is not None
        spec = CanarySpec.from_dict(record.plan)
        promoted = promoted_by(self.resume_steps(record, observed), recorded_number(record))
        message = f"aborted: {record.revision} removed, {record.previous_revision} serves"
        return undo_steps(
            spec,
            record.previous_revision,
            record.previous_template,
            promoted=promoted,
            phase="Aborted",
            message=message,
        )


def failure_paths(
    spec: CanarySpec,
    previous: str | None,
    template: Obj | None,
    steps: tuple[Step, ...],
    environment: str,
) -> tuple[FailurePath, ...]:
    """What a failure does, before and after the promotion (as printed by ``plan``)."""
    before = undo_steps(spec, previous, template, promoted=False, phase="RolledBack")
    after = undo_steps(spec, previous, template, promoted=True, phase="RolledBack")
    at = next((i for i, s in enumerate(steps, 1) if isinstance(s, PromoteStable)), None)
    removed = "the canary and the baseline" if spec.baseline else "the canary"
    return (
        FailurePath(
            f"on failure before step {at} (promotion): the stable version never stopped "
            f"serving; send all traffic back to it and remove {removed} (exit 1)",
            tuple(before),
        ),
        FailurePath(
            f"on failure from step {at} on: roll the stable Deployment back to {previous} (exit 1)",
            tuple(after),
        ),
        FailurePath(
            f"abort (`ci-deploy abort --env {environment}`) while paused: the "
            "same as a failure, recorded as Aborted (exit 0)",
            (),
        ),
    )


def baseline_note(spec: CanarySpec) -> str:
    """What the plan says about the baseline: where it runs, with which share, and until when."""
    runs = [s.name for s in spec.stages if spec.baseline_at(s)]
    text = (
        f"a baseline, deployment/{spec.names.baseline_deployment} (the stable version, freshly "
        f"started, {TRACK_LABEL}=baseline), runs beside the canary at stage "
        f"{', '.join(runs)} with the canary's pod count and traffic share, for a like-for-like "
        "comparison"
    )
    if len(runs) < len([s for s in spec.stages if s.weight < 100]):
        text += (
            f"; it is removed at the first stage of {BASELINE_BELOW:g}% or more (the two would "
            "leave the stable version no traffic)"
        )
    return text


def _abort_first(target: Target, record: StateRecord) -> tuple[tuple[Step, ...], str]:
    """The steps that abort a canary still in flight, before a new one starts."""
    assert record.plan is not None
    old = CanarySpec.from_dict(record.plan)
    promoted = promoted_by(rollout_steps(old, target, None), recorded_number(record))
    steps = undo_steps(
        old, record.previous_revision, record.previous_template, promoted=promoted, phase="Aborted"
    )[:-1]
    note = (
        f"the canary of {record.revision} is still {record.phase.lower()} here: it is aborted "
        f"first (all traffic back to stable, the canary{' and baseline' if old.baseline else ''} "
        "removed)"
    )
    return tuple(steps), note


def target_of(record: StateRecord, spec: CanarySpec, observed: Observed) -> Target:
    """A Target for the recorded rollout (no manifests: only what the later steps use)."""
    return recorded_target(
        record,
        timeout=spec.timeout,
        images=spec.images,
        replicas=spec.stable_replicas,
        time_scale=spec.time_scale,
    )


def _first_manifests(target: Target) -> tuple[Obj, ...]:
    """The rendered objects with the app's pods on the stable track (a first deploy)."""
    return tuple(
        with_track(o, "stable")
        if o.get("kind") == "Deployment" and o["metadata"]["name"] == target.app
        else o
        for o in target.manifests
    )


def _seconds(step: Step) -> float:
    return step.seconds if isinstance(step, Watch) else 0.0
