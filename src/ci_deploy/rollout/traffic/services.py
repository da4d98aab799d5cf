"""What the routers that weigh requests share: a canary Service, the stable one narrowed.

A gateway (``gateway-api``) or ingress-nginx (``nginx-ingress``) sends a weighed share of the
requests to a Service, so the canary needs a Service of its own (``<app>-canary``, selecting the
canary's pods) and the app's Service must stop selecting them: else the stable share would
carry canary requests too. The narrowing is one selector key, ``TRACK_LABEL: stable``, added by
a JSON merge patch under ``ROUTER_FIELD_MANAGER`` and removed (``null``) by ``reset``. A
baseline gets a Service of its own the same way (``<service>-baseline``, its pods only).

``Service.spec.selector`` is an atomic map (``x-kubernetes-map-type: atomic``; the sandbox
behaves so too), so a forced server-side apply of the bare rendered Service while a canary runs
would replace the whole selector and drop the narrowing; the separate field manager does not
protect it. The canary strategy therefore applies the app's Service already narrowed
(``strategies/canary/``, ``_narrowed``), and nothing else applies it during a canary.

How a router writes lives here too, so both routers write alike: merge patches under
``ROUTER_FIELD_MANAGER`` (with the resourceVersion read when they rewrite a list), server-side
apply under the same manager, deletes for which 404 means done.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ci_deploy.kube.apply import ApplyError, apply_object
from ci_deploy.kube.client import MERGE_PATCH, POD, KubeClient, Obj
from ci_deploy.kube.errors import ApiError
from ci_deploy.rollout.session import StepFailed
from ci_deploy.rollout.traffic import ROUTER_FIELD_MANAGER, TRACK_LABEL, TrafficNames

if TYPE_CHECKING:
    from ci_deploy.rollout.session import RolloutContext

CONFLICT_ATTEMPTS = 5  # re-reads when someone else wrote the object between our read and write


def object_path(ctx: RolloutContext, api_version: str, kind: str, name: str) -> str:
    """The REST path of ``kind`` ``name`` in the rollout's namespace."""
    return ctx.client.resolve_kind(api_version, kind).path(ctx.namespace, name)


def service_path(ctx: RolloutContext, name: str) -> str:
    """The REST path of Service ``name`` in the rollout's namespace."""
    return object_path(ctx, "v1", "Service", name)


def missing(ctx: RolloutContext, what: str, todo: str) -> StepFailed:
    """The failure for an object a router needs and the cluster lacks: what, where, what to do."""
    return StepFailed("failed", f"{what} not found in namespace {ctx.namespace}: {todo}")


def require(ctx: RolloutContext, path: str, what: str, todo: str) -> Obj:
    """The object at ``path``; the ``missing`` failure if the cluster has none."""
    found = ctx.client.get_or_none(path)
    if found is None:
        raise missing(ctx, what, todo)
    return found


def router_patch(client: KubeClient, path: str, patch: Obj) -> Obj:
    """One JSON merge patch under ``ROUTER_FIELD_MANAGER``."""
    query = [("fieldManager", ROUTER_FIELD_MANAGER)]
    return client.request("PATCH", path, query=query, body=patch, content_type=MERGE_PATCH)


def patch_read_object(
    client: KubeClient, path: str, edit: Callable[[Obj], Obj | None]
) -> Obj | None:
    """Read the object, merge-patch what ``edit`` makes of it, at the resourceVersion read.

    ``edit`` returns the patch (None: nothing to change). A 409 means the object moved since
    the read: read and edit again, a few times. None when the object does not exist.
    """
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        current = client.get_or_none(path)
        if current is None:
            return None
        patch = edit(current)
        if patch is None:
            return current
        meta = {**(patch.get("metadata") or {})}
        meta["resourceVersion"] = current["metadata"]["resourceVersion"]
        try:
            return router_patch(client, path, {**patch, "metadata": meta})
        except ApiError as exc:
            if exc.status == 404:
                return None
            if not (exc.is_conflict and attempt < CONFLICT_ATTEMPTS):
                raise
    raise AssertionError("unreachable")


def router_apply(client: KubeClient, obj: Obj) -> Obj:
    """Server-side apply under ``ROUTER_FIELD_MANAGER``; a refusal is the API's own error."""
    try:
        return apply_object(client, obj, field_manager=ROUTER_FIELD_MANAGER)
    except ApplyError as exc:
        raise exc.error from exc  # the executor tells forbidden from other API failures


def delete_if_present(client: KubeClient, path: str, propagation: str = "Background") -> None:
    """Delete the object at ``path``; one already gone is fine."""
    try:
        client.request("DELETE", path, body={"propagationPolicy": propagation})
    except ApiError as exc:
        if exc.status != 404:
            raise


def service_for_pods(manifests: tuple[Obj, ...], deployment: Obj) -> Obj | None:
    """The first rendered Service whose selector matches the pods of ``deployment``."""
    template = (deployment.get("spec") or {}).get("template") or {}
    pod_labels = (template.get("metadata") or {}).get("labels") or {}
    return next(
        (
            o
            for o in manifests
            if o.get("kind") == "Service"
            and (o.get("spec") or {}).get("selector")
            and all(pod_labels.get(k) == v for k, v in o["spec"]["selector"].items())
        ),
        None,
    )


def service_beside(main: Obj, name: str, selector: dict[str, str], labels: dict[str, str]) -> Obj:
    """A ClusterIP Service with ``main``'s ports, named ``name``, selecting ``selector`` (pure).

    Its labels are ``main``'s plus ``labels``. Fields the API server allocates (clusterIP,
    clusterIPs, nodePort) are not copied: the new Service gets its own.
    """
    meta = main.get("metadata") or {}
    ports = [{k: v for k, v in p.items() if k != "nodePort"} for p in main["spec"]["ports"]]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": {**(meta.get("labels") or {}), **labels},
        },
        "spec": {"type": "ClusterIP", "selector": selector, "ports": ports},
    }


def track_service(stable: Obj, names: TrafficNames, track: str) -> Obj:
    """The Service of the ``canary`` or ``baseline`` pods: the stable Service's ports,
    selecting that track's pods (pure)."""
    return service_beside(
        stable,
        _service_of(names, track),
        {**dict(names.selector), TRACK_LABEL: track},
        {TRACK_LABEL: track},
    )


def canary_service(stable: Obj, names: TrafficNames) -> Obj:
    """The canary's Service (``track_service`` of the canary track)."""
    return track_service(stable, names, "canary")


def _service_of(names: TrafficNames, track: str) -> str:
    return names.baseline_service if track == "baseline" else names.canary_service


def _tracks(names: TrafficNames) -> tuple[str, ...]:
    """The tracks that get a Service of their own: the canary, and the baseline if any."""
    return ("canary", "baseline") if names.baseline_service else ("canary",)


def prepare_services(ctx: RolloutContext, names: TrafficNames) -> None:
    """Apply the canary (and baseline) Service, then narrow the stable Service to the stable
    pods (idempotent)."""
    stable_path = service_path(ctx, names.stable_service)
    stable = require(
        ctx,
        stable_path,
        f"Service {names.stable_service}",
        "the canary splits traffic away from the app's Service; apply the app's manifests "
        "(a deploy with the rolling strategy) before a canary",
    )
    _refuse_unlabelled_pods(ctx, names)
    for track in _tracks(names):
        router_apply(ctx.client, track_service(stable, names, track))
    if (stable["spec"].get("selector") or {}).get(TRACK_LABEL) != "stable":
        router_patch(ctx.client, stable_path, {"spec": {"selector": {TRACK_LABEL: "stable"}}})


def reset_services(ctx: RolloutContext, names: TrafficNames) -> None:
    """Widen the stable Service to the app's pods again and delete the canary (and baseline)
    Service.

    Once widened, the stable Service selects every pod of the app again: the canary's and
    the baseline's pods should be gone before this runs, or they get a pod-ratio share.
    """
    stable_path = service_path(ctx, names.stable_service)
    stable = ctx.client.get_or_none(stable_path)
    if stable is not None and TRACK_LABEL in (stable["spec"].get("selector") or {}):
        router_patch(ctx.client, stable_path, {"spec": {"selector": {TRACK_LABEL: None}}})
    for track in _tracks(names):
        delete_if_present(ctx.client, service_path(ctx, _service_of(names, track)))


def _refuse_unlabelled_pods(ctx: RolloutContext, names: TrafficNames) -> None:
    """StepFailed when narrowing would take running app pods without a track out of service."""
    selector = ",".join(f"{key}={value}" for key, value in names.selector)
    pods = ctx.client.get(POD.path(ctx.namespace), query=[("labelSelector", selector)])
    unlabelled = sorted(
        str(pod["metadata"]["name"])
        for pod in pods.get("items") or []
        if TRACK_LABEL not in (pod["metadata"].get("labels") or {})
        and not pod["metadata"].get("deletionTimestamp")
    )
    if unlabelled:
        shown = ", ".join(unlabelled[:3]) + (", …" if len(unlabelled) > 3 else "")
        raise StepFailed(
            "failed",
            f"narrowing Service {names.stable_service} to {TRACK_LABEL}=stable would take "
            f"{len(unlabelled)} pod(s) without that label out of it ({shown}) in namespace "
            f"{ctx.namespace}: label the stable Deployment's pod template "
            f"{TRACK_LABEL}: stable (a rolling update) before a canary with a weighing router",
        )
