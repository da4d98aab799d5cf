"""Quick kubectl checks of the API layer: get (Table), apply, apply --server-side, diff, delete.

The full conformance suite with controllers is ``test_kubectl_conformance.py``; these check the
REST behaviours kubectl relies on, with outcomes asserted on the stored objects.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from kube_sandbox.testing import SandboxHandle, wait_until

pytestmark = pytest.mark.kubectl

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:IMAGE_TAG
        ports: [{containerPort: 80}]
"""


class Kubectl:
    def __init__(self, binary: Any, sandbox: SandboxHandle, tmp_path: Path) -> None:
        self.base = [
            binary.path,  # conftest.KubectlBinary: one run per kubectl
            "--kubeconfig",
            str(sandbox.kubeconfig),
            "--cache-dir",
            str(tmp_path / "cache"),
        ]
        self.tmp_path = tmp_path

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=60)
        if check:
            assert result.returncode == 0, result.stderr
        return result

    def manifest(self, tag: str, replicas: int = 2) -> str:
        path = self.tmp_path / f"web-{tag}-{replicas}.yaml"
        path.write_text(
            MANIFEST.replace("IMAGE_TAG", tag).replace("replicas: 2", f"replicas: {replicas}")
        )
        return str(path)


@pytest.fixture
def kubectl(kubectl_binary: Any, sandbox: SandboxHandle, tmp_path: Path) -> Kubectl:
    return Kubectl(kubectl_binary, sandbox, tmp_path)


def _stored(sandbox: SandboxHandle) -> dict[str, Any]:
    return sandbox.store.get("apps/deployments", "default", "web")


def test_apply_create_noop_change(sandbox: SandboxHandle, kubectl: Kubectl) -> None:
    assert (
        kubectl("apply", "-f", kubectl.manifest("1.25")).stdout.strip()
        == "deployment.apps/web created"
    )
    first = _stored(sandbox)
    assert "kubectl.kubernetes.io/last-applied-configuration" in first["metadata"]["annotations"]
    assert (
        kubectl("apply", "-f", kubectl.manifest("1.25")).stdout.strip()
        == "deployment.apps/web unchanged"
    )
    assert _stored(sandbox)["metadata"]["generation"] == 1
    assert (
        kubectl("apply", "-f", kubectl.manifest("1.26")).stdout.strip()
        == "deployment.apps/web configured"
    )
    changed = _stored(sandbox)
    assert changed["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"
    assert changed["metadata"]["generation"] == 2


def test_apply_rejects_unknown_fields_with_strict_validation(
    sandbox: SandboxHandle, kubectl: Kubectl, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        MANIFEST.replace("IMAGE_TAG", "1").replace("  replicas: 2", "  replicas: 2\n  replicaz: 3")
    )
    result = kubectl("apply", "-f", str(bad), check=False)
    assert result.returncode == 1
    assert 'unknown field "spec.replicaz"' in result.stderr
    with pytest.raises(Exception, match="not found"):
        _stored(sandbox)


def test_get_prints_server_side_columns(sandbox: SandboxHandle, kubectl: Kubectl) -> None:
    kubectl("apply", "-f", kubectl.manifest("1.25", replicas=0))
    lines = kubectl("get", "deployments").stdout.splitlines()
    assert lines[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert lines[1].split()[:4] == ["web", "0/0", "0", "0"]
    wide = kubectl("get", "deployments", "-o", "wide").stdout.splitlines()
    assert wide[0].split()[5:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert wide[1].split()[5:] == ["web", "nginx:1.25", "app=web"]
    as_json = json.loads(kubectl("get", "deployment", "web", "-o", "json").stdout)
    assert (
        as_json["kind"] == "Deployment"
        and as_json["metadata"]["uid"] == _stored(sandbox)["metadata"]["uid"]
    )
    namespaces = kubectl("get", "namespaces", "-o", "name").stdout.split()
    assert "namespace/default" in namespaces and "namespace/kube-system" in namespaces


def test_server_side_apply_conflict_and_force(sandbox: SandboxHandle, kubectl: Kubectl) -> None:
    assert (
        "serverside-applied"
        in kubectl("apply", "--server-side", "-f", kubectl.manifest("1.25")).stdout
    )
    kubectl("scale", "deployment/web", "--replicas=3")
    conflict = kubectl("apply", "--server-side", "-f", kubectl.manifest("1.26"), check=False)
    assert conflict.returncode == 1
    assert "Apply failed with 1 conflict" in conflict.stderr and ".spec.replicas" in conflict.stderr
    assert _stored(sandbox)["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    kubectl("apply", "--server-side", "--force-conflicts", "-f", kubectl.manifest("1.26"))
    stored = _stored(sandbox)
    assert stored["spec"]["replicas"] == 2
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"
    managers = {(m["manager"], m["operation"]) for m in stored["metadata"]["managedFields"]}
    assert ("kubectl", "Apply") in managers


def test_diff_shows_the_change_and_leaves_the_object_alone(
    sandbox: SandboxHandle, kubectl: Kubectl
) -> None:
    kubectl("apply", "-f", kubectl.manifest("1.25", replicas=0))

    def settled() -> bool:  # the Deployment controller has written its revision and status
        stored = _stored(sandbox)
        revision = (stored["metadata"].get("annotations") or {}).get(
            "deployment.kubernetes.io/revision"
        )
        observed = (stored.get("status") or {}).get("observedGeneration")
        return revision is not None and observed == stored["metadata"]["generation"]

    wait_until(settled)
    before = _stored(sandbox)
    result = kubectl("diff", "-f", kubectl.manifest("1.26", replicas=0), check=False)
    assert result.returncode == 1  # differences found
    removed = [
        line for line in result.stdout.splitlines() if line.startswith("-") and "image:" in line
    ]
    added = [
        line for line in result.stdout.splitlines() if line.startswith("+") and "image:" in line
    ]
    assert [line.split()[-1] for line in removed] == ["nginx:1.25"]
    assert [line.split()[-1] for line in added] == ["nginx:1.26"]
    assert _stored(sandbox) == before
    same = kubectl("diff", "-f", kubectl.manifest("1.25", replicas=0), check=False)
    assert same.returncode == 0 and same.stdout == ""


def test_delete_removes_owned_replicasets_and_pods(
    sandbox: SandboxHandle, kubectl: Kubectl
) -> None:
    kubectl("apply", "-f", kubectl.manifest("1.25"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(sandbox.store.list("/pods", "default")[0]) < 2:
        time.sleep(0.05)
    assert len(sandbox.store.list("/pods", "default")[0]) == 2
    deleted = kubectl("delete", "deployment", "web").stdout.strip()
    # newer kubectls (1.37 here) also name the namespace: "… deleted from default namespace"
    assert re.fullmatch(r'deployment\.apps "web" deleted( from default namespace)?', deleted)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (
        sandbox.store.list("apps/replicasets", "default")[0]
        or sandbox.store.list("/pods", "default")[0]
    ):
        time.sleep(0.05)
    assert sandbox.store.list("apps/replicasets", "default")[0] == []
    assert sandbox.store.list("/pods", "default")[0] == []


ROUTE = """\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules:
  - backendRefs:
    - {name: web-stable, port: 80, weight: STABLE}
    - {name: web-canary, port: 80, weight: CANARY}
"""


def test_apply_httproute_weights(sandbox: SandboxHandle, kubectl: Kubectl, tmp_path: Path) -> None:
    path = tmp_path / "route.yaml"
    versions = []
    # The re-apply says "configured" as on a real cluster: HTTPRoute is a custom resource, so
    # kubectl sends a JSON merge patch, which replaces whole lists, and the live `rules` carry
    # the CRD schema's defaults (backendRefs kind Service, group "", matches PathPrefix /).
    # The server finds nothing to change: the object stays at the same resourceVersion.
    for stable, canary, verb in (
        (90, 10, "created"),
        (50, 50, "configured"),
        (50, 50, "configured"),
    ):
        path.write_text(ROUTE.replace("STABLE", str(stable)).replace("CANARY", str(canary)))
        result = kubectl("apply", "-f", str(path))
        assert result.stdout.strip() == f"httproute.gateway.networking.k8s.io/web {verb}"
        assert "warning" not in result.stderr.lower()
        stored = sandbox.store.get("gateway.networking.k8s.io/httproutes", "default", "web")
        assert [b["weight"] for b in stored["spec"]["rules"][0]["backendRefs"]] == [stable, canary]
        versions.append(stored["metadata"]["resourceVersion"])
    assert versions[2] == versions[1], "the same route applied again changes nothing"
    assert stored["spec"]["rules"][0]["backendRefs"][0]["kind"] == "Service"  # defaulted
    assert stored["spec"]["rules"][0]["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    assert kubectl("get", "httproutes", "-o", "name").stdout.split() == [
        "httproute.gateway.networking.k8s.io/web"
    ]
