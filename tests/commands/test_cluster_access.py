"""Cluster access through the real CLI: unreachable servers, bad contexts, secrets kept out.

Every verb that talks to the cluster must turn a refused connection, a TLS failure, a timeout or a
wrong kubeconfig into one clear line and the documented exit code, never a traceback (unless
``--debug``); and the credentials of the kubeconfig must never reach what ci-deploy prints or
records. TLS is real: a proxy with certificates minted here (tests/kube/tls.py).
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.commands.access import (
    CLUSTER,
    IMAGE,
    assert_no_secret,
    closed_port,
    kubeconfig_with_secrets,
    only_line,
)
from tests.kube import tls

CLUSTER_VERBS = [
    ("plan", "--env", "staging", "--image", f"{IMAGE}:1.0.0"),
    ("status", "--env", "staging"),
    ("rollback", "--env", "staging"),
    ("deploy", "--env", "staging", "--image", f"{IMAGE}:1.0.0", "--lock-timeout", "1s"),
    ("deploy", "--env", "staging", "--image", f"{IMAGE}:1.0.0", "--dry-run"),
]


@pytest.mark.parametrize("args", CLUSTER_VERBS, ids=lambda a: " ".join(a[:1] + a[-1:]))
def test_an_unreachable_api_server_is_one_clear_line_exit_4(
    engine: Any, tmp_path: Path, args: tuple[str, ...]
) -> None:
    server = f"http://127.0.0.1:{closed_port()}"
    kubeconfig = kubeconfig_with_secrets(engine.sb.kubeconfig, tmp_path / "refused", server)
    result = engine.run(*args, KUBECONFIG=str(kubeconfig))
    assert result.returncode == 4, result.stderr  # failed before changing anything
    assert only_line(result) == (
        f"error: connection refused by {server}; check that the API server is running and the"
        f" server address and port of cluster {CLUSTER} in the kubeconfig"
    )
    assert_no_secret(result.stdout, result.stderr)


@pytest.mark.parametrize("verb", ["plan", "deploy"])
def test_a_bad_image_is_bad_input_before_the_cluster_is_asked(
    engine: Any, tmp_path: Path, verb: str
) -> None:
    server = f"http://127.0.0.1:{closed_port()}"  # asking it would fail with exit 4, not 2
    kubeconfig = kubeconfig_with_secrets(engine.sb.kubeconfig, tmp_path / "refused", server)
    result = engine.run(
        verb, "--env", "staging", "--image", "Not An Image", KUBECONFIG=str(kubeconfig)
    )
    assert result.returncode == 2, result.stderr
    assert "not a valid image reference" in result.stderr
    assert "Traceback" not in result.stderr


def test_kubeconfig_secrets_reach_no_output_log_or_state(engine: Any, tmp_path: Path) -> None:
    kubeconfig = str(kubeconfig_with_secrets(engine.sb.kubeconfig, tmp_path / "secret"))
    output, summary = tmp_path / "github_output", tmp_path / "summary.md"
    output.touch()
    github = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
        "KUBECONFIG": kubeconfig,
    }
    runs = [
        engine.deploy("1.0.0", **github),
        engine.deploy("crashloop", **github),  # fails, rolls back: the error paths print too
        engine.deploy("2.0.0", **github),
        engine.run("rollback", "--env", "staging", **github),  # on demand, back to 1.0.0
        engine.run("plan", "--env", "staging", "--image", f"{IMAGE}:3.0.0", KUBECONFIG=kubeconfig),
        engine.run("status", "--env", "staging", "--json", KUBECONFIG=kubeconfig),
    ]
    assert [r.returncode for r in runs] == [0, 1, 0, 0, 0, 0], [r.stderr for r in runs]
    assert json.loads(runs[5].stdout)["state"]["phase"] == "RolledBack"
    assert engine.live_image() == f"{IMAGE}:1.0.0"
    deployment = engine.deployment()
    assert "ci-deploy.dev/state" in deployment["metadata"]["annotations"]
    assert_no_secret(
        *(r.stdout + r.stderr for r in runs),
        output.read_text(),
        summary.read_text(),
        json.dumps(deployment),
        json.dumps(engine.lease()),
    )


# -- TLS and network failures through the real client (issue 8, item 6) ---------------------
# Each one is a single line naming the server and what to check, exit 4 (nothing was changed).


@pytest.fixture
def tls_server(engine: Any, tmp_path: Path) -> Iterator[Callable[[tls.ServerCertificate], str]]:
    """Start a TLS proxy in front of the sandbox with a given certificate; yields its URL."""
    with contextlib.ExitStack() as stack:

        def start(certificate: tls.ServerCertificate) -> str:
            workdir = tmp_path / f"proxy{len(stack._exit_callbacks)}"
            workdir.mkdir()
            return stack.enter_context(tls.tls_proxy(engine.sb.url, certificate, workdir))

        yield start


def tls_kubeconfig(engine: Any, tmp_path: Path, server: str, ca: tls.CertificateAuthority) -> str:
    """The sandbox kubeconfig with secrets, pointed at ``server`` and trusting ``ca``."""
    with_secrets = kubeconfig_with_secrets(engine.sb.kubeconfig, tmp_path / "secrets", server)
    return str(tls.kubeconfig_for(with_secrets, tmp_path / "kubeconfig", server, ca))


def untrusted(url: str) -> str:
    return (
        f"error: TLS: the certificate of {url} is not trusted (unable to get local issuer "
        f"certificate); check certificate-authority-data in the kubeconfig for cluster {CLUSTER}"
    )


def expired(url: str) -> str:
    return (
        f"error: TLS: the certificate of {url} has expired; renew the API server's certificate,"
        " or check this machine's clock"
    )


def other_host(url: str) -> str:
    return (
        f"error: TLS: the certificate of {url} is not valid for 127.0.0.1 (IP address mismatch);"
        f" check the server address of cluster {CLUSTER} in the kubeconfig, or set"
        " tls-server-name to a name the certificate has"
    )


TLS_CASES = {
    "wrong CA": (lambda ca: tls.issue(tls.make_ca("another CA")), untrusted),
    "expired": (lambda ca: tls.issue(ca, expired=True), expired),
    "other host name": (lambda ca: tls.issue(ca, ("api.other.example.com",)), other_host),
}


@pytest.mark.parametrize("case", TLS_CASES)
def test_a_certificate_the_kubeconfig_cannot_trust_is_one_line_exit_4(
    engine: Any, tmp_path: Path, tls_server: Any, case: str
) -> None:
    make_certificate, expected = TLS_CASES[case]
    ca = tls.make_ca()
    url = tls_server(make_certificate(ca))
    kubeconfig = tls_kubeconfig(engine, tmp_path, url, ca)
    result = engine.run(*CLUSTER_VERBS[3], KUBECONFIG=kubeconfig)  # deploy
    assert result.returncode == 4, result.stderr
    assert only_line(result) == expected(url)
    assert_no_secret(result.stdout, result.stderr)


def test_debug_adds_the_traceback_after_the_line_and_still_no_secret(
    engine: Any, tmp_path: Path, tls_server: Any
) -> None:
    ca = tls.make_ca()
    url = tls_server(tls.issue(tls.make_ca("another CA")))
    kubeconfig = tls_kubeconfig(engine, tmp_path, url, ca)
    result = engine.run("--debug", "status", "--env", "staging", KUBECONFIG=kubeconfig)
    assert result.returncode == 4, result.stderr
    first, *rest = result.stderr.splitlines()
    assert first == untrusted(url)
    traceback = "\n".join(rest)
    assert traceback.startswith("Traceback (most recent call last):")
    assert "SSLCertVerificationError" in traceback  # the underlying exception, as raised
    assert_no_secret(result.stdout, result.stderr)


def test_a_good_certificate_deploys_end_to_end_through_tls(
    engine: Any, tmp_path: Path, tls_server: Any
) -> None:
    ca = tls.make_ca()
    url = tls_server(tls.issue(ca))
    kubeconfig = tls_kubeconfig(engine, tmp_path, url, ca)
    result = engine.deploy("1.0.0", KUBECONFIG=kubeconfig)
    assert result.returncode == 0, result.stderr
    assert engine.live_image() == f"{IMAGE}:1.0.0"
    status = engine.run("status", "--env", "staging", "--json", KUBECONFIG=kubeconfig)
    assert json.loads(status.stdout)["state"]["phase"] == "Succeeded", status.stderr
    assert_no_secret(result.stdout, result.stderr, status.stdout, status.stderr)


def test_a_server_name_that_does_not_resolve_is_one_line(engine: Any, tmp_path: Path) -> None:
    url = "https://no-such-host.invalid:6443"
    try:  # the resolver's own words for the name, as this machine says them
        socket.getaddrinfo("no-such-host.invalid", 6443)
    except socket.gaierror as exc:
        reason = exc.strerror
    else:
        pytest.skip("this machine resolves .invalid names")
    kubeconfig = tls_kubeconfig(engine, tmp_path, url, tls.make_ca())
    result = engine.run("status", "--env", "staging", KUBECONFIG=kubeconfig)
    assert result.returncode == 4, result.stderr
    assert only_line(result) == (
        f"error: DNS: cannot resolve no-such-host.invalid ({reason}) for {url}; check the server"
        f" address of cluster {CLUSTER} in the kubeconfig, and this machine's DNS (or VPN)"
    )
    assert_no_secret(result.stdout, result.stderr)


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_a_server_that_never_answers_times_out_per_request_timeout(
    engine: Any, tmp_path: Path, scheme: str
) -> None:
    with tls.silent_listener() as https_url:
        url = https_url.replace("https:", f"{scheme}:")
        kubeconfig = tls_kubeconfig(engine, tmp_path, url, tls.make_ca())
        started = time.monotonic()
        result = engine.run(
            "status", "--env", "staging", "--request-timeout", "1s", KUBECONFIG=kubeconfig
        )
        elapsed = time.monotonic() - started
    assert result.returncode == 4, result.stderr
    # Timeouts are retried (bounded): 8 attempts of 1s plus backoff, far below the default 30s.
    assert elapsed < 30
    stalled = (
        "did not complete the TLS handshake"
        if scheme == "https"
        else "did not answer GET /apis/apps/v1/namespaces/web-app-staging/deployments/web-app"
    )
    assert only_line(result) == (
        f"error: timeout: {url} {stalled} within 1s; the API server may be overloaded, or the"
        " address is not an API server: retry, or raise --request-timeout"
    )
    assert_no_secret(result.stdout, result.stderr)


def test_a_bad_request_timeout_is_bad_input(engine: Any) -> None:
    result = engine.run("status", "--env", "staging", "--request-timeout", "soon")
    assert result.returncode == 2, result.stderr
    assert only_line(result).startswith("error: --request-timeout: ")
