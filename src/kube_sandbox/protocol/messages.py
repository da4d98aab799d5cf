"""The request and response values every layer above the store speaks, and ``Status`` errors.

The HTTP layer (``apiserver/httpd.py``) turns each request into a :class:`Request` and writes
back the :class:`Response`; the verbs are plain functions from one to the other, callable from
tests without sockets. Errors are ``Status`` objects, as a real API server sends them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kube_sandbox.storage.store import ResourceType, StoreError

Obj = dict[str, Any]


@dataclass
class Request:
    """One HTTP request, decoded enough for routing."""

    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    body: bytes = b""
    # (user, groups) of a verified TLS client certificate, set by the HTTP layer
    peer: tuple[str, tuple[str, ...]] | None = None

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
    if not reason:
        del status["reason"]  # omitempty: an error upstream has no reason for
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
        if not details:
            del body["details"]  # an error upstream reports without details
    causes = getattr(err, "causes", None)
    if causes:
        body.setdefault("details", {})["causes"] = causes
    return Response(err.code, body, headers)
