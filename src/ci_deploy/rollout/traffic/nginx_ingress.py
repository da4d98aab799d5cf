"""The ``nginx-ingress`` router: a canary Ingress with ingress-nginx's ``canary-weight``.

ingress-nginx is being retired upstream (announced by Kubernetes SIG Network in November 2025,
best-effort maintenance until March 2026): Gateway API (the ``gateway-api`` router) is the
recommended router; this one serves clusters that still run ingress-nginx.

ingress-nginx splits by a second Ingress marked ``nginx.ingress.kubernetes.io/canary: "true"``
for the same host and path as the main one: ``canary-weight`` of ``canary-weight-total``
(default 100) random requests go to its backend. So ``prepare`` makes the canary Service and
narrows the app's Service (``services``), then applies ``<ingress>-canary`` with only the paths
whose backend is the app's Service, rewritten to the canary Service (a path to another Service
is left out: a canary Ingress for it would split that Service's traffic), at weight 0.
``set_weight`` patches the two weight annotations with the ``Split``'s exact share
(``integer_weights``: 5 of 100, 167 of 1000); a whole percent keeps the total at 100, which a
controller that predates ``canary-weight-total`` reads the same. ``reset`` deletes the canary
Ingresses, then the Services' changes.

No baseline: ingress-nginx takes one canary Ingress per host and path (a second one is ignored),
so a baseline could not get a weighted share of its own here (``baseline_unsupported``).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from ci_deploy.kube.client import Obj
from ci_deploy.kube.errors import ApiError
from ci_deploy.rollout.session import StepFailed
from ci_deploy.rollout.traffic import (
    TRACK_LABEL,
    Split,
    TrafficNames,
    integer_weights,
    weighted_split,
)
from ci_deploy.rollout.traffic.services import (
    delete_if_present,
    missing,
    object_path,
    prepare_services,
    reset_services,
    router_apply,
    router_patch,
)

if TYPE_CHECKING:
    from ci_deploy.rollout.session import RolloutContext

INGRESS_API = "networking.k8s.io/v1"
CANARY = "nginx.ingress.kubernetes.io/canary"
CANARY_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"
CANARY_WEIGHT_TOTAL = "nginx.ingress.kubernetes.io/canary-weight-total"
CLASS_ANNOTATION = "kubernetes.io/ingress.class"  # the class before ingressClassName: kept


def canary_ingress_name(ingress: str) -> str:
    """``web-app`` → ``web-app-canary``."""
    return f"{ingress}-canary"


def canary_ingress(source: Obj, names: TrafficNames, weight: tuple[str, str]) -> Obj | None:
    """The canary Ingress for ``source`` at ``weight`` (canary-weight, total); None when no
    path of ``source`` has the stable Service as its backend (pure)."""
    spec = source.get("spec") or {}
    rules = []
    for rule in spec.get("rules") or []:
        paths = [
            _to_canary(path, names)
            for path in (rule.get("http") or {}).get("paths") or []
            if ((path.get("backend") or {}).get("service") or {}).get("name")
            == names.stable_service
        ]
        if paths:
            rules.append({**copy.deepcopy(rule), "http": {"paths": paths}})
    if not rules:
        return None
    meta = source["metadata"]
    annotations = {CANARY: "true", CANARY_WEIGHT: weight[0], CANARY_WEIGHT_TOTAL: weight[1]}
    if CLASS_ANNOTATION in (meta.get("annotations") or {}):
        annotations[CLASS_ANNOTATION] = meta["annotations"][CLASS_ANNOTATION]
    canary_spec: Obj = {"rules": rules}
    for key in ("ingressClassName", "tls"):
        if key in spec:
            canary_spec[key] = copy.deepcopy(spec[key])
    return {
        "apiVersion": INGRESS_API,
        "kind": "Ingress",
        "metadata": {
            "name": canary_ingress_name(meta["name"]),
            "namespace": meta["namespace"],
            "labels": {**(meta.get("labels") or {}), TRACK_LABEL: "canary"},
            "annotations": annotations,
        },
        "spec": canary_spec,
    }


def _to_canary(path: Obj, names: TrafficNames) -> Obj:
    service = {**copy.deepcopy(path["backend"]["service"]), "name": names.canary_service}
    return {**copy.deepcopy(path), "backend": {"service": service}}


def weight_annotations(split: Split) -> tuple[str, str]:
    """(canary-weight, canary-weight-total) for the ``Split``'s exact share."""
    canary, total = integer_weights(split.actual)
    return str(canary), str(total)


class NginxIngressRouter:
    """Requests weighed by ingress-nginx between the main and a canary Ingress."""

    name = "nginx-ingress"
    weighs_requests = True
    baseline_unsupported = (
        "ingress-nginx takes only one canary Ingress per host and path, so a baseline cannot "
        "get a weighted share of its own next to the canary"
    )

    def split(self, weight: float, stable_pods: int, baseline: bool = False) -> Split:
        """Exactly ``weight`` percent; canary pods sized for that share."""
        if baseline:
            raise ValueError(self.baseline_unsupported)
        return weighted_split(weight, stable_pods)

    def describe(self, names: TrafficNames) -> str:
        canaries = ", ".join(canary_ingress_name(i) for i in names.ingresses)
        return (
            f"nginx-ingress: canary-weight on Ingress {canaries} (to Service "
            f"{names.canary_service}) next to {', '.join(names.ingresses)} (to Service "
            f"{names.stable_service}, stable pods)"
        )

    def prepare(self, ctx: RolloutContext, names: TrafficNames) -> None:
        """Canary Service, stable Service narrowed, canary Ingresses at weight 0 (idempotent:
        a canary Ingress already there keeps its weight)."""
        canaries = [self._canary_for(ctx, names, ingress) for ingress in names.ingresses]
        prepare_services(ctx, names)
        for canary in canaries:
            router_apply(ctx.client, canary)

    def set_weight(self, ctx: RolloutContext, names: TrafficNames, split: Split) -> None:
        weight, total = weight_annotations(split)
        patch = {"metadata": {"annotations": {CANARY_WEIGHT: weight, CANARY_WEIGHT_TOTAL: total}}}
        for ingress in names.ingresses:
            canary = canary_ingress_name(ingress)
            try:
                router_patch(ctx.client, self._path(ctx, canary), patch)
            except ApiError as exc:
                if exc.status != 404:
                    raise
                raise missing(
                    ctx,
                    f"canary Ingress {canary} (traffic router nginx-ingress)",
                    "the canary's weight is set on it and prepare makes it; run the canary "
                    "again from its start (or abort it)",
                ) from exc
            ctx.progress.line(
                f"traffic: Ingress {canary}: canary-weight {weight} of {total} to Service "
                f"{names.canary_service} ({split.describe()})"
            )

    def reset(self, ctx: RolloutContext, names: TrafficNames) -> None:
        """Canary Ingresses deleted first (traffic to stable), then the Services."""
        for ingress in names.ingresses:
            delete_if_present(ctx.client, self._path(ctx, canary_ingress_name(ingress)))
        reset_services(ctx, names)

    def _path(self, ctx: RolloutContext, name: str) -> str:
        return object_path(ctx, INGRESS_API, "Ingress", name)

    def _canary_for(self, ctx: RolloutContext, names: TrafficNames, ingress: str) -> Obj:
        source = ctx.client.get_or_none(self._path(ctx, ingress))
        if source is None:
            raise missing(
                ctx,
                f"Ingress {ingress} (traffic router nginx-ingress)",
                "the canary Ingress copies its hosts and paths; apply the app's manifests with "
                "manifests.ingress configured, or use canary.traffic_router: replicas",
            )
        existing = ctx.client.get_or_none(self._path(ctx, canary_ingress_name(ingress)))
        kept = (existing or {}).get("metadata", {}).get("annotations") or {}
        weight = (kept.get(CANARY_WEIGHT, "0"), kept.get(CANARY_WEIGHT_TOTAL, "100"))
        canary = canary_ingress(source, names, weight)
        if canary is None:
            raise StepFailed(
                "failed",
                f"Ingress {ingress} in namespace {ctx.namespace} has no path with Service "
                f"{names.stable_service} as its backend: the canary cannot take a share of it; "
                "point a path at the app's Service or remove the Ingress from the canary",
            )
        return canary


ROUTER = NginxIngressRouter()
