"""Who may talk to a sandbox: this machine's clients only, whatever their credentials.

(Credentials are checked after these checks, by ``auth.py``, unless it serves plain HTTP.)

- It binds loopback only (:func:`require_loopback`): 127.0.0.0/8, ::1 or localhost.
- ``Host`` must be a loopback name (403 otherwise): a web page whose name an attacker points at
  127.0.0.1 (DNS rebinding) still sends its own name. The port is not compared: a local
  forwarder (``ssh -L``, a TLS-terminating proxy) presents its own, and the rebinding attack is
  told apart by the name alone.
- A request with an ``Origin`` header comes from a web page: 403. A write whose body type is
  not one Kubernetes reads (``text/plain``, form encodings: what an HTML form or a no-CORS
  ``fetch`` can send without asking) is 415. A missing Content-Type is read as JSON, as upstream.
- The admin endpoints (``/_sandbox/``: fault settings, the state dump with every Secret) need
  ``Authorization: Bearer <token>``; the token is made at start and written, mode 0600, next
  to the kubeconfig (:func:`token_file_for`).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from kube_sandbox.protocol.messages import Request, Response, status_object
from kube_sandbox.storage.files import write_private

log = logging.getLogger("kube_sandbox")

LOOPBACK = "127.0.0.0/8, ::1, localhost"
_WRITES = ("POST", "PUT", "PATCH", "DELETE")
# What an API server reads: JSON, YAML, protobuf, CBOR and the four patch types. (CBOR and
# protobuf for most kinds are then refused by ``bodies.py`` with a message of their own.)
_BODY_TYPES = frozenset(
    {
        "application/json",
        "application/yaml",
        "application/vnd.kubernetes.protobuf",
        "application/cbor",
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
        "application/apply-patch+cbor",
    }
)


class NotLoopback(ValueError):
    """A bind address that is not loopback."""

    def __init__(self, host: str) -> None:
        super().__init__(
            f"{host} is not a loopback address: the sandbox is a local test cluster, so it "
            f"serves only on loopback ({LOOPBACK})"
        )


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (``[::1]`` brackets allowed)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False


def require_loopback(host: str) -> None:
    """Raise :class:`NotLoopback` unless ``host`` is a loopback bind address."""
    if not is_loopback(host):
        raise NotLoopback(host)


def token_file_for(kubeconfig: Path) -> Path:
    """Where the admin token of a sandbox with this kubeconfig is written."""
    return kubeconfig.with_name(kubeconfig.name + ".admin-token")


def write_token(path: Path, token: str) -> None:
    """Write the token (mode 0600: it opens the state dump, Secrets included)."""
    write_private(path, token + "\n")


@dataclass(frozen=True)
class Access:
    """The checks every request passes before fault injection and routing."""

    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)

    def refusal(self, req: Request) -> Response | None:
        """The answer for a request that may not be served, or None to serve it."""
        refused = self._refusal(req)
        if refused is not None:
            log.warning(
                "sandbox: refused %s %s (Host %r): %s",
                req.method,
                req.path,
                req.header("Host")[:100],
                refused.body["message"],
            )
        return refused

    def _refusal(self, req: Request) -> Response | None:
        host = req.header("Host")
        if not loopback_host_header(host):
            allowed = "127.0.0.1:PORT, localhost:PORT or [::1]:PORT"
            message = (
                f"Host {host[:100]!r} is not a loopback name ({allowed}): refused, as it may "
                "be a web page reaching the sandbox by DNS rebinding"
                if host
                else f"a request without a Host header is refused (send Host {allowed})"
            )
            return _answer(403, "Forbidden", message)
        if req.has_header("Origin"):
            return _answer(
                403,
                "Forbidden",
                "requests from a web page (an Origin header) are refused: the sandbox serves "
                "local clients, not browsers",
            )
        if req.path.startswith("/_sandbox/") and not self._is_admin(req):
            return _answer(
                401,
                "Unauthorized",
                "the admin endpoints /_sandbox/ need 'Authorization: Bearer <token>' with the "
                "token from <kubeconfig>.admin-token (written by the sandbox at start): over "
                "TLS (the default) kubectl --token=<it> create --raw /_sandbox/faults -f FILE; "
                "kubectl sends no credentials over plain HTTP, so there use curl "
                "(docs/sandbox.md)",
                {"WWW-Authenticate": 'Bearer realm="ci-deploy sandbox admin"'},
            )
        ctype = req.header("Content-Type")
        if req.method in _WRITES and ctype and _media_type(ctype) not in _BODY_TYPES:
            return _answer(
                415,
                "UnsupportedMediaType",
                f"Content-Type {ctype[:100]!r} is not accepted: send application/json or "
                "application/yaml (PATCH: application/json-patch+json, "
                "application/merge-patch+json, application/strategic-merge-patch+json or "
                "application/apply-patch+yaml)",
            )
        return None

    def _is_admin(self, req: Request) -> bool:
        scheme, _, credential = req.header("Authorization").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            credential.strip().encode(), self.admin_token.encode()
        )


def loopback_host_header(host: str) -> bool:
    """``Host`` names loopback: ``localhost:PORT``, ``127.0.0.1:PORT``, ``[::1]:PORT``."""
    if host.startswith("["):
        name, bracket, rest = host[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return False
        port = rest[1:]
    else:
        name, _, port = host.partition(":")
    return (port == "" or (port.isascii() and port.isdigit())) and is_loopback(name)


def _media_type(ctype: str) -> str:
    return ctype.split(";", 1)[0].strip().lower()


def _answer(
    code: int, reason: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    return Response(code, status_object(code, reason, message), headers or {})
