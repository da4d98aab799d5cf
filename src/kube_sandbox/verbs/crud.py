"""Resource verbs: get, list, watch, create, replace, patch, delete, deletecollection.

Every write goes through :func:`kube_sandbox.verbs.write.persist`. Read-modify-write runs under
the store lock, so concurrent writers see optimistic concurrency exactly as the resourceVersion
checks describe.
"""

from __future__ import annotations

import secrets
from typing import Any

from kube_sandbox.objects import resources
from kube_sandbox.protocol.messages import Request, Response, error_response
from kube_sandbox.protocol.paths import Target
from kube_sandbox.storage.store import StoreError
from kube_sandbox.verbs import deletion, paging, patching, table, watch
from kube_sandbox.verbs.bodies import check_body_kind, decode_body, field_validation, pod_log
from kube_sandbox.verbs.context import (
    Ctx,
    Serving,
    check_namespace,
    check_precondition,
    load,
    predicate_for,
    resource_name,
)
from kube_sandbox.verbs.write import persist

Obj = dict[str, Any]
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def dispatch(api: Serving, req: Request, target: Target) -> Response:
    """Run the verb a request names; API errors become Status responses."""
    ctx = Ctx(api, req, target.rt, target.namespace, target.name, target.subresource)
    try:
        return _verb(ctx)
    except StoreError as err:
        return error_response(err, name=ctx.name, rt=target.rt)


def _verb(ctx: Ctx) -> Response:
    method = ctx.req.method
    if ctx.sub in resources.READ_ONLY_SUBRESOURCES and method != "GET":
        raise StoreError(
            405, "MethodNotAllowed", f"the server does not allow this method ({method})"
        )
    if ctx.name is None:
        if method == "GET":
            watching = ctx.req.flag("watch")
            watch.validate_list_options(ctx.req.query, watching)  # 422 as upstream
            if watching:
                return watch.stream(ctx)
            return list_objects(ctx)
        if method == "POST":
            return create(ctx)
        if method == "DELETE":
            return deletion.delete_collection(ctx)
    else:
        if method == "GET":
            return get(ctx)
        if method == "PUT":
            return replace(ctx)
        if method == "PATCH":
            return patching.patch(ctx)
        if method == "DELETE":
            return deletion.delete(ctx)
    raise StoreError(405, "MethodNotAllowed", f"the server does not allow this method ({method})")


def create(ctx: Ctx) -> Response:
    """POST to a collection: 201 with the created object; 409 AlreadyExists."""
    body = check_body_kind(ctx, decode_body(ctx.req))
    meta = body["metadata"]
    if not meta.get("name") and meta.get("generateName"):
        suffix = "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))
        # names.SimpleNameGenerator: the prefix is cut to 58 characters (63 - 5)
        meta["name"] = f"{str(meta['generateName'])[:58]}{suffix}"
    field_validation(ctx, body)
    if str(meta.get("resourceVersion") or "0") != "0":
        # etcd3 store.Create: storage.ErrResourceVersionSetOnCreate, a 500 without a reason
        err = StoreError(500, "", "resourceVersion should not be set on objects to be created")
        err.details = {}  # type: ignore[attr-defined]  # no details either
        raise err
    for key in ("resourceVersion", "uid", "managedFields"):
        meta.pop(key, None)
    with ctx.store.lock:
        check_namespace(ctx)
        name = str(meta.get("name") or "")
        ctx.name = name
        try:
            ctx.store.get(ctx.rt.key, ctx.ns, name)
        except StoreError:
            pass
        else:
            raise StoreError(
                409, "AlreadyExists", f'{resource_name(ctx.rt)} "{name}" already exists'
            )
        created = persist(ctx, None, body)
    return ctx.respond(201, created)


def replace(ctx: Ctx) -> Response:
    """PUT an object (or its status / scale subresource)."""
    body = decode_body(ctx.req)
    if ctx.sub == "scale":
        return patching.write_scale(ctx, body)
    body = check_body_kind(ctx, body)
    field_validation(ctx, body)
    with ctx.store.lock:
        current = load(ctx)
        check_precondition(ctx, current, body)
        updated = persist(ctx, current, body)
    return ctx.respond(200, updated)


# -- reads -----------------------------------------------------------------------------------
def get(ctx: Ctx) -> Response:
    """GET an object, its status, or its Scale."""
    obj = load(ctx)
    if ctx.sub == "scale":
        custom = resources.custom(ctx.rt, ctx.store)
        return ctx.respond(200, patching.scale_of(obj, custom.scale if custom else None))
    if ctx.sub == "log":
        return Response(
            200, pod_log(obj, ctx.req.query.get("container")), content_type="text/plain"
        )
    obj = in_requested_version(ctx, obj)
    if table.wants_table(ctx.req):
        return ctx.respond(200, table.to_table(ctx.rt, [obj], ctx.req, None, ctx.store))
    return ctx.respond(200, obj)


def in_requested_version(ctx: Ctx, obj: Obj) -> Obj:
    """A custom object as the version the request names (its versions differ only by it:
    conversion strategy None)."""
    if obj.get("apiVersion") == ctx.rt.api_version or resources.custom(ctx.rt, ctx.store) is None:
        return obj
    return {**obj, "apiVersion": ctx.rt.api_version}


def list_objects(ctx: Ctx) -> Response:
    """GET a collection: a ``<Kind>List`` (or a Table), with limit/continue paging."""

    query = ctx.req.query
    rv_param = query.get("resourceVersion", "")
    current_rv = str(ctx.store.resource_version)
    # only the latest state is kept: an exact older version is gone
    if query.get("resourceVersionMatch") == "Exact" and rv_param and rv_param != current_rv:
        raise StoreError(410, "Expired", f"too old resource version: {rv_param} ({current_rv})")
    items, rv = ctx.store.list(ctx.rt.key, ctx.namespace, predicate_for(ctx), shared=True)
    items, list_meta = paging.page(ctx, items, rv)
    items = [in_requested_version(ctx, item) for item in items]
    if table.wants_table(ctx.req):
        return ctx.respond(200, table.to_table(ctx.rt, items, ctx.req, list_meta, ctx.store))
    body = {
        "kind": f"{ctx.rt.kind}List",
        "apiVersion": ctx.rt.api_version,
        "metadata": list_meta,
        "items": items,
    }
    return ctx.respond(200, body)
