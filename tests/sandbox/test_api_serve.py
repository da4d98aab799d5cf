"""``ci-deploy sandbox serve`` as a process, the kubeconfig it writes, the state file.

These run it with ``--insecure-http`` (plain HTTP: the kubeconfig and state mechanics are the
same); its TLS and tokens, the default, are tests/sandbox/test_tls_auth.py's."""

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
from typing import Any

import pytest
import requests
import yaml

from kube_sandbox.apiserver.kubeconfig import default_kubeconfig
from kube_sandbox.testing import deployment_manifest, running_sandbox

SERVE = (sys.executable, "-m", "ci_deploy", "sandbox", "serve")
READY = re.compile(
    r"^ci-deploy sandbox: serving (http://127\.0\.0\.1:\d+) "
    r"\(kubeconfig: (.+), context ci-deploy-sandbox\)$"
)


@contextmanager
def serve(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [*SERVE, "--port", "0", "--insecure-http", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
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


def admin_token(kubeconfig: Path) -> str:
    """The admin token a serving sandbox wrote next to its kubeconfig."""
    return kubeconfig.with_name(kubeconfig.name + ".admin-token").read_text().strip()


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


PROD = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "prod", "cluster": {"server": "https://prod.example"}}],
    "users": [{"name": "prod", "user": {"token": "t0ken"}}],
    "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "prod"}}],
    "current-context": "prod",
}


def existing_kubeconfig(tmp_path: Path) -> Path:
    """A user's kubeconfig, as written by hand (comments, own layout)."""
    path = tmp_path / "config"
    path.write_text("# my clusters\n" + yaml.safe_dump(PROD, default_flow_style=True))
    path.chmod(0o600)
    return path


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0
    return out


def names(config: dict[str, Any], section: str) -> list[str]:
    return [entry["name"] for entry in config[section]]


def test_an_existing_kubeconfig_is_left_alone_without_merge(tmp_path: Path) -> None:
    path = existing_kubeconfig(tmp_path)
    before = path.read_bytes()
    result = serve_once("--kubeconfig", str(path))
    assert result.returncode == 2
    assert result.stderr == (
        f"error: --kubeconfig {path} exists; the sandbox writes only a kubeconfig it creates\n"
        "  hint: pass --merge to add the ci-deploy-sandbox context to it (removed again on"
        " stop), or choose another path with --kubeconfig\n"
    )
    assert path.read_bytes() == before


def test_a_kubeconfig_left_by_a_killed_sandbox_gets_its_own_hint(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    with serve("--kubeconfig", str(path)) as (proc, _url):
        proc.kill()  # no chance to clean up
        proc.wait(timeout=10)
    result = serve_once("--kubeconfig", str(path))
    assert result.returncode == 2
    assert result.stderr.splitlines()[1] == (
        "  hint: it holds only ci-deploy-sandbox entries: another sandbox serves it, or one was"
        " killed before it could remove it (delete it then), or choose another path with"
        " --kubeconfig"
    )


def test_use_context_without_merge_is_bad_input(tmp_path: Path) -> None:
    result = serve_once("--kubeconfig", str(tmp_path / "kc"), "--use-context")
    assert result.returncode == 2
    assert "--use-context needs --merge" in result.stderr
    assert not (tmp_path / "kc").exists()


def test_merge_adds_the_sandbox_entries_and_stop_restores_the_file(tmp_path: Path) -> None:
    path = existing_kubeconfig(tmp_path)
    before = path.read_bytes()
    with serve("--kubeconfig", str(path), "--merge") as (proc, url):
        config = yaml.safe_load(path.read_text())
        assert names(config, "clusters") == ["prod", "ci-deploy-sandbox"]
        assert names(config, "users") == ["prod", "ci-deploy-sandbox"]
        assert names(config, "contexts") == ["prod", "ci-deploy-sandbox"]
        assert config["clusters"][1]["cluster"] == {"server": url}
        assert config["current-context"] == "prod"  # switched only with --use-context
        assert path.stat().st_mode & 0o777 == 0o600
        assert (tmp_path / "config.admin-token").is_file()
        out = stop(proc)
    assert f"ci-deploy sandbox: stopped, ci-deploy-sandbox removed from {path}" in out
    assert path.read_bytes() == before  # nobody else changed it: restored byte for byte
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config"]  # the token file went


def test_merge_use_context_switches_and_stop_switches_back(tmp_path: Path) -> None:
    path = existing_kubeconfig(tmp_path)
    with serve("--kubeconfig", str(path), "--merge", "--use-context") as (proc, _url):
        config = yaml.safe_load(path.read_text())
        assert config["current-context"] == "ci-deploy-sandbox"
        # meanwhile someone adds a context of their own (kubectl config set-context …)
        config["contexts"].append({"name": "dev", "context": {"cluster": "prod", "user": "prod"}})
        path.write_text(yaml.safe_dump(config))
        stop(proc)
    config = yaml.safe_load(path.read_text())
    assert config == {**PROD, "contexts": [*PROD["contexts"], config["contexts"][1]]}
    assert names(config, "contexts") == ["prod", "dev"]  # theirs kept, ours gone
    assert config["current-context"] == "prod"


def test_merge_into_a_file_that_is_not_a_kubeconfig_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("- just\n- a list\n")
    result = serve_once("--kubeconfig", str(path), "--merge")
    assert result.returncode == 2
    assert result.stderr.startswith(
        f"error: --kubeconfig {path}: cannot merge into it: not a kubeconfig (a YAML mapping)"
    )
    assert path.read_text() == "- just\n- a list\n"


def test_a_kubeconfig_the_sandbox_created_is_removed_on_stop(tmp_path: Path) -> None:
    path = tmp_path / "new" / "kubeconfig"
    with serve("--kubeconfig", str(path)) as (proc, _url):
        config = yaml.safe_load(path.read_text())
        assert config["current-context"] == "ci-deploy-sandbox"
        out = stop(proc)
    assert f"ci-deploy sandbox: stopped, {path} removed" in out
    assert not path.exists()


def test_the_default_kubeconfig_is_outside_the_working_tree(tmp_path: Path) -> None:
    repo, runtime = tmp_path / "repo", tmp_path / "run"
    repo.mkdir()
    runtime.mkdir()
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    with serve(env=env, cwd=repo) as (proc, _url):
        path = runtime / "ci-deploy" / "sandbox" / "kubeconfig"
        assert yaml.safe_load(path.read_text())["current-context"] == "ci-deploy-sandbox"
        assert list(repo.iterdir()) == []
        stop(proc)
    assert not path.exists()
    assert list(repo.iterdir()) == []


def test_default_kubeconfig_follows_xdg_runtime_then_cache_then_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run, cache = str(tmp_path / "run"), str(tmp_path / "cache")
    tail = Path("ci-deploy", "sandbox", "kubeconfig")
    assert default_kubeconfig({"XDG_RUNTIME_DIR": run, "XDG_CACHE_HOME": cache}, home) == Path(
        run, tail
    )
    assert default_kubeconfig({"XDG_CACHE_HOME": cache}, home) == Path(cache, tail)
    assert default_kubeconfig({"XDG_RUNTIME_DIR": "relative"}, home) == home / ".cache" / tail
    assert default_kubeconfig({}, home) == home / ".cache" / tail


def test_running_sandbox_removes_its_kubeconfig(tmp_path: Path) -> None:
    with running_sandbox(tmp_path, controllers=False) as sb:
        assert yaml.safe_load(sb.kubeconfig.read_text())["clusters"][0]["cluster"] == {
            "server": sb.url
        }
        assert admin_token(sb.kubeconfig) == sb.admin_token
    assert not sb.kubeconfig.exists()
    assert list(tmp_path.iterdir()) == []  # the token file went too


def test_stop_leaves_a_token_file_another_sandbox_rewrote(tmp_path: Path) -> None:
    with running_sandbox(tmp_path, controllers=False) as sb:
        token_file = tmp_path / "kubeconfig.admin-token"
        token_file.write_text("theirs\n")  # a second sandbox merged into the same kubeconfig
    assert token_file.read_text() == "theirs\n"
    assert not sb.kubeconfig.exists()


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_serve_refuses_to_bind_off_loopback(tmp_path: Path, host: str) -> None:
    result = serve_once("--host", host, "--kubeconfig", str(tmp_path / "kc"))
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        f"error: --host {host} is not a loopback address: the sandbox is a local test cluster, "
        "so it serves only on loopback (127.0.0.0/8, ::1, localhost)"
    )
    assert list(tmp_path.iterdir()) == []


def test_serve_writes_the_admin_token_next_to_the_kubeconfig_and_removes_both(
    tmp_path: Path,
) -> None:
    kubeconfig, token_file = tmp_path / "kc", tmp_path / "kc.admin-token"
    with serve("--kubeconfig", str(kubeconfig)) as (proc, url):
        assert proc.stdout is not None
        assert proc.stdout.readline() == (
            "ci-deploy sandbox: plain HTTP without authentication (--insecure-http): every "
            "local client is cluster-admin\n"
        )
        assert proc.stdout.readline() == (
            f"ci-deploy sandbox: admin token in {token_file} "
            "(for /_sandbox/: 'Authorization: Bearer <token>')\n"
        )
        assert token_file.stat().st_mode & 0o777 == 0o600
        token = token_file.read_text().strip()
        assert requests.get(url + "/_sandbox/state", timeout=5).status_code == 401
        auth = {"Authorization": f"Bearer {token}"}
        assert requests.get(url + "/_sandbox/state", headers=auth, timeout=5).status_code == 200
        stop(proc)
    assert list(tmp_path.iterdir()) == []


def test_serve_fault_flags_and_no_controllers(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc"
    args = (
        "--kubeconfig",
        str(kubeconfig),
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
        auth = {"Authorization": f"Bearer {admin_token(kubeconfig)}"}
        state = requests.get(url + "/_sandbox/faults", headers=auth, timeout=5).json()
        assert state["settings"]["error_503"] == 1.0 and state["settings"]["seed"] == 5
        assert state["counts"] == {"503": 1}
        requests.post(url + "/_sandbox/faults", json={"reset": True}, headers=auth, timeout=5)
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
            sock.sendall(b"GET /version HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % port)
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


def test_a_token_file_that_cannot_be_written_takes_the_kubeconfig_back(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc"
    (tmp_path / "kc.admin-token").mkdir()  # in the way: the token cannot be written
    result = serve_once("--kubeconfig", str(kubeconfig))
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: cannot write the admin token {kubeconfig}.admin-token")
    assert "Traceback" not in result.stderr
    assert not kubeconfig.exists()


def test_serve_installs_the_gateway_api_crds_unless_told_not_to(tmp_path: Path) -> None:
    route_path = "/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes"
    crd_path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    with serve("--kubeconfig", str(tmp_path / "kc")) as (proc, url):
        assert requests.get(url + route_path, timeout=5).json()["kind"] == "HTTPRouteList"
        names = [
            c["metadata"]["name"] for c in requests.get(url + crd_path, timeout=5).json()["items"]
        ]
        assert names == ["httproutes.gateway.networking.k8s.io"]
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
    with serve("--kubeconfig", str(tmp_path / "kc2"), "--no-gateway-api") as (proc, url):
        assert requests.get(url + route_path, timeout=5).status_code == 404
        assert requests.get(url + crd_path, timeout=5).json()["items"] == []
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
