"""The PATCH verb (all four patch types) and the ``scale`` subresource.

Content types: ``application/json-patch+json``, ``application/merge-patch+json``,
``application/strategic-merge-patch+json`` (not for kinds without a schema, as upstream for
CRDs: 415) and ``application/apply-patch+yaml`` (server-side apply, ``apply.py``).
A patch carrying ``metadata.resourceVersion`` is a precondition (409 when stale).
"""

from __future__ import annotations

import copy
from typing import Any

from kube_sandbox.objects import crd, resources, schema
from kube_sandbox.objects import patch as patches
from kube_sandbox.objects.selectors import selector_string
from kube_sandbox.protocol.messages import Response
from kube_sandbox.storage.store import StoreError
from kube_sandbox.verbs.apply import server_side_apply
from kube_sandbox.verbs.bodies import decode_body, field_validation
from kube_sandbox.verbs.context import Ctx, check_precondition, load
from kube_sandbox.verbs.write import persist

Obj = dict[str, Any]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC, APPLY)


def content_type(ctx: Ctx) -> str:
    """The patch type (415 UnsupportedMediaType when not one of the four)."""
    ctype = ctx.req.header("Content-Type").split(";")[0].strip()
    if ctype not in _TYPES:
        raise StoreError(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: "
            + ", ".join(_TYPES),
        )
    return ctype


def apply_patch(ctx: Ctx, ctype: str, target: Obj, body: Any, kind_schema: Any) -> Obj:
    """``target`` with a JSON, merge or strategic merge patch applied."""
    if ctype == JSON_PATCH:
        result = patches.json_patch(target, body)
    elif ctype == MERGE_PATCH:
        result = patches.merge_patch(target, body)
    else:
        if kind_schema is None:
            raise StoreError(
                415,
                "UnsupportedMediaType",
                f"strategic merge patch is not supported for {ctx.rt.kind} ({ctx.rt.api_version})",
            )
        result = patches.strategic_merge(target, body, kind_schema)
    if not isinstance(result, dict):
        raise StoreError(422, "Invalid", "the patch result is not an object")
    return result


def patch(ctx: Ctx) -> Response:
    """PATCH an object or its status / scale subresource."""
    ctype = content_type(ctx)
    body = decode_body(ctx.req)
    if ctype == APPLY:
        return server_side_apply(ctx, body)
    rt = ctx.rt
    with ctx.store.lock:
        current = load(ctx)
        if ctx.sub == "scale":
            patched_scale = apply_patch(
                ctx,
                ctype,
                scale_of(current, _scale_paths(ctx)),
                body,
                schema.for_kind("autoscaling", "v1", "Scale"),
            )
            return write_scale(ctx, patched_scale)
        kind_schema = schema.for_kind(rt.group, rt.version, rt.kind)
        new = apply_patch(ctx, ctype, copy.deepcopy(current), body, kind_schema)
        if isinstance(body, dict):
            check_precondition(ctx, current, body)
        elif new["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            check_precondition(ctx, current, new)
        new.setdefault("metadata", {})["name"] = ctx.name
        field_validation(ctx, new)
        updated = persist(ctx, current, new)
    return ctx.respond(200, updated)


def scale_of(obj: Obj, paths: Obj | None = None) -> Obj:
    """The ``autoscaling/v1`` Scale of a Deployment or ReplicaSet (or a custom object, whose
    CRD's ``subresources.scale`` gives the ``paths``)."""
    meta = obj["metadata"]
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if paths is not None:
        scale_status: Obj = {
            "replicas": int(crd.read_path(obj, paths.get("statusReplicasPath", "")) or 0)
        }
        selector = crd.read_path(obj, paths.get("labelSelectorPath") or "")
        if isinstance(selector, str):
            scale_status["selector"] = selector
        spec = {"replicas": crd.read_path(obj, paths.get("specReplicasPath", "")) or 0}
        status = {}
    else:
        scale_status = {
            "replicas": int(status.get("replicas", 0)),
            "selector": selector_string(spec.get("selector")),
        }
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta.get("namespace", ""),
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": int(spec.get("replicas", 0))},
        "status": scale_status,
    }


def _scale_paths(ctx: Ctx) -> Obj | None:
    custom = resources.custom(ctx.rt, ctx.store)
    return custom.scale if custom is not None and custom.scale is not None else None


def write_scale(ctx: Ctx, scale: Any) -> Response:
    """Set ``spec.replicas`` from a Scale (PUT or patched); answers with the new Scale."""
    if not isinstance(scale, dict):
        raise StoreError(400, "BadRequest", "the request body must be a Scale object")
    replicas = (scale.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or replicas < 0:
        raise StoreError(
            422,
            "Invalid",
            f'Scale.autoscaling "{ctx.name}" is invalid: spec.replicas: Invalid value: '
            f"{replicas!r}: must be greater than or equal to 0",
        )
    with ctx.store.lock:
        current = load(ctx)
        check_precondition(ctx, current, scale)
        new = copy.deepcopy(current)
        paths = _scale_paths(ctx)
        if paths is not None:
            crd.write_path(new, paths.get("specReplicasPath", ".spec.replicas"), replicas)
        else:
            new.setdefault("spec", {})["replicas"] = replicas
        updated = persist(ctx, current, new)
    return ctx.respond(200, scale_of(updated, paths))
