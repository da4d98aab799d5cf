"""Kinds a real app carries beside its Deployment, through kubectl and the typed Python client.

Each is applied with kubectl (client- and server-side), read back complete, diffed, changed
and deleted; the official client reads the same objects into its typed models. None of these
kinds has a controller in the sandbox: they are stored, validated and served.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from tests.sandbox.test_kubectl_conformance import NS, Kubectl
from tests.sandbox.test_kubectl_conformance import kubectl as kubectl  # the fixture

from kube_sandbox.testing import SandboxHandle

pytestmark = pytest.mark.kubectl

# kind → (manifest, typed read call, a field of the typed object to compare)
MANIFESTS: dict[str, str] = {
    "ServiceAccount": "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: deployer}\n"
    "automountServiceAccountToken: false\n",
    "PersistentVolumeClaim": "apiVersion: v1\nkind: PersistentVolumeClaim\n"
    "metadata: {name: data}\nspec:\n  accessModes: [ReadWriteOnce]\n"
    "  resources: {requests: {storage: 1Gi}}\n",
    "PodDisruptionBudget": "apiVersion: policy/v1\nkind: PodDisruptionBudget\n"
    "metadata: {name: web-pdb}\nspec:\n  minAvailable: 1\n"
    "  selector: {matchLabels: {app: web}}\n",
    "NetworkPolicy": "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
    "metadata: {name: deny-all}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n",
    "Role": "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: reader}\n"
    "rules:\n- apiGroups: ['']\n  resources: [pods]\n  verbs: [get, list]\n",
    "RoleBinding": "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\n"
    "metadata: {name: reader}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role,"
    " name: reader}\nsubjects:\n- {kind: ServiceAccount, name: deployer, namespace: default}\n",
    "ResourceQuota": "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: quota}\n"
    "spec:\n  hard: {pods: '10'}\n",
    "LimitRange": "apiVersion: v1\nkind: LimitRange\nmetadata: {name: limits}\nspec:\n"
    "  limits:\n  - type: Container\n    default: {cpu: 500m}\n",
}
CLUSTER_MANIFESTS: dict[str, str] = {
    "ClusterRole": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n"
    "metadata: {name: ci-reader}\nrules:\n- apiGroups: [apps]\n  resources: [deployments]\n"
    "  verbs: [get]\n",
    "PriorityClass": "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\n"
    "metadata: {name: high}\nvalue: 1000\n",
}


def typed_read(api: Any, kind: str, name: str) -> Any:
    """The object through the official client's typed API (its own model class)."""
    core, rbac = k8s.CoreV1Api(api), k8s.RbacAuthorizationV1Api(api)
    calls = {
        "ServiceAccount": lambda: core.read_namespaced_service_account(name, NS),
        "PersistentVolumeClaim": lambda: core.read_namespaced_persistent_volume_claim(name, NS),
        "PodDisruptionBudget": lambda: k8s.PolicyV1Api(api).read_namespaced_pod_disruption_budget(
            name, NS
        ),
        "NetworkPolicy": lambda: k8s.NetworkingV1Api(api).read_namespaced_network_policy(name, NS),
        "Role": lambda: rbac.read_namespaced_role(name, NS),
        "RoleBinding": lambda: rbac.read_namespaced_role_binding(name, NS),
        "ResourceQuota": lambda: core.read_namespaced_resource_quota(name, NS),
        "LimitRange": lambda: core.read_namespaced_limit_range(name, NS),
        "ClusterRole": lambda: rbac.read_cluster_role(name),
        "PriorityClass": lambda: k8s.SchedulingV1Api(api).read_priority_class(name),
    }
    return calls[kind]()


def name_of(text: str) -> str:
    return text.split("metadata: {name: ", 1)[1].split("}", 1)[0]


@pytest.mark.parametrize("kind", sorted(MANIFESTS) + sorted(CLUSTER_MANIFESTS))
def test_kind_is_served_like_a_cluster_serves_it(
    kubectl: Kubectl, sandbox: SandboxHandle, api: Any, kind: str, tmp_path: Path
) -> None:
    text = MANIFESTS.get(kind) or CLUSTER_MANIFESTS[kind]
    name = name_of(text)
    path = kubectl.manifest(f"{kind}.yaml", text)
    created = kubectl("apply", "-f", path)
    assert "created" in created.stdout, created.stdout
    obj = kubectl.json(kind.lower(), name)
    assert obj["kind"] == kind and obj["metadata"]["name"] == name
    assert obj["metadata"]["uid"] and obj["metadata"]["resourceVersion"]
    assert typed_read(api, kind, name).metadata.name == name, "the typed client reads it too"
    again = kubectl("apply", "-f", path)
    # kubectl always sends `selector` for a PodDisruptionBudget (its patch strategy is
    # "replace"), so it says "configured" there, as on a real cluster; the object must not move.
    said = "configured" if kind == "PodDisruptionBudget" else "unchanged"
    assert said in again.stdout, again.stdout
    assert (
        kubectl.json(kind.lower(), name)["metadata"]["resourceVersion"]
        == (obj["metadata"]["resourceVersion"])
    ), "a re-apply of the same object changes nothing"
    changed = text.replace("metadata: {name: ", "metadata: {labels: {tier: x}, name: ", 1)
    path2 = kubectl.manifest(f"{kind}-2.yaml", changed)
    diff = kubectl("diff", "-f", path2, ok=False)
    assert diff.returncode == 1 and "tier: x" in diff.stdout, diff.stdout + diff.stderr
    ssa = kubectl("apply", "--server-side", "-f", path2)
    assert "serverside-applied" in ssa.stdout, ssa.stdout
    assert kubectl.json(kind.lower(), name)["metadata"]["labels"] == {"tier": "x"}
    kubectl("delete", "-f", path2)
    gone = kubectl("get", kind.lower(), name, ok=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_an_invalid_object_of_a_new_kind_is_refused_with_the_schema_message(
    kubectl: Kubectl,
) -> None:
    bad = MANIFESTS["PodDisruptionBudget"].replace("minAvailable: 1", "minAvailabel: 1")
    result = kubectl("apply", "-f", kubectl.manifest("bad.yaml", bad), ok=False)
    assert result.returncode != 0
    assert "minAvailabel" in result.stderr, result.stderr
