"""``ci-deploy sandbox serve`` as a process, the kubeconfig it writes, the state file."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
import yaml

from ci_deploy.sandbox.kubeconfig import write_kubeconfig
from ci_deploy.sandbox.testing import deployment_manifest, running_sandbox

READY = re.compile(
    r"^ci-deploy sandbox: serving (http://127\.0\.0\.1:\d+) "
    r"\(kubeconfig: (.+), context ci-deploy-sandbox\)$"
)


@contextmanager
def serve(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ci_deploy", "sandbox", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().rstrip("\n")  # blocks until the ready line is flushed
        match = READY.match(line)
        assert match, (
            f"unexpected ready line {line!r}; stderr: {proc.stderr.read() if proc.stderr else ''}"
        )
        yield proc, match.group(1)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def serve_once(*args: str) -> subprocess.CompletedProcess[str]:
    """``ci-deploy sandbox serve ARGS`` expected to exit at once (bad input)."""
    return subprocess.run(
        [sys.executable, "-m", "ci_deploy", "sandbox", "serve", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_serve_prints_ready_line_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    kubeconfig, state = tmp_path / "kc.yaml", tmp_path / "state.json"
    with serve("--kubeconfig", str(kubeconfig), "--state-file", str(state)) as (proc, url):
        assert requests.get(url + "/version", timeout=5).json()["major"] == "1"
        config = yaml.safe_load(kubeconfig.read_text())
        assert config["current-context"] == "ci-deploy-sandbox"
        assert config["clusters"] == [{"name": "ci-deploy-sandbox", "cluster": {"server": url}}]
        resp = requests.post(
            url + "/api/v1/namespaces/default/configmaps",
            json={"metadata": {"name": "kept"}, "data": {"a": "1"}},
            timeout=5,
        )
        assert resp.status_code == 201
        uid = resp.json()["metadata"]["uid"]
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
        assert proc.returncode == 0
        assert f"ci-deploy sandbox: stopped, state saved to {state}" in out
    assert state.exists()
    with serve("--kubeconfig", str(kubeconfig), "--state-file", str(state)) as (proc, url):
        kept = requests.get(url + "/api/v1/namespaces/default/configmaps/kept", timeout=5).json()
        assert kept["metadata"]["uid"] == uid and kept["data"] == {"a": "1"}
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=15)
        assert proc.returncode == 0


def test_serve_on_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = serve_once("--port", str(port), "--kubeconfig", str(tmp_path / "kc"))
    assert result.returncode == 2
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_state_file_survives_restart_in_process(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with running_sandbox(tmp_path, state_file=state, controllers=False) as sb:
        created = requests.post(
            sb.url + "/apis/coordination.k8s.io/v1/namespaces/default/leases",
            json={"metadata": {"name": "lock"}, "spec": {"holderIdentity": "job-1"}},
            timeout=5,
        ).json()
        rv = int(created["metadata"]["resourceVersion"])
    assert not list(tmp_path.glob(".state.json.*.tmp"))  # written atomically, no leftovers
    with running_sandbox(tmp_path, state_file=state, controllers=False) as sb:
        lease = requests.get(
            sb.url + "/apis/coordination.k8s.io/v1/namespaces/default/leases/lock", timeout=5
        ).json()
        assert lease["spec"]["holderIdentity"] == "job-1"
        assert lease["metadata"]["uid"] == created["metadata"]["uid"]
        lease["spec"]["holderIdentity"] = "job-2"
        updated = requests.put(
            sb.url + "/apis/coordination.k8s.io/v1/namespaces/default/leases/lock",
            json=lease,
            timeout=5,
        ).json()
        assert int(updated["metadata"]["resourceVersion"]) > rv
        watch = requests.get(
            sb.url + "/apis/coordination.k8s.io/v1/leases",
            params={"watch": "true", "resourceVersion": "1"},
            stream=True,
            timeout=5,
        )
        first = next(line for line in watch.iter_lines() if line)
        assert b'"code":410' in first  # history does not survive a restart
        watch.close()


def test_kubeconfig_merges_into_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "prod", "cluster": {"server": "https://prod.example"}}],
                "users": [{"name": "prod", "user": {}}],
                "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "prod"}}],
                "current-context": "prod",
            }
        )
    )
    write_kubeconfig(path, "http://127.0.0.1:1234")
    write_kubeconfig(path, "http://127.0.0.1:5678")
    config = yaml.safe_load(path.read_text())
    assert [c["name"] for c in config["clusters"]] == ["prod", "ci-deploy-sandbox"]
    assert config["clusters"][1]["cluster"]["server"] == "http://127.0.0.1:5678"
    assert [c["name"] for c in config["contexts"]] == ["prod", "ci-deploy-sandbox"]
    assert config["current-context"] == "ci-deploy-sandbox"
    assert os.access(path, os.R_OK)


def test_serve_fault_flags_and_no_controllers(tmp_path: Path) -> None:
    args = (
        "--kubeconfig",
        str(tmp_path / "kc"),
        "--no-controllers",
        "--fault-503",
        "1",
        "--fault-seed",
        "5",
    )
    with serve(*args) as (proc, url):
        assert requests.get(url + "/version", timeout=5).status_code == 200  # discovery is spared
        resp = requests.get(url + "/api/v1/namespaces/default/configmaps", timeout=5)
        assert resp.status_code == 503 and resp.json()["reason"] == "ServiceUnavailable"
        state = requests.get(url + "/_sandbox/faults", timeout=5).json()
        assert state["settings"]["error_503"] == 1.0 and state["settings"]["seed"] == 5
        assert state["counts"] == {"503": 1}
        requests.post(url + "/_sandbox/faults", json={"reset": True}, timeout=5)
        deployment = deployment_manifest("web", "app:1", 1)
        requests.post(
            url + "/apis/apps/v1/namespaces/default/deployments", json=deployment, timeout=5
        )
        replicasets = requests.get(
            url + "/apis/apps/v1/namespaces/default/replicasets", timeout=5
        ).json()
        assert replicasets["items"] == []  # no controllers: nothing reacted
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    assert "injected fault 503: GET /api/v1/namespaces/default/configmaps" in err


def test_running_sandbox_starts_and_stops_the_controllers(tmp_path: Path) -> None:
    with running_sandbox(tmp_path) as sb:
        manager = sb.server.controllers
        assert manager is not None and type(manager).__name__ == "ControllerManager"
    with running_sandbox(tmp_path, controllers=False) as sb:
        assert sb.server.controllers is None


def test_serve_with_a_broken_state_file_is_a_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    for content in ("{not json", '{"objects": [{"resource": "/pods"}]}'):
        state.write_text(content)
        result = serve_once("--kubeconfig", str(tmp_path / "kc"), "--state-file", str(state))
        assert result.returncode == 2
        assert f"cannot load --state-file {state}" in result.stderr
        assert "Traceback" not in result.stderr


def test_clients_resetting_connections_print_no_tracebacks(tmp_path: Path) -> None:
    with serve("--kubeconfig", str(tmp_path / "kc.yaml")) as (proc, url):
        port = int(url.rsplit(":", 1)[1])
        for _ in range(5):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            # SO_LINGER 0: close with a TCP reset while the server waits for the next request
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            sock.close()
        assert requests.get(url + "/version", timeout=5).status_code == 200
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 0
        assert "Traceback" not in stderr
        assert "ConnectionResetError" not in stderr
