"""Kubeconfigs carrying credentials, and checks of what ci-deploy prints, for the tests of
cluster access (test_cluster_access.py, test_kubeconfig_errors.py)."""

from __future__ import annotations

import base64
import socket
import subprocess
from pathlib import Path

import yaml

IMAGE = "registry.example.com/acme/web-app"
TOKEN = "kube-token-7f3a9c2e-do-not-print"
CLUSTER = "ci-deploy-sandbox"  # the sandbox kubeconfig's cluster and context, named in messages
CLIENT_KEY = "-----BEGIN PRIVATE KEY-----\nfake-client-key-5d1e\n-----END PRIVATE KEY-----\n"


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


def only_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line ci-deploy printed on stderr (asserting there is just one, no traceback)."""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]
