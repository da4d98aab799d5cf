"""kubectl's client-side to server-side apply upgrade, as a real API server answers it.

``kubectl apply`` (client-side: manager ``kubectl-client-side-apply``, the
``last-applied-configuration`` annotation), then ``kubectl apply --server-side`` of a changed
manifest: upstream's lastAppliedManager forgives the conflicts on fields the annotation still
describes, lastAppliedUpdater rewrites the annotation, and kubectl's csaupgrade migration
(an apply by ``kubectl-last-applied``, a JSON patch of managedFields, the apply again) leaves
no ``kubectl-client-side-apply`` entry. A field someone else changed since (``kubectl scale``)
still conflicts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.sandbox.test_kubectl_conformance import NS, Kubectl, deployment_yaml
from tests.sandbox.test_kubectl_conformance import kubectl as kubectl  # the fixture

from kube_sandbox.testing import SandboxHandle

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
CONTAINER = 'k:{"name":"app"}'


def _managed(kubectl: Kubectl) -> list[dict[str, Any]]:
    obj = kubectl.json("deployment", "web", "--show-managed-fields")
    entries: list[dict[str, Any]] = obj["metadata"]["managedFields"]
    return entries


def test_client_side_then_server_side_apply_of_a_new_image_is_applied(
    kubectl: Kubectl, sandbox: SandboxHandle, tmp_path: Path
) -> None:
    first = kubectl.manifest("d.yaml", deployment_yaml(image="nginx:1.25"))
    second = kubectl.manifest("d2.yaml", deployment_yaml(image="nginx:1.26"))
    assert kubectl("apply", "-f", first).stdout.strip() == "deployment.apps/web created"

    upgraded = kubectl("apply", "--server-side", "-f", second)

    assert upgraded.stdout.strip() == "deployment.apps/web serverside-applied"
    assert "Warning" not in upgraded.stderr  # the managed-fields migration was accepted
    d = kubectl.json("deployment", "web")
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"
    # lastAppliedUpdater: the annotation now holds the server-side applied configuration
    last = json.loads(d["metadata"]["annotations"][LAST_APPLIED])
    assert last["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"
    kubectl.record(
        "apply -f, then apply --server-side (new image)",
        "serverside-applied, no conflict with kubectl-client-side-apply",
        upgraded.stdout.strip(),
    )


def test_managed_fields_after_the_migration_have_upstreams_shape(
    kubectl: Kubectl, sandbox: SandboxHandle
) -> None:
    kubectl("apply", "-f", kubectl.manifest("d.yaml", deployment_yaml(image="nginx:1.25")))
    before = {(m["manager"], m["operation"]) for m in _managed(kubectl)}
    assert ("kubectl-client-side-apply", "Update") in before

    kubectl("apply", "--server-side", "-f", kubectl.manifest("d2.yaml", deployment_yaml()))

    # (a cluster also lists kube-controller-manager's Update entries: the sandbox's controllers
    # record none, see docs/sandbox.md)
    entries = [m for m in _managed(kubectl) if m["manager"].startswith("kubectl")]
    by_manager = {(m["manager"], m["operation"]): m for m in entries}
    assert set(by_manager) == {("kubectl", "Apply"), ("kubectl-last-applied", "Apply")}
    assert [m["operation"] for m in entries] == ["Apply", "Apply"]
    # kubectl owns exactly its manifest (the re-sent apply pruned what CSA had owned) ...
    mine = by_manager[("kubectl", "Apply")]["fieldsV1"]
    assert set(mine) == {"f:spec"}
    assert set(mine["f:spec"]) == {"f:replicas", "f:selector", "f:template"}
    container = mine["f:spec"]["f:template"]["f:spec"]["f:containers"][CONTAINER]
    assert set(container) == {".", "f:image", "f:name", "f:ports"}
    # ... and the annotation is kubectl-last-applied's alone, so it stays on the object
    keeper = by_manager[("kubectl-last-applied", "Apply")]["fieldsV1"]
    assert keeper == {"f:metadata": {"f:annotations": {f"f:{LAST_APPLIED}": {}}}}
    assert LAST_APPLIED in kubectl.json("deployment", "web")["metadata"]["annotations"]


def test_after_kubectl_scale_server_side_apply_conflicts_on_replicas_only(
    kubectl: Kubectl, sandbox: SandboxHandle
) -> None:
    kubectl("apply", "-f", kubectl.manifest("d.yaml", deployment_yaml(image="nginx:1.25")))
    second = kubectl.manifest("d2.yaml", deployment_yaml(image="nginx:1.26"))
    kubectl("apply", "--server-side", "-f", second)
    kubectl("scale", "deployment/web", "--replicas=5")

    conflict = kubectl("apply", "--server-side", "-f", second, ok=False)

    assert conflict.returncode == 1
    assert conflict.stderr.startswith(
        "error: Apply failed with 1 conflict: "
        'conflict with "kubectl" with subresource "scale" using apps/v1: .spec.replicas\n'
        "Please review the fields above--they currently have other managers."
    )
    assert kubectl.json("deployment", "web")["spec"]["replicas"] == 5
    kubectl.record(
        "apply -f, apply --server-side, scale --replicas=5, apply --server-side",
        "exit 1, conflict on .spec.replicas only",
        conflict.stderr.splitlines()[0],
    )


def test_without_the_upgrade_a_changed_field_of_another_manager_still_conflicts(
    kubectl: Kubectl, sandbox: SandboxHandle
) -> None:
    # lastAppliedManager acts for the manager "kubectl" only
    kubectl("apply", "-f", kubectl.manifest("d.yaml", deployment_yaml(image="nginx:1.25")))
    second = kubectl.manifest("d2.yaml", deployment_yaml(image="nginx:1.26"))

    other = kubectl("apply", "--server-side", "--field-manager=pipeline", "-f", second, ok=False)

    assert other.returncode == 1
    assert other.stderr.startswith(
        'error: Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" '
        'using apps/v1: .spec.template.spec.containers[name="app"].image\n'
    )
    d = kubectl.json("deployment", "web")
    assert d["metadata"]["namespace"] == NS
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
