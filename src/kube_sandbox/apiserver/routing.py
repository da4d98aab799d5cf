"""Routing of Kubernetes REST requests to discovery, openapi, admin and resource verbs.

Each request first passes the access checks (``access.py``: Host, Origin, Content-Type, the
admin token of ``/_sandbox/``), then authentication and authorization (``auth.py``: 401, 403;
not for ``/_sandbox/``, which its admin token opens), then fault injection (``faults.py``),
then goes where its path says.
"""

from __future__ import annotations

import json

from kube_sandbox.apiserver import discovery, openapi
from kube_sandbox.apiserver.access import Access
from kube_sandbox.apiserver.auth import Authenticator
from kube_sandbox.faults import Faults
from kube_sandbox.protocol.messages import Request, Response, error_response, status_object
from kube_sandbox.protocol.paths import parse_resource_path
from kube_sandbox.storage.store import Store, StoreError
from kube_sandbox.verbs import crud


class Api:
    """The request dispatcher shared by all server threads."""

    def __init__(
        self,
        store: Store,
        faults: Faults | None = None,
        access: Access | None = None,
        auth: Authenticator | None = None,
    ) -> None:
        self.store = store
        self.faults = faults if faults is not None else Faults()
        self.access = access if access is not None else Access()  # a fresh, unknown admin token
        # None: no authentication (plain HTTP, as tests and --insecure-http serve)
        self.auth = auth
        self.stopping = False  # set on shutdown: open watches end

    def handle(self, req: Request) -> Response:
        """Answer one request; never raises for API-level errors."""
        refused = self.access.refusal(req)  # before faults: a refusal is never a random one
        if refused is None and self.auth is not None and not req.path.startswith("/_sandbox/"):
            refused = self.auth.refusal(req)  # before faults too
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
            return openapi.handle(path, self.store)
        doc = discovery.document(path, self.store)
        if doc is not None:
            if req.method != "GET":
                raise StoreError(405, "MethodNotAllowed", f"{req.method} is not allowed on {path}")
            return Response(200, doc)
        target = parse_resource_path(path, self.store)
        if target is None:
            return Response(
                404,
                status_object(404, "NotFound", "the server could not find the requested resource"),
            )
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
