"""Routing of Kubernetes REST requests to discovery, openapi, admin and resource verbs.

Each request first passes the access checks (``access.py``: Host, Origin, Content-Type, the
admin token).

The HTTP layer (``server.py``) turns each request into a :class:`Request` and writes back the
:class:`Response`; everything here is plain functions over the store, callable from tests
without sockets. Errors are ``Status`` objects, as a real API server sends them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from ci_deploy.sandbox import discovery, resources
from ci_deploy.sandbox.store import ResourceType, Store, StoreError

if TYPE_CHECKING:
    from ci_deploy.sandbox.access import Access

Obj = dict[str, Any]
log = logging.getLogger("ci_deploy.sandbox")


@dataclass
class Request:
    """One HTTP request, decoded enough for routing."""

    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    body: bytes = b""

    @classmethod
    def parse(cls, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Request:
        """Split ``target`` (path + query string) into a Request."""
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        return cls(method.upper(), parts.path, query, headers, body)

    def header(self, name: str) -> str:
        """A header value ('' when absent); the mapping may not be case-insensitive."""
        value = self.headers.get(name)
        if value is None:
            value = self.headers.get(name.lower())
        return value or ""

    def has_header(self, name: str) -> bool:
        """Whether the header was sent at all (even empty)."""
        return self.headers.get(name) is not None or self.headers.get(name.lower()) is not None

    def flag(self, name: str) -> bool:
        """A boolean query parameter (``watch=true``, ``watch=1``)."""
        return self.query.get(name, "").lower() in ("true", "1")


@dataclass
class Response:
    """A JSON body (or a stream of JSON lines for a watch) with its HTTP status."""

    code: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    stream: Iterator[bytes] | None = None
    content_type: str = "application/json"

    def payload(self) -> bytes:
        """The encoded body (not for streams)."""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body, separators=(",", ":")).encode()


def status_object(
    code: int,
    reason: str,
    message: str,
    *,
    name: str | None = None,
    rt: ResourceType | None = None,
) -> Obj:
    """A ``v1 Status`` failure, with ``details`` naming the object when known."""
    status: Obj = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if name is not None or rt is not None:
        details: Obj = {}
        if name is not None:
            details["name"] = name
        if rt is not None:
            if rt.group:
                details["group"] = rt.group
            details["kind"] = rt.plural
        status["details"] = details
    return status


def error_response(
    err: StoreError, *, name: str | None = None, rt: ResourceType | None = None
) -> Response:
    """A StoreError as an HTTP response carrying a Status object."""
    headers = {"Retry-After": "1"} if err.code == 429 else {}
    body = status_object(err.code, err.reason, err.message, name=name, rt=rt)
    details = getattr(err, "details", None)  # set where the failing object is another one
    if details is not None:
        body["details"] = details
    causes = getattr(err, "causes", None)
    if causes:
        body.setdefault("details", {})["causes"] = causes
    return Response(err.code, body, headers)


@dataclass(frozen=True)
class Target:
    """What a resource URL names: the resource, namespace, object name and subresource."""

    rt: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None


def parse_resource_path(path: str) -> Target | None:
    """Resolve ``/api/v1/namespaces/ns/pods/x/status`` style paths; None when not a resource."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return None
    if rest[0] == "namespaces" and len(rest) >= 3:
        rt = resources.by_path(group, version, rest[2])
        if rt is not None and rt.namespaced:
            return _target(rt, rest[1], rest[3:])
    rt = resources.by_path(group, version, rest[0])
    if rt is None:
        return None
    return _target(rt, None, rest[1:])


def _target(rt: ResourceType, namespace: str | None, rest: list[str]) -> Target | None:
    if len(rest) > 2:
        return None
    name = rest[0] if rest else None
    sub = rest[1] if len(rest) > 1 else None
    if sub is not None and sub not in rt.subresources:
        return None
    return Target(rt, namespace, name, sub)


class Api:
    """The request dispatcher shared by all server threads."""

    def __init__(self, store: Store, faults: Any = None, access: Access | None = None) -> None:
        from ci_deploy.sandbox.access import Access
        from ci_deploy.sandbox.faults import Faults

        self.store = store
        self.faults: Faults = faults if faults is not None else Faults()
        self.access = access if access is not None else Access()  # a fresh, unknown admin token
        self.stopping = False  # set on shutdown: open watches end

    def handle(self, req: Request) -> Response:
        """Answer one request; never raises for API-level errors."""
        refused = self.access.refusal(req)  # before faults: a refusal is never a random one
        if refused is not None:
            return refused
        try:
            injected = self.faults.before_request(req)
            if injected is not None:
                return injected
            return self._route(req)
        except StoreError as err:
            return error_response(err)

    def _route(self, req: Request) -> Response:
        path = req.path.rstrip("/") or "/"
        if path.startswith("/_sandbox/"):
            return self._admin(req, path)
        if path in ("/healthz", "/livez", "/readyz"):
            return Response(200, "ok", content_type="text/plain")
        if path.startswith("/openapi/"):
            from ci_deploy.sandbox import openapi

            return openapi.handle(path)
        doc = discovery.document(path)
        if doc is not None:
            if req.method != "GET":
                raise StoreError(405, "MethodNotAllowed", f"{req.method} is not allowed on {path}")
            return Response(200, doc)
        target = parse_resource_path(path)
        if target is None:
            return Response(
                404,
                status_object(404, "NotFound", "the server could not find the requested resource"),
            )
        from ci_deploy.sandbox import crud

        return crud.dispatch(self, req, target)

    def _admin(self, req: Request, path: str) -> Response:
        if path == "/_sandbox/faults":
            if req.method == "POST":
                try:
                    settings = json.loads(req.body or b"{}")
                except ValueError as exc:
                    raise StoreError(400, "BadRequest", f"invalid JSON: {exc}") from exc
                self.faults.configure(settings)
            return Response(200, self.faults.describe())
        if path == "/_sandbox/state" and req.method == "GET":
            return Response(200, self.store.snapshot())
        return Response(404, status_object(404, "NotFound", f"no admin endpoint {path}"))
