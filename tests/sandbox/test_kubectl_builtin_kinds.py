"""Every built-in kind of 1.32 is served from the schema definitions and the facts table.

A sample of the kinds served generically (no controller: stored, validated, served) go through
the real kubectl (apply, get, Table output, delete) and the official client's typed models;
``kubectl api-resources`` lists every one with upstream's short names and scope.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client as k8s
from tests.sandbox.test_kubectl_conformance import Kubectl
from tests.sandbox.test_kubectl_conformance import kubectl as kubectl  # the fixture

from kube_sandbox.objects import resources
from kube_sandbox.testing import SandboxHandle

pytestmark = pytest.mark.kubectl

SAMPLES: dict[str, tuple[str, str]] = {  # kind → (resource name for kubectl, manifest)
    "StorageClass": (
        "storageclass",
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: fast}\n"
        "provisioner: example.com/fast\nreclaimPolicy: Retain\n",
    ),
    "IngressClass": (
        "ingressclass",
        "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: nginx}\n"
        "spec: {controller: k8s.io/ingress-nginx}\n",
    ),
    "RuntimeClass": (
        "runtimeclass",
        "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata: {name: gvisor}\n"
        "handler: runsc\n",
    ),
    "CSIDriver": (
        "csidriver",
        "apiVersion: storage.k8s.io/v1\nkind: CSIDriver\nmetadata: {name: csi.example.com}\n"
        "spec: {attachRequired: false}\n",
    ),
    "ValidatingWebhookConfiguration": (
        "validatingwebhookconfiguration",
        "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\n"
        "metadata: {name: check}\nwebhooks:\n- name: check.example.com\n"
        "  admissionReviewVersions: [v1]\n  sideEffects: None\n"
        "  clientConfig: {url: 'https://example.com/check'}\n",
    ),
    "PodTemplate": (
        "podtemplate",
        "apiVersion: v1\nkind: PodTemplate\nmetadata: {name: tpl}\ntemplate:\n"
        "  metadata: {labels: {app: tpl}}\n  spec:\n    containers:\n"
        "    - {name: app, image: nginx:1.27}\n",
    ),
    "ReplicationController": (
        "rc",
        "apiVersion: v1\nkind: ReplicationController\nmetadata: {name: legacy}\nspec:\n"
        "  replicas: 2\n  selector: {app: legacy}\n  template:\n"
        "    metadata: {labels: {app: legacy}}\n    spec:\n      containers:\n"
        "      - {name: app, image: nginx:1.27}\n",
    ),
}


def typed_name(api: Any, kind: str, name: str) -> str:
    """The object's name read through the client's typed API for its kind."""
    calls = {
        "StorageClass": lambda: k8s.StorageV1Api(api).read_storage_class(name),
        "IngressClass": lambda: k8s.NetworkingV1Api(api).read_ingress_class(name),
        "RuntimeClass": lambda: k8s.NodeV1Api(api).read_runtime_class(name),
        "CSIDriver": lambda: k8s.StorageV1Api(api).read_csi_driver(name),
        "ValidatingWebhookConfiguration": lambda: k8s.AdmissionregistrationV1Api(
            api
        ).read_validating_webhook_configuration(name),
        "PodTemplate": lambda: k8s.CoreV1Api(api).read_namespaced_pod_template(name, "default"),
        "ReplicationController": lambda: k8s.CoreV1Api(api).read_namespaced_replication_controller(
            name, "default"
        ),
    }
    return str(calls[kind]().metadata.name)


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_a_generically_served_kind_applies_gets_and_deletes(
    kubectl: Kubectl, sandbox: SandboxHandle, api: Any, kind: str
) -> None:
    resource, text = SAMPLES[kind]
    name = text.split("metadata: {name: ", 1)[1].split("}", 1)[0]
    path = kubectl.manifest(f"{kind}.yaml", text)
    assert "created" in kubectl("apply", "-f", path).stdout
    obj = kubectl.json(resource, name)
    assert obj["kind"] == kind and obj["metadata"]["uid"]
    assert typed_name(api, kind, name) == name, "the typed client reads it into its model"
    table = kubectl("get", resource, name).stdout.splitlines()
    assert table[0].split()[0] == "NAME" and table[1].split()[0] == name
    assert "unchanged" in kubectl("apply", "-f", path).stdout
    kubectl("delete", "-f", path)
    gone = kubectl("get", resource, name, ok=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_a_replication_controller_is_stored_only(kubectl: Kubectl, sandbox: SandboxHandle) -> None:
    kubectl("apply", "-f", kubectl.manifest("rc.yaml", SAMPLES["ReplicationController"][1]))
    assert kubectl.json("rc", "legacy")["spec"]["replicas"] == 2
    pods, _ = sandbox.store.list("/pods", "default")
    assert pods == [], "no controller runs for ReplicationControllers: they are stored only"
    kubectl("scale", "rc/legacy", "--replicas=3")  # the scale subresource
    assert kubectl.json("rc", "legacy")["spec"]["replicas"] == 3


def test_an_invalid_built_in_object_is_refused_with_its_schema_message(kubectl: Kubectl) -> None:
    bad = SAMPLES["StorageClass"][1].replace("reclaimPolicy", "reclaimPolicee")
    result = kubectl("apply", "-f", kubectl.manifest("bad.yaml", bad), ok=False)
    assert result.returncode != 0
    assert (
        'StorageClass in version "v1" cannot be handled as a StorageClass: strict decoding '
        'error: unknown field "reclaimPolicee"'
    ) in result.stderr, result.stderr


def test_api_resources_lists_every_built_in_kind(kubectl: Kubectl) -> None:
    listed = kubectl("api-resources", "--no-headers", "-o", "wide").stdout.splitlines()
    by_kind: dict[str, list[str]] = {}
    for line in listed:
        cells = line.split()
        kind_index = next(i for i, c in enumerate(cells) if c in ("true", "false")) + 1
        by_kind[cells[kind_index]] = cells
    for rt in resources.RESOURCES:
        assert rt.kind in by_kind, rt.kind
    assert by_kind["StorageClass"][:4] == ["storageclasses", "sc", "storage.k8s.io/v1", "false"]
    assert by_kind["CronJob"][:4] == ["cronjobs", "cj", "batch/v1", "true"]
    assert "api-extensions" in by_kind["CustomResourceDefinition"][-1]
