"""Cluster access through the real CLI: unreachable servers, bad contexts, secrets kept out.

Every verb that talks to the cluster must turn a refused connection or a wrong kubeconfig into
one clear line and the documented exit code, never a traceback; and the credentials of the
kubeconfig must never reach what ci-deploy prints or records.
"""

from __future__ import annotations

import base64
import json
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

IMAGE = "registry.example.com/acme/web-app"
TOKEN = "kube-token-7f3a9c2e-do-not-print"
CLIENT_KEY = "-----BEGIN PRIVATE KEY-----\nfake-client-key-5d1e\n-----END PRIVATE KEY-----\n"
CLUSTER_VERBS = [
    ("plan", "--env", "staging", "--image", f"{IMAGE}:1.0.0"),
    ("status", "--env", "staging"),
    ("rollback", "--env", "staging"),
    ("deploy", "--env", "staging", "--image", f"{IMAGE}:1.0.0", "--lock-timeout", "1s"),
    ("deploy", "--env", "staging", "--image", f"{IMAGE}:1.0.0", "--dry-run"),
]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def kubeconfig_with_secrets(source: Path, target: Path, server: str | None = None) -> Path:
    """``source`` with a bearer token and a client key for its user (and optionally a server)."""
    doc = yaml.safe_load(source.read_text())
    doc["users"][0]["user"] = {
        "token": TOKEN,
        "client-key-data": base64.b64encode(CLIENT_KEY.encode()).decode(),
    }
    if server is not None:
        doc["clusters"][0]["cluster"]["server"] = server
    target.write_text(yaml.safe_dump(doc))
    return target


def assert_no_secret(*texts: str) -> None:
    key_b64 = base64.b64encode(CLIENT_KEY.encode()).decode()
    for text in texts:
        assert TOKEN not in text
        assert "fake-client-key-5d1e" not in text
        assert key_b64 not in text


@pytest.mark.parametrize("args", CLUSTER_VERBS, ids=lambda a: " ".join(a[:1] + a[-1:]))
def test_an_unreachable_api_server_is_one_clear_line_exit_1(
    engine: Any, tmp_path: Path, args: tuple[str, ...]
) -> None:
    server = f"http://127.0.0.1:{closed_port()}"
    kubeconfig = kubeconfig_with_secrets(engine.sb.kubeconfig, tmp_path / "refused", server)
    result = engine.run(*args, KUBECONFIG=str(kubeconfig))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "error: Kubernetes API:" in result.stderr
    assert "Connection refused" in result.stderr
    assert_no_secret(result.stdout, result.stderr)


@pytest.mark.parametrize("verb", ["plan", "deploy"])
def test_a_bad_image_is_bad_input_before_the_cluster_is_asked(
    engine: Any, tmp_path: Path, verb: str
) -> None:
    server = f"http://127.0.0.1:{closed_port()}"  # asking it would fail with exit 1, not 2
    kubeconfig = kubeconfig_with_secrets(engine.sb.kubeconfig, tmp_path / "refused", server)
    result = engine.run(
        verb, "--env", "staging", "--image", "Not An Image", KUBECONFIG=str(kubeconfig)
    )
    assert result.returncode == 2, result.stderr
    assert "not a valid image reference" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("verb", ["plan", "status", "rollback", "deploy"])
def test_a_context_missing_from_the_kubeconfig_is_bad_input(engine: Any, verb: str) -> None:
    image = ["--image", f"{IMAGE}:1.0.0"] if verb in ("plan", "deploy") else []
    result = engine.run(verb, "--env", "staging", *image, "--context", "no-such-context")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "context 'no-such-context'" in result.stderr
    assert "--context" in result.stderr  # the hint names the way out


def test_a_missing_kubeconfig_is_bad_input(engine: Any, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-kubeconfig"
    result = engine.run("status", "--env", "staging", "--kubeconfig", str(missing))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"cannot use {missing}" in result.stderr


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
