"""One line for a request that got no HTTP answer: what failed and what to check.

The client library reports these failures as a chain of urllib3, ssl and socket exceptions
(a TLS failure even as ``ApiException(status=0)``, whose context is urllib3's SSLError). This
module walks the chain and says, naming the server URL and never a credential, whether it was
TLS (an untrusted, expired or misnamed certificate, another handshake failure), DNS, a refused
or reset connection, or a timeout.
"""

from __future__ import annotations

import http.client
import re
import socket
import ssl
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from ci_deploy.kube.errors import NetworkError

Timeout = float | tuple[float, float]
E = TypeVar("E", bound=BaseException)

# OpenSSL's X509_V_ERR_* codes (ssl.SSLCertVerificationError.verify_code).
CERT_NOT_YET_VALID = 9
CERT_HAS_EXPIRED = 10
UNTRUSTED = {
    2,  # unable to get issuer certificate
    18,  # self-signed certificate
    19,  # self-signed certificate in certificate chain
    20,  # unable to get local issuer certificate
    21,  # unable to verify the first certificate
}
NAME_MISMATCH = {62: "host name mismatch", 64: "IP address mismatch"}
# getaddrinfo answers that a retry may not get again ("temporary failure in name resolution").
DNS_TRANSIENT = {socket.EAI_AGAIN}


@dataclass(frozen=True)
class Endpoint:
    """The API server as the kubeconfig names it (for messages)."""

    server: str
    cluster: str | None = None

    @property
    def url(self) -> str:
        """The server URL without user information (a URL may carry a password)."""
        parts = urlsplit(self.server)
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        if parts.port is not None:
            netloc += f":{parts.port}"
        return f"{parts.scheme}://{netloc}{parts.path}".rstrip("/")

    @property
    def host(self) -> str:
        return urlsplit(self.server).hostname or self.server

    @property
    def in_kubeconfig(self) -> str:
        """``of cluster NAME in the kubeconfig`` (or just ``in the kubeconfig``)."""
        if not self.cluster:
            return "in the kubeconfig"
        return f"of cluster {self.cluster} in the kubeconfig"


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception it was raised from or wraps (causes, contexts, reasons)."""
    seen: list[BaseException] = []
    todo: list[object] = [exc]
    while todo:
        item = todo.pop(0)
        if not isinstance(item, BaseException) or any(item is s for s in seen):
            continue
        seen.append(item)
        todo += [item.__cause__, item.__context__, getattr(item, "reason", None), *item.args]
    return seen


def _find(chain: list[BaseException], kind: type[E]) -> E | None:
    return next((e for e in chain if isinstance(e, kind)), None)


def seconds_text(seconds: float) -> str:
    """``1.0`` → ``1s``, ``0.5`` → ``0.5s``."""
    return f"{seconds:g}s"


def _certificate(err: ssl.SSLCertVerificationError, at: Endpoint) -> NetworkError:
    reason = str(err.verify_message or err.reason or err)
    code = err.verify_code
    subject = f"TLS: the certificate of {at.url}"
    ca_hint = f"check certificate-authority-data in the kubeconfig for cluster {at.cluster}"
    if not at.cluster:
        ca_hint = "check certificate-authority-data in the kubeconfig"
    if code in UNTRUSTED:
        text = f"{subject} is not trusted ({reason}); {ca_hint}"
    elif code == CERT_HAS_EXPIRED:
        text = f"{subject} has expired; renew the API server's certificate, or check this "
        text += "machine's clock"
    elif code == CERT_NOT_YET_VALID:
        text = f"{subject} is not valid yet; check this machine's clock"
    elif code in NAME_MISMATCH:
        text = (
            f"{subject} is not valid for {at.host} ({NAME_MISMATCH[code]}); check the server "
            f"address {at.in_kubeconfig}, or set tls-server-name to a name the certificate has"
        )
    else:
        text = f"{subject} was rejected ({reason}); {ca_hint}"
    return NetworkError(text, transient=False)


def _handshake(err: ssl.SSLError, at: Endpoint) -> NetworkError:
    if isinstance(err, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return _reset(at, "the TLS handshake")  # cut by the other side: may not happen again
    reason = str(err.reason or err).lower().replace("_", " ")
    return NetworkError(
        f"TLS: the handshake with {at.url} failed ({reason}); check that the server address "
        f"{at.in_kubeconfig} is the API server's HTTPS address",
        transient=False,
    )


def _dns(err: socket.gaierror, at: Endpoint) -> NetworkError:
    return NetworkError(
        f"DNS: cannot resolve {at.host} ({err.strerror}) for {at.url}; check the server address "
        f"{at.in_kubeconfig}, and this machine's DNS (or VPN)",
        transient=err.errno in DNS_TRANSIENT,
    )


def _refused(at: Endpoint) -> NetworkError:
    return NetworkError(
        f"connection refused by {at.url}; check that the API server is running and the server "
        f"address and port {at.in_kubeconfig}"
    )


def _reset(at: Endpoint, during: str) -> NetworkError:
    return NetworkError(
        f"connection to {at.url} was cut during {during}; check for a proxy or load balancer "
        "between here and the API server, and retry"
    )


def _no_connection(chain: list[BaseException], at: Endpoint) -> NetworkError | None:
    """A connection that could not be opened for another reason than a refusal or a timeout."""
    import urllib3

    failed = _find(chain, urllib3.exceptions.NewConnectionError)
    if failed is None:
        return None
    cause = _find(chain[chain.index(failed) + 1 :], OSError)
    reason = cause.strerror if cause is not None and cause.strerror else str(failed)
    return NetworkError(
        f"cannot connect to {at.url} ({reason}); check the network path to the API server "
        "(VPN, firewall, proxy)"
    )


def _timeout(chain: list[BaseException], at: Endpoint, what: str, timeout: Timeout) -> NetworkError:
    import urllib3

    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    if _find(chain, urllib3.exceptions.ConnectTimeoutError) is not None:
        return NetworkError(
            f"timeout: no connection to {at.url} within {seconds_text(connect)}; check the "
            "network path to the API server (VPN, firewall, proxy), or raise --request-timeout"
        )
    handshake = any("handshake" in str(e) for e in chain)
    stalled = "did not complete the TLS handshake" if handshake else f"did not answer {what}"
    return NetworkError(
        f"timeout: {at.url} {stalled} within {seconds_text(read)}; the API server may be "
        "overloaded, or the address is not an API server: retry, or raise --request-timeout"
    )


def _is_timeout(chain: list[BaseException]) -> bool:
    import urllib3

    return any(isinstance(e, TimeoutError | urllib3.exceptions.TimeoutError) for e in chain)


def _is_reset(chain: list[BaseException]) -> bool:
    import urllib3

    cut = (
        ConnectionResetError,
        ConnectionAbortedError,
        BrokenPipeError,
        http.client.RemoteDisconnected,
        http.client.IncompleteRead,
        urllib3.exceptions.ProtocolError,
    )
    return any(isinstance(e, cut) for e in chain)


_USERINFO = re.compile(r"(//)[^/@\s]+@")


def describe(exc: BaseException, at: Endpoint, what: str, timeout: Timeout) -> NetworkError:
    """The NetworkError for ``exc`` raised by request ``what`` (e.g. ``GET /api/v1/pods``)."""
    chain = _chain(exc)
    certificate = _find(chain, ssl.SSLCertVerificationError)
    if certificate is not None:
        return _certificate(certificate, at)
    dns = _find(chain, socket.gaierror)
    if dns is not None:
        return _dns(dns, at)
    if _find(chain, ConnectionRefusedError) is not None:
        return _refused(at)
    # urllib3's NewConnectionError is a ConnectTimeoutError (for compatibility): look first.
    other = _no_connection(chain, at)
    if other is not None:
        return other
    if _is_timeout(chain):
        return _timeout(chain, at, what, timeout)
    if _is_reset(chain):
        return _reset(at, what)
    handshake = _find(chain, ssl.SSLError)
    if handshake is not None:
        return _handshake(handshake, at)
    text = _USERINFO.sub(r"\1", str(exc).strip().replace("\n", " "))  # a proxy URL's password
    return NetworkError(f"cannot reach {at.url} ({what}): {text}")
