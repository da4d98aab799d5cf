"""Resource verbs: get, list, watch, create, replace, patch, delete, deletecollection.

Every write goes through :func:`persist`: defaulting, validation, system metadata (uid,
creationTimestamp, generation, resourceVersion), status/spec separation, managedFields, then
the store, unless ``dryRun=All``. Read-modify-write runs under the store lock, so concurrent
writers see optimistic concurrency exactly as the resourceVersion checks describe.
"""

from __future__ import annotations

import copy
import secrets
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ci_deploy.sandbox import defaults, managed, resources, schema, table, validation
from ci_deploy.sandbox.api import Request, Response, Target, error_response
from ci_deploy.sandbox.bodies import check_body_kind, decode_body, field_validation, pod_log
from ci_deploy.sandbox.selectors import parse_field_selector, parse_label_selector
from ci_deploy.sandbox.store import ResourceType, Store, StoreError, now_iso

if TYPE_CHECKING:
    from ci_deploy.sandbox.api import Api

Obj = dict[str, Any]
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


@dataclass
class Ctx:
    """One request against one resource."""

    api: Api
    req: Request
    rt: ResourceType
    namespace: str | None
    name: str | None
    sub: str | None
    warnings: list[str] = field(default_factory=list)

    @property
    def store(self) -> Store:
        """The sandbox's object store."""
        return self.api.store

    @property
    def ns(self) -> str:
        """The request's namespace ('' for cluster-scoped resources)."""
        return self.namespace or ""

    @property
    def dry_run(self) -> bool:
        """Whether the request asks for ``dryRun=All`` (validate, default, change nothing)."""
        return self.req.query.get("dryRun") == "All"

    @property
    def manager(self) -> str:
        """The field manager: ``fieldManager`` or the User-Agent's program name."""
        explicit = self.req.query.get("fieldManager")
        if explicit:
            return explicit
        agent = self.req.header("User-Agent") or "unknown"
        return agent.split("/")[0].strip() or "unknown"

    def respond(self, code: int, body: Any) -> Response:
        """A response carrying the warnings collected while serving the request."""
        headers = {}
        if self.warnings:
            headers["Warning"] = ", ".join(f'299 - "{w}"' for w in self.warnings)
        return Response(code, body, headers)


def dispatch(api: Api, req: Request, target: Target) -> Response:
    """Run the verb a request names; API errors become Status responses."""
    ctx = Ctx(api, req, target.rt, target.namespace, target.name, target.subresource)
    try:
        return _verb(ctx)
    except StoreError as err:
        return error_response(err, name=ctx.name, rt=target.rt)


def _verb(ctx: Ctx) -> Response:
    from ci_deploy.sandbox import deletion, patching, watch

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


# -- helpers ---------------------------------------------------------------------------------
def resource_name(rt: ResourceType) -> str:
    """``deployments.apps`` / ``pods``, as upstream names a resource in messages."""
    return f"{rt.plural}.{rt.group}" if rt.group else rt.plural


def not_found(rt: ResourceType, name: str) -> StoreError:
    """404 NotFound for an object of ``rt``."""
    return StoreError(404, "NotFound", f'{resource_name(rt)} "{name}" not found')


def load(ctx: Ctx, name: str | None = None) -> Obj:
    """The stored object the request names (404 NotFound with upstream's message)."""
    name = name or ctx.name or ""
    try:
        return ctx.store.get(ctx.rt.key, ctx.ns, name)
    except StoreError as err:
        if err.code == 404:
            raise not_found(ctx.rt, name) from err
        raise


def check_namespace(ctx: Ctx) -> None:
    """404 when creating into a missing namespace, 403 into a terminating one."""
    if not ctx.rt.namespaced:
        return
    try:
        ns = ctx.store.get("/namespaces", "", ctx.ns)
    except StoreError as err:
        missing = StoreError(404, "NotFound", f'namespaces "{ctx.ns}" not found')
        missing.details = {"name": ctx.ns, "kind": "namespaces"}  # type: ignore[attr-defined]
        raise missing from err
    if (ns.get("status") or {}).get("phase") == "Terminating":
        raise StoreError(
            403,
            "Forbidden",
            f"unable to create new content in namespace {ctx.ns} because it is being terminated",
        )


def _spec_part(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def entries_of(obj: Obj) -> Any:
    """An object's managedFields (None when it has none)."""
    return (obj.get("metadata") or {}).get("managedFields")


def _strip_volatile(obj: Obj) -> Obj:
    out = dict(obj)
    meta = dict(out.get("metadata") or {})
    for key in ("managedFields", "resourceVersion"):
        meta.pop(key, None)
    out["metadata"] = meta
    return out


# -- writes ----------------------------------------------------------------------------------
def persist(ctx: Ctx, old: Obj | None, new: Obj, *, operation: str = "Update") -> Obj:
    """Default, validate, stamp and store ``new`` (replacing ``old``); honours dryRun.

    ``operation`` is ``Update`` (managedFields updated from the diff), or ``Apply`` (the caller,
    server-side apply, has already set managedFields).
    """
    rt = ctx.rt
    new["apiVersion"], new["kind"] = rt.api_version, rt.kind
    meta = new.setdefault("metadata", {})
    if old is None:
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_iso()
        meta["generation"] = 1
        meta.pop("deletionTimestamp", None)
        status = defaults.initial_status(rt.kind)
        if resources.has_status(rt) or status is not None:
            new.pop("status", None)
            if status is not None:
                new["status"] = status
    else:
        _keep_system_metadata(ctx, old, new)
    schema.prune_empty(new, schema.for_kind(rt.group, rt.version, rt.kind))
    defaults.apply_defaults(rt.kind, new)
    validation.validate(rt, new)
    meta = new["metadata"]
    if old is not None and ctx.sub != "status":
        # compared after defaulting: a field that defaulting restores is no change
        changed = _spec_part(new) != _spec_part(old)
        meta["generation"] = int(old["metadata"].get("generation", 1)) + int(changed)
    sent_fields = meta.get("managedFields")
    rewritten = (  # a client may rewrite managedFields itself (kubectl's CSA → SSA upgrade)
        operation == "Update"
        and old is not None
        and sent_fields is not None
        and sent_fields != entries_of(old)
    )
    if operation == "Update":
        managed.record_update(old, new, ctx.manager, rt.api_version, ctx.sub)
    if old is not None and not rewritten and _strip_volatile(new) == _strip_volatile(old):
        return old  # a no-op write neither bumps resourceVersion nor emits an event
    if ctx.dry_run:
        return new
    # the result is only serialized into the response: take the stored object, not a copy
    if old is None:
        return ctx.store.create(rt.key, new, shared=True)
    new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
    return ctx.store.update(rt.key, new, shared=True)


def _keep_system_metadata(ctx: Ctx, old: Obj, new: Obj) -> None:
    meta, old_meta = new["metadata"], old["metadata"]
    for key in ("uid", "creationTimestamp", "name", "namespace", "deletionTimestamp"):
        if key in old_meta:
            meta[key] = old_meta[key]
        else:
            meta.pop(key, None)
    if "generateName" in old_meta:
        meta.setdefault("generateName", old_meta["generateName"])
    if ctx.sub == "status":
        # the status subresource changes status only (and keeps metadata labels as they are)
        kept = copy.deepcopy(old)
        kept["status"] = new.get("status")
        new.clear()
        new.update(kept)
        return
    if resources.has_status(ctx.rt):
        if "status" in old:
            new["status"] = copy.deepcopy(old["status"])
        else:
            new.pop("status", None)


def check_precondition(ctx: Ctx, current: Obj, body: Obj) -> None:
    """409 Conflict when the body carries a resourceVersion other than the stored one."""
    wanted = (body.get("metadata") or {}).get("resourceVersion")
    if wanted and str(wanted) != current["metadata"]["resourceVersion"]:
        raise StoreError(
            409,
            "Conflict",
            f'Operation cannot be fulfilled on {resource_name(ctx.rt)} "{ctx.name}": the object '
            "has been modified; please apply your changes to the latest version and try again",
        )


def create(ctx: Ctx) -> Response:
    """POST to a collection: 201 with the created object; 409 AlreadyExists."""
    body = check_body_kind(ctx, decode_body(ctx.req))
    meta = body["metadata"]
    if not meta.get("name") and meta.get("generateName"):
        suffix = "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))
        meta["name"] = f"{meta['generateName']}{suffix}"
    field_validation(ctx, body)
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
        from ci_deploy.sandbox.patching import write_scale

        return write_scale(ctx, body)
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
        from ci_deploy.sandbox.patching import scale_of

        return ctx.respond(200, scale_of(obj))
    if ctx.sub == "log":
        return Response(
            200, pod_log(obj, ctx.req.query.get("container")), content_type="text/plain"
        )
    if table.wants_table(ctx.req):
        return ctx.respond(200, table.to_table(ctx.rt, [obj], ctx.req, None))
    return ctx.respond(200, obj)


def predicate_for(ctx: Ctx) -> Any:
    """A combined label/field selector predicate from the query (None when unfiltered)."""
    checks = []
    if ctx.req.query.get("labelSelector"):
        checks.append(parse_label_selector(ctx.req.query["labelSelector"]))
    if ctx.req.query.get("fieldSelector"):
        checks.append(parse_field_selector(ctx.req.query["fieldSelector"], ctx.rt.kind))
    if not checks:
        return None
    return lambda obj: all(check(obj) for check in checks)


def list_objects(ctx: Ctx) -> Response:
    """GET a collection: a ``<Kind>List`` (or a Table), with limit/continue paging."""
    from ci_deploy.sandbox import paging

    query = ctx.req.query
    rv_param = query.get("resourceVersion", "")
    current_rv = str(ctx.store.resource_version)
    # only the latest state is kept: an exact older version is gone
    if query.get("resourceVersionMatch") == "Exact" and rv_param and rv_param != current_rv:
        raise StoreError(410, "Expired", f"too old resource version: {rv_param} ({current_rv})")
    items, rv = ctx.store.list(ctx.rt.key, ctx.namespace, predicate_for(ctx), shared=True)
    items, list_meta = paging.page(ctx, items, rv)
    if table.wants_table(ctx.req):
        return ctx.respond(200, table.to_table(ctx.rt, items, ctx.req, list_meta))
    body = {
        "kind": f"{ctx.rt.kind}List",
        "apiVersion": ctx.rt.api_version,
        "metadata": list_meta,
        "items": items,
    }
    return ctx.respond(200, body)
