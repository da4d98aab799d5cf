"""A canary rollout's parameters (``CanarySpec``, kept in ``record.plan``), and the Deployments
and names made from the rendered objects. Pure: no I/O."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from ci_deploy.analysis.spec import AnalysisSpec
from ci_deploy.config.model import CanaryConfig
from ci_deploy.config.values import Duration
from ci_deploy.errors import UserInputError
from ci_deploy.kube.state import STATE_ANNOTATION
from ci_deploy.rollout.hooks import POST_DEPLOY, hooks_of
from ci_deploy.rollout.plan import (
    Target,
    check_recorded,
    primary_manifest,
)
from ci_deploy.rollout.traffic import (
    BASELINE_BELOW,
    TRACK_LABEL,
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
    analysis: AnalysisSpec | None = field(default=None, compare=False)  # metric rules
    # the app's other workloads (waited for after the apply) and its post-deploy hook Jobs
    # (run before pruning): recorded, so that promote's steps are the deploy's
    workloads: tuple[str, ...] = ()
    post_hooks: tuple[Obj, ...] = field(default=(), compare=False)

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
            "analysis": self.analysis.to_dict() if self.analysis is not None else None,
            "workloads": list(self.workloads),
            "postHooks": list(self.post_hooks),
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
            analysis=AnalysisSpec.from_dict(doc["analysis"]) if doc.get("analysis") else None,
            workloads=tuple(str(w) for w in doc.get("workloads") or ()),
            post_hooks=tuple(dict(h) for h in doc.get("postHooks") or ()),
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
            "strategy canary needs a Service that selects the pods of "
            f"deployment/{target.deployment}; none of the rendered objects does",
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
        stable_deployment=target.deployment,
        canary_deployment=f"{target.deployment}{CANARY_SUFFIX}",
        stable_service=name,
        canary_service=f"{name}{CANARY_SUFFIX}",
        selector=selector,
        http_routes=routes,
        ingresses=ingresses,
        baseline_deployment=f"{target.deployment}{BASELINE_SUFFIX}" if baseline else "",
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
        analysis=target.analysis,
        workloads=target.workloads,
        post_hooks=hooks_of(target.hooks, POST_DEPLOY),
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
