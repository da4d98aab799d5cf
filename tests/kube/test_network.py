"""kube.network: a request without an HTTP answer becomes one line naming the server and what to
check; failures that would only repeat are not retried.

The CLI-level cases (TLS, DNS, refused, timeouts) are in tests/commands/test_cluster_access.py;
here are the ones that need no CLI: other handshake failures, cuts, the retry decision.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
from tests.kube import tls

from ci_deploy.kube.client import KubeClient, connect
from ci_deploy.kube.errors import NetworkError
from ci_deploy.kube.network import Endpoint, describe
from ci_deploy.kube.retry import RetryPolicy, is_transient
from kube_sandbox.testing import SandboxHandle

ONCE = RetryPolicy(attempts=1)
AT = Endpoint("https://api.example.com:6443", "prod")


@contextlib.contextmanager
def hanging_up_listener() -> Iterator[str]:
    """A TCP server that closes every connection as soon as it has read the request."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()


def client_of(sandbox: SandboxHandle, tmp_path: Path, server: str, **kwargs: float) -> KubeClient:
    kubeconfig = tls.kubeconfig_for(sandbox.kubeconfig, tmp_path / "kc", server, tls.make_ca())
    return connect(str(kubeconfig), policy=ONCE, **kwargs)


def failure(client: KubeClient) -> NetworkError:
    with pytest.raises(NetworkError) as caught:
        client.get("/api/v1/namespaces")
    client.close()
    return caught.value


def test_https_to_a_plain_http_server_is_a_handshake_failure_not_retried(
    bare_sandbox: SandboxHandle, tmp_path: Path
) -> None:
    url = bare_sandbox.url.replace("http:", "https:").rstrip("/")
    err = failure(client_of(bare_sandbox, tmp_path, url))
    assert str(err) == (
        f"TLS: the handshake with {url} failed (wrong version number); check that the server "
        "address of cluster ci-deploy-sandbox in the kubeconfig is the API server's HTTPS address"
    )
    assert not is_transient(err)


def test_a_connection_cut_before_the_answer_is_transient(
    bare_sandbox: SandboxHandle, tmp_path: Path
) -> None:
    with hanging_up_listener() as url:
        err = failure(client_of(bare_sandbox, tmp_path, url))
    assert str(err) == (
        f"connection to {url} was cut during GET /api/v1/namespaces; check for a proxy or load "
        "balancer between here and the API server, and retry"
    )
    assert is_transient(err)


def test_the_client_timeout_bounds_each_request(
    bare_sandbox: SandboxHandle, tmp_path: Path
) -> None:
    with tls.silent_listener() as https_url:
        url = https_url.replace("https:", "http:")
        client = client_of(bare_sandbox, tmp_path, url, timeout=0.3)
        started = time.monotonic()
        err = failure(client)
    assert time.monotonic() - started < 3
    assert str(err).startswith(f"timeout: {url} did not answer GET /api/v1/namespaces within 0.3s;")
    assert is_transient(err)


def test_a_certificate_failure_is_not_retried(bare_sandbox: SandboxHandle, tmp_path: Path) -> None:
    with tls.tls_proxy(bare_sandbox.url, tls.issue(tls.make_ca()), tmp_path) as url:
        client = client_of(bare_sandbox, tmp_path, url)
        client.policy = RetryPolicy(attempts=5, base_delay=2.0)  # a retry would take seconds
        started = time.monotonic()
        err = failure(client)
    assert time.monotonic() - started < 2
    assert "is not trusted (unable to get local issuer certificate)" in str(err)
    assert not is_transient(err)


@pytest.mark.parametrize(
    ("code", "transient"), [(socket.EAI_AGAIN, True), (socket.EAI_NONAME, False)]
)
def test_only_a_temporary_dns_failure_is_retried(code: int, transient: bool) -> None:
    err = describe(socket.gaierror(code, "resolver says no"), AT, "GET /api", 30.0)
    assert str(err) == (
        "DNS: cannot resolve api.example.com (resolver says no) for https://api.example.com:6443;"
        " check the server address of cluster prod in the kubeconfig, and this machine's DNS (or"
        " VPN)"
    )
    assert err.transient is transient


def test_a_connect_timeout_names_the_connect_part_of_the_timeout() -> None:
    exc = urllib3.exceptions.ConnectTimeoutError(None, "Connection to api timed out")
    err = describe(exc, AT, "GET /api", (2.0, 60.0))
    assert str(err) == (
        "timeout: no connection to https://api.example.com:6443 within 2s; check the network path"
        " to the API server (VPN, firewall, proxy), or raise --request-timeout"
    )


def test_an_unreachable_network_is_not_called_a_timeout() -> None:
    cause = OSError(errno.ENETUNREACH, "Network is unreachable")
    exc = urllib3.exceptions.NewConnectionError(None, f"Failed to establish: {cause}")
    exc.__cause__ = cause
    err = describe(exc, AT, "GET /api", 30.0)
    assert str(err) == (
        "cannot connect to https://api.example.com:6443 (Network is unreachable); check the"
        " network path to the API server (VPN, firewall, proxy)"
    )


def test_the_server_url_is_shown_without_its_user_information() -> None:
    at = Endpoint("https://admin:s3cret@api.example.com:6443/", "prod")
    err = describe(ConnectionRefusedError(111, "Connection refused"), at, "GET /api", 30.0)
    assert "s3cret" not in str(err) and "admin" not in str(err)
    assert str(err).startswith("connection refused by https://api.example.com:6443;")
