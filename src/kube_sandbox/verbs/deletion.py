"""DELETE of one object or a collection: preconditions, propagation policy, finalizers.

- ``Background`` (the default): the object goes at once; the garbage collector (``gc.py``)
  then deletes objects whose ownerReferences point only at deleted owners.
- ``Foreground``: the object gets a deletionTimestamp and the ``foregroundDeletion``
  finalizer; the collector deletes its dependents first, then the object.
- ``Orphan``: dependents lose their ownerReference to the object, then it goes.
An object with finalizers only gets a deletionTimestamp; it goes when its finalizers are
removed. Namespaces are emptied by the collector before they go.
"""

from __future__ import annotations

import json
from typing import Any

from kube_sandbox.objects import gc, resources
from kube_sandbox.protocol.messages import Response
from kube_sandbox.storage.store import StoreError, now_iso
from kube_sandbox.verbs.context import Ctx, load, predicate_for

Obj = dict[str, Any]
_POLICIES = ("Foreground", "Background", "Orphan")


def options(ctx: Ctx) -> Obj:
    """DeleteOptions from the body, completed by query parameters."""
    opts: Obj = {}
    if ctx.req.body:
        try:
            body = json.loads(ctx.req.body)
        except ValueError as exc:
            raise StoreError(400, "BadRequest", f"invalid DeleteOptions: {exc}") from exc
        if isinstance(body, dict):
            opts = body
    query = ctx.req.query
    if "propagationPolicy" in query:
        opts["propagationPolicy"] = query["propagationPolicy"]
    if query.get("dryRun") == "All":
        opts["dryRun"] = ["All"]
    policy = opts.get("propagationPolicy")
    if policy is None and opts.get("orphanDependents") is True:
        policy = "Orphan"
    policy = policy or "Background"
    if policy not in _POLICIES:
        raise StoreError(
            400, "BadRequest", f"propagationPolicy must be one of {', '.join(_POLICIES)}"
        )
    opts["propagationPolicy"] = policy
    return opts


def _check_preconditions(ctx: Ctx, obj: Obj, opts: Obj) -> None:
    pre = opts.get("preconditions") or {}
    meta = obj["metadata"]
    for field, actual in (
        ("uid", meta.get("uid")),
        ("resourceVersion", meta.get("resourceVersion")),
    ):
        wanted = pre.get(field)
        if wanted and wanted != actual:
            raise StoreError(
                409,
                "Conflict",
                f"Precondition failed: {'UID' if field == 'uid' else field} in precondition: "
                f"{wanted}, {field} in object meta: {actual}",
            )


def delete(ctx: Ctx) -> Response:
    """DELETE one object; 200 with a Success Status, or the object while deletion is pending."""

    opts = options(ctx)
    with ctx.store.lock:
        obj = load(ctx)
        _check_preconditions(ctx, obj, opts)
        result = delete_object(ctx, obj, opts)
    return ctx.respond(200, result)


def delete_object(ctx: Ctx, obj: Obj, opts: Obj) -> Obj:
    """Delete (or start deleting) ``obj``; returns the response body."""
    rt = ctx.rt
    meta = obj["metadata"]
    policy = opts["propagationPolicy"]
    if "All" in (opts.get("dryRun") or []):
        return obj
    finalizers = list(meta.get("finalizers") or [])
    if policy == "Foreground" and "foregroundDeletion" not in finalizers:
        finalizers.append("foregroundDeletion")
    if rt.kind == "Namespace":
        obj.setdefault("status", {})["phase"] = "Terminating"
    if policy == "Orphan":
        gc.orphan_dependents(ctx.store, meta["uid"])
    if finalizers or rt.kind == "Namespace":
        if not meta.get("deletionTimestamp"):
            meta["deletionTimestamp"] = now_iso()
            meta["deletionGracePeriodSeconds"] = 0
        if finalizers:
            meta["finalizers"] = finalizers
        return ctx.store.update(rt.key, obj)
    deleted = ctx.store.delete(rt.key, meta.get("namespace", ""), meta["name"])
    if rt.key == resources.CRD_KEY:
        _delete_custom_objects(ctx, obj)
    if rt.kind == "Pod":
        return deleted
    details: Obj = {"name": meta["name"], "kind": rt.plural, "uid": meta["uid"]}
    if rt.group:
        details["group"] = rt.group
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }


def _delete_custom_objects(ctx: Ctx, definition: Obj) -> None:
    """A deleted CRD takes its objects with it (its kind is unserved by then)."""
    spec = definition.get("spec") or {}
    key = f"{spec.get('group', '')}/{(spec.get('names') or {}).get('plural', '')}"
    items, _ = ctx.store.list(key, shared=True)
    for item in items:
        item_meta = item["metadata"]
        ctx.store.delete(key, item_meta.get("namespace", ""), item_meta["name"])


def delete_collection(ctx: Ctx) -> Response:
    """DELETE a collection (selectors apply): 200 with the list of what was deleted."""

    opts = options(ctx)
    with ctx.store.lock:
        items, rv = ctx.store.list(ctx.rt.key, ctx.namespace, predicate_for(ctx))
        for obj in items:
            delete_object(ctx, obj, opts)
    body = {
        "kind": f"{ctx.rt.kind}List",
        "apiVersion": ctx.rt.api_version,
        "metadata": {"resourceVersion": str(rv)},
        "items": items,
    }
    return ctx.respond(200, body)
