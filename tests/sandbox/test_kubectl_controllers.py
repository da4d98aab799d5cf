"""More controller behaviour through kubectl: pause/resume, restart, Recreate, orphans, Services."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kube_sandbox.testing import SandboxHandle, wait_until

pytestmark = pytest.mark.kubectl
Obj = dict[str, Any]
NS = "default"


class Kubectl:
    """Runs one kubectl binary (conftest.KubectlBinary) against one sandbox."""

    def __init__(self, binary: Any, sandbox: SandboxHandle, tmp: Path) -> None:
        self.base = [
            binary.path,
            f"--kubeconfig={sandbox.kubeconfig}",
            f"--cache-dir={tmp / 'kube-cache'}",
            f"--namespace={NS}",
        ]
        self.tmp = tmp

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        proc = subprocess.run(
            [*self.base, *args], input=stdin, capture_output=True, text=True, timeout=90
        )
        assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stdout}{proc.stderr}"
        return proc.stdout

    def json(self, *args: str) -> Obj:
        result: Obj = json.loads(self("get", *args, "-o", "json"))
        return result


def manifest(name: str, image: str, replicas: int = 3, strategy: str = "") -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
{strategy}  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: app
        image: {image}
        ports: [{{name: http, containerPort: 8080}}]
"""


@pytest.fixture
def kubectl(kubectl_binary: Any, sandbox: SandboxHandle, tmp_path: Path) -> Kubectl:
    """kubectl against the sandbox, once per kubectl binary (tests/sandbox/conftest.py)."""
    return Kubectl(kubectl_binary, sandbox, tmp_path)


def images(kubectl: Kubectl, app: str) -> list[str]:
    pods = kubectl.json("pods", "-l", f"app={app}")["items"]
    return sorted(p["spec"]["containers"][0]["image"] for p in pods)


def test_paused_rollout_waits_for_resume(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", stdin=manifest("web", "nginx:1"))
    kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    kubectl("rollout", "pause", "deployment/web")
    kubectl("set", "image", "deployment/web", "app=nginx:2")
    d = wait_until(
        lambda: (x := kubectl.json("deployment", "web"))["status"]["observedGeneration"] == 3 and x
    )
    progressing = next(c for c in d["status"]["conditions"] if c["type"] == "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("Unknown", "DeploymentPaused")
    assert len(kubectl.json("replicasets", "-l", "app=web")["items"]) == 1
    assert images(kubectl, "web") == ["nginx:1"] * 3
    kubectl("rollout", "resume", "deployment/web")
    kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    assert wait_until(lambda: images(kubectl, "web") == ["nginx:2"] * 3)


def test_rollout_restart_replaces_every_pod(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", stdin=manifest("web", "nginx:1", 2))
    kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    before = {p["metadata"]["name"] for p in kubectl.json("pods", "-l", "app=web")["items"]}
    assert "restarted" in kubectl("rollout", "restart", "deployment/web")
    kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    after = wait_until(
        lambda: (
            len(
                x := {p["metadata"]["name"] for p in kubectl.json("pods", "-l", "app=web")["items"]}
            )
            == 2
            and x
        )
    )
    assert not before & after
    history = kubectl("rollout", "history", "deployment/web").split()
    assert "1" in history and "2" in history


def test_recreate_strategy_through_kubectl(kubectl: Kubectl, sandbox: SandboxHandle) -> None:
    recreate = "  strategy: {type: Recreate}\n"
    kubectl("apply", "-f", "-", stdin=manifest("db", "pg:1", 2, recreate))
    kubectl("rollout", "status", "deployment/db", "--timeout=60s")
    mixed = []

    def watch(event: Any) -> None:
        if event.resource == "/pods":
            pods, _ = sandbox.store.list("/pods", NS)
            found = {p["spec"]["containers"][0]["image"] for p in pods}
            mixed.append(found == {"pg:1", "pg:2"})

    sandbox.store.subscribe(watch)
    kubectl("set", "image", "deployment/db", "app=pg:2")
    kubectl("rollout", "status", "deployment/db", "--timeout=60s")
    assert images(kubectl, "db") == ["pg:2", "pg:2"]
    assert mixed and not any(mixed)  # old and new pods never ran side by side


def test_orphan_delete_keeps_pods_and_a_reapply_adopts_them(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", stdin=manifest("web", "nginx:1", 2))
    kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    [rs] = kubectl.json("replicasets", "-l", "app=web")["items"]
    kubectl("delete", "deployment", "web", "--cascade=orphan")
    pods = kubectl.json("pods", "-l", "app=web")["items"]
    assert len(pods) == 2
    kubectl("apply", "-f", "-", stdin=manifest("web", "nginx:1", 2))
    kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    d = kubectl.json("deployment", "web")
    [again] = kubectl.json("replicasets", "-l", "app=web")["items"]
    assert again["metadata"]["uid"] == rs["metadata"]["uid"]
    assert again["metadata"]["ownerReferences"][0]["uid"] == d["metadata"]["uid"]
    names = {p["metadata"]["name"] for p in kubectl.json("pods", "-l", "app=web")["items"]}
    assert names == {p["metadata"]["name"] for p in pods}


def test_service_endpoints_follow_ready_pods(kubectl: Kubectl) -> None:
    service = """\
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
"""
    kubectl("apply", "-f", "-", stdin=service)
    kubectl("apply", "-f", "-", stdin=manifest("web", "nginx:1", 3))
    kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    pod_ips = {p["status"]["podIP"] for p in kubectl.json("pods", "-l", "app=web")["items"]}

    def addresses() -> set[str]:
        ep = kubectl.json("endpoints", "web")
        return {a["ip"] for s in ep.get("subsets") or [] for a in s.get("addresses") or []}

    assert wait_until(lambda: addresses() == pod_ips)
    [es] = kubectl.json("endpointslices", "-l", "kubernetes.io/service-name=web")["items"]
    assert {e["addresses"][0] for e in es["endpoints"] if e["conditions"]["ready"]} == pod_ips
    assert es["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    kubectl("scale", "deployment/web", "--replicas=1")
    wait_until(lambda: len(addresses()) == 1)


def test_describe_shows_controller_events(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", stdin=manifest("bad", "app:pullerror", 1))
    wait_until(
        lambda: (
            "ImagePullBackOff"
            in json.dumps(kubectl.json("pods", "-l", "app=bad")["items"][0]["status"])
        )
    )
    # the kubelet writes the pod's status, then its event: wait for both (bounded)
    wait_until(lambda: "Failed to pull image" in kubectl("describe", "pods", "-l", "app=bad"))
    described = kubectl("describe", "pods", "-l", "app=bad")
    assert "ImagePullBackOff" in described
    assert "Failed to pull image" in described
    deployment = kubectl("describe", "deployment", "bad")
    assert "ScalingReplicaSet" in deployment and "Scaled up replica set bad-" in deployment
