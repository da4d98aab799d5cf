"""kubectl (a client nobody here wrote) against the sandbox: outcomes, not just exit codes.

Each test drives the real kubectl binary (scripts/setup.d/20-kubectl.sh provides one) with a
fresh discovery cache, then checks the cluster state through kubectl and the store. Each
scenario also records a (command, expected, observed) row; ``bench/conformance_table.py``
runs this file and prints those rows as a markdown table.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from kube_sandbox.testing import SandboxHandle, wait_until

pytestmark = pytest.mark.kubectl
Obj = dict[str, Any]
NS = "default"


class Kubectl:
    """Runs one kubectl binary against one sandbox with its own discovery cache."""

    def __init__(self, binary: Any, sandbox: SandboxHandle, tmp: Path) -> None:
        self.binary = binary  # conftest.KubectlBinary: .id ("kubectl-1.37"), .path, .version
        self.base = [
            binary.path,
            f"--kubeconfig={sandbox.kubeconfig}",
            f"--cache-dir={tmp / 'kube-cache'}",
            f"--namespace={NS}",
        ]
        self.tmp = tmp

    def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [*self.base, *args], capture_output=True, text=True, timeout=90, check=False
        )
        if ok and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def json(self, *args: str) -> Obj:
        result: Obj = json.loads(self("get", *args, "-o", "json").stdout)
        return result

    def manifest(self, name: str, text: str) -> str:
        path = self.tmp / name
        path.write_text(text)
        return str(path)

    def record(self, command: str, expected: str, observed: str) -> None:
        """Keep a row of this kubectl's conformance table (see :func:`record`)."""
        record(command, expected, observed, self.binary)


def deployment_yaml(
    name: str = "web", image: str = "nginx:1.25", replicas: int = 3, extra: str = ""
) -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {NS}
spec:
  replicas: {replicas}
{extra}  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: app
        image: {image}
        ports:
        - containerPort: 8080
"""


def record(command: str, expected: str, observed: str, binary: Any) -> None:
    """Write a conformance-table row when CONFORMANCE_TABLE names a file (bench does)."""
    target = os.environ.get("CONFORMANCE_TABLE")
    if target:
        row = {
            "kubectl": binary.id,
            "version": binary.version,
            "command": command,
            "expected": expected,
            "observed": observed,
        }
        with open(target, "a", encoding="utf-8") as out:
            out.write(json.dumps(row) + "\n")


def owned(sandbox: SandboxHandle, resource: str, app: str) -> list[Obj]:
    items, _ = sandbox.store.list(resource, NS)
    return [o for o in items if (o["metadata"].get("labels") or {}).get("app") == app]


def image_of(obj: Obj) -> str:
    image: str = obj["spec"]["template"]["spec"]["containers"][0]["image"]
    return image


@pytest.fixture
def kubectl(kubectl_binary: Any, sandbox: SandboxHandle, tmp_path: Path) -> Kubectl:
    """kubectl against the sandbox, once per kubectl binary (tests/sandbox/conftest.py)."""
    return Kubectl(kubectl_binary, sandbox, tmp_path)


def test_apply_creates_then_is_a_noop_then_rolls_out_a_change(
    kubectl: Kubectl, sandbox: SandboxHandle
) -> None:
    path = kubectl.manifest("web.yaml", deployment_yaml())
    created = kubectl("apply", "-f", path)
    assert created.stdout.strip() == "deployment.apps/web created"
    kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    before = kubectl.json("deployment", "web")
    ready = [p for p in owned(sandbox, "/pods", "web") if p["status"]["phase"] == "Running"]
    assert len(ready) == 3 and before["status"]["readyReplicas"] == 3
    kubectl.record(
        "apply -f (new)", "created; 3 pods Ready", f"{created.stdout.strip()}; 3 pods Ready"
    )

    again = kubectl("apply", "-f", path)
    after = kubectl.json("deployment", "web")
    assert again.stdout.strip() == "deployment.apps/web unchanged"
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["metadata"]["generation"] == 1
    kubectl.record(
        "apply -f (same file)",
        "unchanged, resourceVersion equal",
        f"{again.stdout.strip()}; rv {before['metadata']['resourceVersion']} → "
        f"{after['metadata']['resourceVersion']}",
    )

    kubectl.manifest("web.yaml", deployment_yaml(image="nginx:1.26"))
    changed = kubectl("apply", "-f", path)
    assert changed.stdout.strip() == "deployment.apps/web configured"
    status = kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    assert 'deployment "web" successfully rolled out' in status.stdout
    d = kubectl.json("deployment", "web")
    assert d["metadata"]["generation"] == 2
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    pods = owned(sandbox, "/pods", "web")
    assert len(pods) == 3 and {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx:1.26"}
    assert sorted(image_of(rs) for rs in owned(sandbox, "apps/replicasets", "web")) == [
        "nginx:1.25",
        "nginx:1.26",
    ]
    kubectl.record(
        "apply -f (new image), rollout status",
        "configured; revision 2; all pods new image",
        f"{changed.stdout.strip()}; revision 2; pods: nginx:1.26 x{len(pods)}",
    )


def test_server_side_apply_conflicts_unless_forced(
    kubectl: Kubectl, sandbox: SandboxHandle
) -> None:
    path = kubectl.manifest("web.yaml", deployment_yaml())
    applied = kubectl("apply", "--server-side", "-f", path)
    assert applied.stdout.strip() == "deployment.apps/web serverside-applied"
    d = kubectl.json("deployment", "web", "--show-managed-fields")
    managers = {(m["manager"], m["operation"]) for m in d["metadata"]["managedFields"]}
    assert ("kubectl", "Apply") in managers
    kubectl.record(
        "apply --server-side", "serverside-applied; manager kubectl (Apply)", applied.stdout.strip()
    )

    kubectl(
        "patch",
        "deployment",
        "web",
        "--type=merge",
        "-p",
        '{"spec":{"replicas":5}}',
        "--field-manager=autoscaler-bot",
    )
    conflict = kubectl("apply", "--server-side", "-f", path, ok=False)
    assert conflict.returncode == 1
    assert "conflict" in conflict.stderr.lower() and "autoscaler-bot" in conflict.stderr
    assert ".spec.replicas" in conflict.stderr
    assert kubectl.json("deployment", "web")["spec"]["replicas"] == 5
    kubectl.record(
        "apply --server-side after another manager set spec.replicas",
        "exit 1, conflict naming the manager and .spec.replicas; object unchanged",
        f"exit {conflict.returncode}: {conflict.stderr.strip().splitlines()[0][:140]}",
    )

    forced = kubectl("apply", "--server-side", "--force-conflicts", "-f", path)
    assert forced.stdout.strip() == "deployment.apps/web serverside-applied"
    assert kubectl.json("deployment", "web")["spec"]["replicas"] == 3
    kubectl.record(
        "apply --server-side --force-conflicts",
        "serverside-applied; spec.replicas back to 3",
        f"{forced.stdout.strip()}; replicas 3",
    )


def test_get_json_returns_complete_objects(kubectl: Kubectl, sandbox: SandboxHandle) -> None:
    kubectl("apply", "-f", kubectl.manifest("web.yaml", deployment_yaml()))
    kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    d = kubectl.json("deployment", "web")
    stored = sandbox.store.get("apps/deployments", NS, "web")
    assert (d["apiVersion"], d["kind"]) == ("apps/v1", "Deployment")
    assert d["metadata"]["uid"] == stored["metadata"]["uid"]
    assert d["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}
    assert d["status"]["availableReplicas"] == 3 and d["status"]["observedGeneration"] == 1
    conditions = {c["type"]: c["reason"] for c in d["status"]["conditions"]}
    assert conditions == {
        "Available": "MinimumReplicasAvailable",
        "Progressing": "NewReplicaSetAvailable",
    }
    pods = kubectl.json("pods", "-l", "app=web")
    assert pods["kind"] == "List" and len(pods["items"]) == 3
    [rs] = kubectl.json("replicasets", "-l", "app=web")["items"]
    for p in pods["items"]:
        assert p["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
        assert p["status"]["phase"] == "Running" and p["status"]["podIP"].startswith("10.")
    kubectl.record(
        "get deployment/pods -o json",
        "complete objects: uid, defaults, status, conditions, owner refs",
        f"conditions {sorted(conditions.items())}; "
        f"{len(pods['items'])} Running pods owned by {rs['metadata']['name']}",
    )


def test_rollout_status_fails_on_a_crashloop_image_after_the_deadline(
    kubectl: Kubectl, sandbox: SandboxHandle
) -> None:
    extra = "  progressDeadlineSeconds: 2\n"
    path = kubectl.manifest("bad.yaml", deployment_yaml("bad", "app:crashloop", 2, extra))
    kubectl("apply", "-f", path)
    start = time.monotonic()
    result = kubectl("rollout", "status", "deployment/bad", "--timeout=60s", ok=False)
    elapsed = time.monotonic() - start
    assert result.returncode == 1
    assert 'deployment "bad" exceeded its progress deadline' in result.stderr
    assert 1.5 <= elapsed < 30
    pods = kubectl.json("pods", "-l", "app=bad")["items"]
    waiting = {p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] for p in pods}
    assert waiting == {"CrashLoopBackOff"}
    assert all(p["status"]["containerStatuses"][0]["restartCount"] >= 1 for p in pods)
    kubectl.record(
        "rollout status (image :crashloop, progressDeadlineSeconds 2)",
        "exit 1, 'exceeded its progress deadline'; pods CrashLoopBackOff",
        f"exit {result.returncode} after {elapsed:.1f} s: {result.stderr.strip()}",
    )


def test_rollout_history_and_undo_restore_the_previous_image(
    kubectl: Kubectl, sandbox: SandboxHandle
) -> None:
    path = kubectl.manifest("web.yaml", deployment_yaml())
    kubectl("apply", "-f", path)
    kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    kubectl.manifest("web.yaml", deployment_yaml(image="nginx:1.26"))
    kubectl("apply", "-f", path)
    kubectl("rollout", "status", "deployment/web", "--timeout=60s")

    history = kubectl("rollout", "history", "deployment/web")
    revisions = [line.split()[0] for line in history.stdout.splitlines()[2:] if line.strip()]
    assert revisions == ["1", "2"]
    kubectl.record("rollout history", "revisions 1 and 2", f"revisions {', '.join(revisions)}")

    undo = kubectl("rollout", "undo", "deployment/web")
    assert undo.stdout.strip() == "deployment.apps/web rolled back"
    kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    d = kubectl.json("deployment", "web")
    assert image_of(d) == "nginx:1.25"
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    pods = owned(sandbox, "/pods", "web")
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx:1.25"}
    assert len(owned(sandbox, "apps/replicasets", "web")) == 2  # the old one was reused
    after = kubectl("rollout", "history", "deployment/web")
    revisions_after = [line.split()[0] for line in after.stdout.splitlines()[2:] if line.strip()]
    assert revisions_after == ["2", "3"]
    kubectl.record(
        "rollout undo",
        "rolled back; image nginx:1.25; old ReplicaSet reused as revision 3",
        f"{undo.stdout.strip()}; image {image_of(d)}; history {', '.join(revisions_after)}",
    )


def test_scale_changes_replicas_and_pods(kubectl: Kubectl, sandbox: SandboxHandle) -> None:
    kubectl("apply", "-f", kubectl.manifest("web.yaml", deployment_yaml(replicas=2)))
    kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    scaled = kubectl("scale", "deployment/web", "--replicas=5")
    assert scaled.stdout.strip() == "deployment.apps/web scaled"
    kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    d = kubectl.json("deployment", "web")
    assert d["spec"]["replicas"] == 5 and d["status"]["readyReplicas"] == 5
    assert len(kubectl.json("pods", "-l", "app=web")["items"]) == 5
    kubectl("scale", "deployment/web", "--replicas=1")
    wait_until(lambda: len(owned(sandbox, "/pods", "web")) == 1)
    kubectl.record(
        "scale --replicas=5, then 1",
        "scaled; 5 Ready pods, then 1",
        f"{scaled.stdout.strip()}; readyReplicas 5; then {len(owned(sandbox, '/pods', 'web'))} pod",
    )


def test_wait_for_available_returns_once_pods_are_ready(
    kubectl: Kubectl, sandbox: SandboxHandle
) -> None:
    kubectl("apply", "-f", kubectl.manifest("web.yaml", deployment_yaml(image="app:slow")))
    waited = kubectl("wait", "--for=condition=Available", "deployment/web", "--timeout=60s")
    assert waited.stdout.strip() == "deployment.apps/web condition met"
    d = sandbox.store.get("apps/deployments", NS, "web")
    # maxUnavailable 25% of 3 rounds down to 0: Available means all 3 available.
    assert d["status"]["availableReplicas"] == 3
    kubectl.record(
        "wait --for=condition=Available (image :slow)",
        "returns once the Deployment has minimum availability",
        f"{waited.stdout.strip()}; availableReplicas {d['status']['availableReplicas']}",
    )


def test_diff_shows_the_change_and_leaves_the_object_unchanged(
    kubectl: Kubectl, sandbox: SandboxHandle
) -> None:
    path = kubectl.manifest("web.yaml", deployment_yaml())
    kubectl("apply", "-f", path)
    kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    before = sandbox.store.get("apps/deployments", NS, "web")
    kubectl.manifest("web.yaml", deployment_yaml(image="nginx:1.26"))
    diff = kubectl("diff", "-f", path, ok=False)
    assert diff.returncode == 1, diff.stderr  # 1 = differences found
    changed = [line.split() for line in diff.stdout.splitlines() if "image:" in line]
    assert ["-", "-", "image:", "nginx:1.25"] in changed
    assert ["+", "-", "image:", "nginx:1.26"] in changed
    after = sandbox.store.get("apps/deployments", NS, "web")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert image_of(after) == "nginx:1.25"
    assert len(owned(sandbox, "apps/replicasets", "web")) == 1
    kubectl.record(
        "diff -f (changed image)",
        "exit 1 with the image change; resourceVersion equal",
        f"exit {diff.returncode}; rv {before['metadata']['resourceVersion']} → "
        f"{after['metadata']['resourceVersion']}; image {image_of(after)}",
    )


def test_delete_removes_owned_replicasets_and_pods(
    kubectl: Kubectl, sandbox: SandboxHandle
) -> None:
    path = kubectl.manifest("web.yaml", deployment_yaml())
    kubectl("apply", "-f", path)
    kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    kubectl.manifest("web.yaml", deployment_yaml(image="nginx:1.26"))
    kubectl("apply", "-f", path)
    kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    assert len(owned(sandbox, "apps/replicasets", "web")) == 2
    deleted = kubectl("delete", "deployment", "web")
    # newer kubectls (1.37 here) also name the namespace: "… deleted from default namespace"
    assert re.fullmatch(
        r'deployment\.apps "web" deleted( from default namespace)?', deleted.stdout.strip()
    )
    wait_until(
        lambda: not owned(sandbox, "apps/replicasets", "web") and not owned(sandbox, "/pods", "web")
    )
    gone = kubectl("get", "deployment", "web", ok=False)
    assert gone.returncode == 1 and "NotFound" in gone.stderr
    assert kubectl.json("replicasets", "-l", "app=web")["items"] == []
    assert kubectl.json("pods", "-l", "app=web")["items"] == []
    kubectl.record(
        "delete deployment",
        "deleted; its 2 ReplicaSets and 3 Pods removed",
        f"{deleted.stdout.strip()}; replicasets 0, pods 0",
    )
