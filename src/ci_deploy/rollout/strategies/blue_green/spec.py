"""A blue-green rollout's parameters (``BlueGreenSpec``, kept in ``record.plan``), the
colours' names, and the Deployments and Services made from the rendered objects. Pure."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from ci_deploy.analysis.spec import AnalysisSpec
from ci_deploy.config.model import BlueGreenConfig
from ci_deploy.errors import UserInputError
from ci_deploy.kube.state import STATE_ANNOTATION
from ci_deploy.rollout.labels import COLOR_LABEL
from ci_deploy.rollout.plan import (
    Target,
    check_recorded,
    primary_manifest,
)
from ci_deploy.rollout.traffic.services import (
    service_for_pods,
)

Obj = dict[str, Any]

BLUE, GREEN = "blue", "green"
GREEN_SUFFIX = "-green"
PREVIEW_SUFFIX = "-preview"
PLAN_VERSION = 1
POLL = 0.2  # seconds between looks at endpoints, budgets and pods going


def other(color: str) -> str:
    """The other colour."""
    return GREEN if color == BLUE else BLUE


def deployment_of(app: str, color: str) -> str:
    """The Deployment of ``color``: blue is the app-named one (it holds the record)."""
    return app if color == BLUE else f"{app}{GREEN_SUFFIX}"


def labels_text(labels: dict[str, str]) -> str:
    """A label selector string of ``labels``."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


# -- what a blue-green rollout is, as recorded ---------------------------------------------------
@dataclass(frozen=True)
class BlueGreenSpec:
    """A blue-green rollout's parameters: made from the target, kept in ``record.plan``."""

    app: str
    active: str  # the colour serving when the rollout starts: where every undo sends traffic
    new: str  # the colour this rollout deploys
    service: str  # the app's Service (its selector is the switch)
    selector: tuple[tuple[str, str], ...]  # the Service's selector as rendered
    pod_labels: tuple[tuple[str, str], ...]  # the rendered Deployment's matchLabels
    images: tuple[tuple[str, str], ...]  # (container, image) of the new version
    previous_images: tuple[tuple[str, str], ...]  # of the serving version
    timeout: float
    replicas: int  # of the new colour (and what the serving one is brought back to)
    keep_seconds: float  # scale_down_delay, divided by the time scale
    keep_written: str  # scale_down_delay as configured
    auto_promote: bool = True
    time_scale: float = 1.0
    relabel: bool = False  # the serving pods carry no colour yet: labelled blue first
    autoscaler: str = ""  # an HPA of the app, pointed at the serving colour
    analysis: AnalysisSpec | None = field(default=None, compare=False)  # the smoke checks
    # the app's other workloads (waited for after the apply) and its post-deploy hook Jobs
    # (run before pruning): recorded, so that promote's steps are the deploy's
    workloads: tuple[str, ...] = ()
    post_hooks: tuple[Obj, ...] = field(default=(), compare=False)

    @property
    def preview_service(self) -> str:
        return f"{self.service}{PREVIEW_SUFFIX}"

    def deployment(self, color: str) -> str:
        return deployment_of(self.app, color)

    def pods(self, color: str) -> str:
        """The label selector of ``color``'s pods."""
        return labels_text({**dict(self.pod_labels), COLOR_LABEL: color})

    def to_dict(self) -> Obj:
        return {
            "version": PLAN_VERSION,
            "strategy": "blue_green",
            "app": self.app,
            "active": self.active,
            "new": self.new,
            "service": self.service,
            "selector": dict(self.selector),
            "podLabels": dict(self.pod_labels),
            "images": [list(pair) for pair in self.images],
            "previousImages": [list(pair) for pair in self.previous_images],
            "timeout": self.timeout,
            "replicas": self.replicas,
            "keepSeconds": self.keep_seconds,
            "keepWritten": self.keep_written,
            "autoPromote": self.auto_promote,
            "timeScale": self.time_scale,
            "relabel": self.relabel,
            "autoscaler": self.autoscaler,
            "analysis": self.analysis.to_dict() if self.analysis is not None else None,
            "workloads": list(self.workloads),
            "postHooks": list(self.post_hooks),
        }

    @classmethod
    def from_dict(cls, doc: Obj) -> BlueGreenSpec:
        check_recorded(doc, "blue_green", PLAN_VERSION)
        return cls(
            app=str(doc["app"]),
            active=str(doc["active"]),
            new=str(doc["new"]),
            service=str(doc["service"]),
            selector=tuple(sorted((str(k), str(v)) for k, v in doc["selector"].items())),
            pod_labels=tuple(sorted((str(k), str(v)) for k, v in doc["podLabels"].items())),
            images=tuple((str(c), str(i)) for c, i in doc["images"]),
            previous_images=tuple((str(c), str(i)) for c, i in doc["previousImages"]),
            timeout=float(doc["timeout"]),
            replicas=int(doc["replicas"]),
            keep_seconds=float(doc["keepSeconds"]),
            keep_written=str(doc.get("keepWritten", "")),
            auto_promote=bool(doc.get("autoPromote", True)),
            time_scale=float(doc.get("timeScale", 1.0)),
            relabel=bool(doc.get("relabel", False)),
            autoscaler=str(doc.get("autoscaler", "")),
            analysis=AnalysisSpec.from_dict(doc["analysis"]) if doc.get("analysis") else None,
            workloads=tuple(str(w) for w in doc.get("workloads") or ()),
            post_hooks=tuple(dict(h) for h in doc.get("postHooks") or ()),
        )


# -- from the rendered objects ------------------------------------------------------------------
def settings_of(target: Target) -> BlueGreenConfig:
    """The ``blue_green:`` block (its defaults when the block is empty)."""
    return target.settings if isinstance(target.settings, BlueGreenConfig) else BlueGreenConfig()


def color_manifest(rendered: Obj, app: str, color: str, replicas: int | None) -> Obj:
    """The rendered Deployment as ``color``'s: renamed for green, its pods and itself labelled.

    Blue keeps the rendered pod selector (the app-named Deployment's selector is immutable and
    may predate the colours); green's selects its colour too.
    """
    out = copy.deepcopy(rendered)
    meta = out.setdefault("metadata", {})
    meta["name"] = deployment_of(app, color)
    meta["labels"] = {**(meta.get("labels") or {}), COLOR_LABEL: color}
    annotations = dict(meta.get("annotations") or {})
    annotations.pop(STATE_ANNOTATION, None)
    meta.pop("annotations", None)
    if annotations:
        meta["annotations"] = annotations
    spec = out.setdefault("spec", {})
    template_meta = spec.setdefault("template", {}).setdefault("metadata", {})
    template_meta["labels"] = {**(template_meta.get("labels") or {}), COLOR_LABEL: color}
    if color == GREEN:
        spec.setdefault("selector", {}).setdefault("matchLabels", {})[COLOR_LABEL] = color
    if replicas is not None:
        spec["replicas"] = replicas
    return out


def routed_objects(target: Target, service: str, color: str | None) -> tuple[Obj, ...]:
    """The rendered objects other than the app's Deployment, the Service selecting ``color``
    (None: as rendered) and an HPA of the app scaling ``color``'s Deployment."""
    out = []
    for obj in target.manifests:
        kind, name = obj.get("kind"), (obj.get("metadata") or {}).get("name")
        if kind == "Deployment" and name == target.deployment:
            continue
        if color is not None and kind == "Service" and name == service:
            obj = copy.deepcopy(obj)
            obj["spec"]["selector"] = {**obj["spec"]["selector"], COLOR_LABEL: color}
        elif color is not None and scales_app(obj, target.deployment):
            obj = copy.deepcopy(obj)
            obj["spec"]["scaleTargetRef"]["name"] = deployment_of(target.deployment, color)
        out.append(obj)
    return tuple(out)


def scales_app(obj: Obj, app: str) -> bool:
    ref = (obj.get("spec") or {}).get("scaleTargetRef") or {}
    return (
        obj.get("kind") == "HorizontalPodAutoscaler"
        and ref.get("kind") == "Deployment"
        and ref.get("name") == app
    )


def app_service(target: Target) -> Obj:
    """The rendered Service in front of the app's pods (exit 2 when there is none)."""
    service = service_for_pods(target.manifests, primary_manifest(target))
    if service is None:
        raise UserInputError(
            f"strategy blue_green switches traffic with the selector of the Service in front of "
            f"deployment/{target.deployment}; none of the rendered objects selects its pods",
            hint="the built-in templates render one; add one to your templates",
        )
    return service
