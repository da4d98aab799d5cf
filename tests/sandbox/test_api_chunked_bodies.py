"""Request bodies sent with ``Transfer-Encoding: chunked`` (what client-go streams from a file).

``kubectl create --raw PATH -f FILE`` POSTs the file with no Content-Length and no
Content-Type; the sandbox read a zero-length body (and then parsed the chunks as the next
request on the connection).
"""

from __future__ import annotations

import http.client
import json
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kube_sandbox.testing import SandboxHandle


def _chunked_post(sb: SandboxHandle, path: str, body: bytes, headers: dict[str, str]) -> Any:
    url = urlsplit(sb.url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port)
    try:
        conn.request("POST", path, body=iter([body[:5], body[5:]]), headers=headers)
        resp = conn.getresponse()
        answer = (resp.status, json.loads(resp.read()))
        # the connection is still in step: a second request on it is answered normally
        conn.request("GET", "/version")
        follow = conn.getresponse()
        follow.read()
        assert follow.status == 200
        return answer
    finally:
        conn.close()


def test_kubectl_create_raw_with_a_file_posts_its_body(
    kubectl_binary: Any, bare_sandbox: SandboxHandle, tmp_path: Path
) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "raw"}, "data": {"a": "1"}}
    path = tmp_path / "cm.json"
    path.write_text(json.dumps(cm))

    proc = subprocess.run(
        [
            kubectl_binary.path,
            f"--kubeconfig={bare_sandbox.kubeconfig}",
            f"--cache-dir={tmp_path / 'cache'}",
            "create",
            "--raw",
            "/api/v1/namespaces/default/configmaps",
            "-f",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["data"] == {"a": "1"}
    assert bare_sandbox.store.get("/configmaps", "default", "raw")["data"] == {"a": "1"}


def test_fault_settings_posted_chunked_are_applied(bare_sandbox: SandboxHandle) -> None:
    body = json.dumps({"error_503": 0.25, "seed": 7}).encode()

    status, answer = _chunked_post(
        bare_sandbox, "/_sandbox/faults", body, bare_sandbox.admin_headers
    )

    assert status == 200
    assert answer["settings"]["error_503"] == 0.25
    assert bare_sandbox.faults.describe()["settings"]["seed"] == 7


def test_kubectl_create_raw_on_the_admin_endpoint_says_how_to_reach_it(
    kubectl_binary: Any, bare_sandbox: SandboxHandle, tmp_path: Path
) -> None:
    # client-go sends no credentials over plain HTTP: kubectl cannot pass the admin token
    path = tmp_path / "faults.json"
    path.write_text(json.dumps({"error_503": 0.5}))

    proc = subprocess.run(
        [
            kubectl_binary.path,
            f"--kubeconfig={bare_sandbox.kubeconfig}",
            f"--token={bare_sandbox.admin_token}",
            "create",
            "--raw",
            "/_sandbox/faults",
            "-f",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert proc.returncode == 1
    assert "kubectl sends no credentials over plain HTTP, so there use curl" in proc.stderr
    assert bare_sandbox.faults.describe()["settings"]["error_503"] == 0.0


def test_kubectl_create_raw_sets_faults_over_tls_with_the_admin_token(
    kubectl_binary: Any, tmp_path: Path
) -> None:
    # over TLS kubectl sends the token it is given: the admin endpoint reads the file it posts
    from kube_sandbox.testing import running_sandbox

    path = tmp_path / "faults.json"
    path.write_text(json.dumps({"error_503": 0.5, "seed": 3}))
    with running_sandbox(tmp_path, tls=True, controllers=False) as sb:
        proc = subprocess.run(
            [
                kubectl_binary.path,
                f"--kubeconfig={sb.kubeconfig}",
                f"--cache-dir={tmp_path / 'cache'}",
                f"--token={sb.admin_token}",
                "create",
                "--raw",
                "/_sandbox/faults",
                "-f",
                str(path),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["settings"]["error_503"] == 0.5
        assert sb.faults.describe()["settings"]["seed"] == 3
        read = subprocess.run(
            [kubectl_binary.path, f"--kubeconfig={sb.kubeconfig}",
             f"--cache-dir={tmp_path / 'cache'}", f"--token={sb.admin_token}",
             "get", "--raw", "/_sandbox/faults"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert read.returncode == 0, read.stderr
        assert json.loads(read.stdout)["settings"]["seed"] == 3
        refused = subprocess.run(  # the kubeconfig's own (cluster-admin) token is not the admin's
            [kubectl_binary.path, f"--kubeconfig={sb.kubeconfig}",
             f"--cache-dir={tmp_path / 'cache'}", "get", "--raw", "/_sandbox/faults"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert refused.returncode == 1
        assert "You must be logged in to the server (the admin endpoints /_sandbox/ need" in (
            refused.stderr
        )
