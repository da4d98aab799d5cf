"""One request against one resource, and what every verb does with it first.

:class:`Ctx` carries the request, the resource it names and the server it reached; the helpers
load the named object, check the namespace and preconditions, and build selector predicates,
with upstream's messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from kube_sandbox.faults import Faults
from kube_sandbox.objects.selectors import parse_field_selector, parse_label_selector
from kube_sandbox.protocol.messages import Request, Response
from kube_sandbox.storage.store import ResourceType, Store, StoreError

Obj = dict[str, Any]


class Serving(Protocol):
    """What a verb sees of the server: its store, its fault settings, whether it stops."""

    store: Store
    faults: Faults
    stopping: bool


@dataclass
class Ctx:
    """One request against one resource."""

    api: Serving
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
