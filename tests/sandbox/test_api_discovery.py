"""Discovery, openapi v3 and Table responses, as kubectl reads them."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from kube_sandbox.testing import SandboxHandle

AGGREGATED_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
)
TABLE_ACCEPT = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,"
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)


@pytest.fixture
def sandbox(bare_sandbox: SandboxHandle) -> SandboxHandle:
    return bare_sandbox


@pytest.mark.parametrize("path", ["/version", "/version/"])
def test_version_has_every_field(sandbox: SandboxHandle, path: str) -> None:
    info = requests.get(sandbox.url + path, timeout=5).json()
    assert set(info) >= {
        "major",
        "minor",
        "gitVersion",
        "gitCommit",
        "gitTreeState",
        "buildDate",
        "goVersion",
        "compiler",
        "platform",
    }
    assert info["major"] == "1" and info["gitVersion"].startswith("v1.")


def test_api_versions_and_group_list(sandbox: SandboxHandle) -> None:
    assert requests.get(sandbox.url + "/api", timeout=5).json()["versions"] == ["v1"]
    resp = requests.get(sandbox.url + "/apis", headers={"Accept": AGGREGATED_ACCEPT}, timeout=5)
    assert (
        resp.headers["Content-Type"] == "application/json"
    )  # the plain form kubectl falls back to
    groups = {g["name"]: g for g in resp.json()["groups"]}
    assert resp.json()["kind"] == "APIGroupList"
    assert set(groups) == {
        "apps",
        "autoscaling",
        "networking.k8s.io",
        "gateway.networking.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "scheduling.k8s.io",
        "batch",
    }
    assert groups["autoscaling"]["preferredVersion"] == {
        "groupVersion": "autoscaling/v2",
        "version": "v2",
    }
    group = requests.get(sandbox.url + "/apis/apps", timeout=5).json()
    assert group["kind"] == "APIGroup" and group["name"] == "apps"


def test_resource_lists_carry_scope_verbs_and_subresources(sandbox: SandboxHandle) -> None:
    core = {
        r["name"]: r for r in requests.get(sandbox.url + "/api/v1", timeout=5).json()["resources"]
    }
    assert core["namespaces"]["namespaced"] is False and core["pods"]["namespaced"] is True
    assert core["pods"]["shortNames"] == ["po"] and core["pods"]["singularName"] == "pod"
    assert "deletecollection" not in core["namespaces"]["verbs"]
    assert core["pods/status"]["verbs"] == ["get", "patch", "update"]
    apps = requests.get(sandbox.url + "/apis/apps/v1", timeout=5).json()
    assert apps["kind"] == "APIResourceList" and apps["groupVersion"] == "apps/v1"
    names = {r["name"] for r in apps["resources"]}
    assert {
        "deployments",
        "deployments/status",
        "deployments/scale",
        "replicasets",
        "replicasets/scale",
    } <= names
    hpa = requests.get(sandbox.url + "/apis/autoscaling/v2", timeout=5).json()["resources"][0]
    assert hpa["kind"] == "HorizontalPodAutoscaler" and hpa["shortNames"] == ["hpa"]


def test_unserved_group_version_is_404(sandbox: SandboxHandle) -> None:
    assert requests.get(sandbox.url + "/apis/example.com/v1", timeout=5).status_code == 404


def _all_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in _all_refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _all_refs(v)]
    return []


def test_openapi_v3_index_and_group_document(sandbox: SandboxHandle) -> None:
    index = requests.get(sandbox.url + "/openapi/v3", timeout=5).json()
    assert {"api/v1", "apis/apps/v1", "apis/gateway.networking.k8s.io/v1"} <= set(index["paths"])
    doc = requests.get(
        sandbox.url + index["paths"]["apis/apps/v1"]["serverRelativeURL"], timeout=5
    ).json()
    assert doc["openapi"].startswith("3.")
    patch_ops = [
        item["patch"]
        for item in doc["paths"].values()
        if "patch" in item
        and item["patch"]["x-kubernetes-group-version-kind"]["kind"] == "Deployment"
    ]
    assert patch_ops
    assert all(
        any(p["name"] == "fieldValidation" and p["in"] == "query" for p in op["parameters"])
        for op in patch_ops
    )
    schemas = doc["components"]["schemas"]
    deployment = schemas["io.k8s.api.apps.v1.Deployment"]
    assert deployment["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}
    ]
    assert deployment["type"] == "object"
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    refs = _all_refs(doc)
    assert refs and all(
        r.startswith("#/components/schemas/") and r.split("/")[-1] in schemas for r in refs
    )


def test_openapi_httproute_schema_is_permissive(sandbox: SandboxHandle) -> None:
    doc = requests.get(
        sandbox.url + "/openapi/v3/apis/gateway.networking.k8s.io/v1", timeout=5
    ).json()
    route = doc["components"]["schemas"]["io.k8s.networking.gateway.v1.HTTPRoute"]
    assert route["properties"]["spec"]["x-kubernetes-preserve-unknown-fields"] is True
    assert requests.get(sandbox.url + "/openapi/v2", timeout=5).status_code == 404


def _deploy(sb: SandboxHandle) -> None:
    body = {
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "app:1"}]},
            },
        },
    }
    assert (
        requests.post(
            sb.url + "/apis/apps/v1/namespaces/default/deployments", json=body, timeout=5
        ).status_code
        == 201
    )


def test_table_for_kubectl_get(sandbox: SandboxHandle) -> None:
    _deploy(sandbox)
    resp = requests.get(
        sandbox.url + "/apis/apps/v1/namespaces/default/deployments",
        headers={"Accept": TABLE_ACCEPT},
        timeout=5,
    )
    table = resp.json()
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    columns = [c["name"] for c in table["columnDefinitions"]]
    assert columns[:5] == ["Name", "Ready", "Up-to-date", "Available", "Age"]
    assert table["rows"][0]["cells"][:4] == ["web", "0/3", 0, 0]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert table["rows"][0]["object"]["metadata"]["name"] == "web"


@pytest.mark.parametrize(
    ("include", "kind"),
    [("Object", "Deployment"), ("Metadata", "PartialObjectMetadata"), ("None", None)],
)
def test_table_include_object(sandbox: SandboxHandle, include: str, kind: str | None) -> None:
    _deploy(sandbox)
    table = requests.get(
        sandbox.url + "/apis/apps/v1/namespaces/default/deployments/web",
        params={"includeObject": include},
        headers={"Accept": TABLE_ACCEPT},
        timeout=5,
    ).json()
    row = table["rows"][0]
    assert (row.get("object") or {}).get("kind") == kind


def test_table_json_is_plain_list_without_table_accept(sandbox: SandboxHandle) -> None:
    _deploy(sandbox)
    body = json.loads(requests.get(sandbox.url + "/apis/apps/v1/deployments", timeout=5).content)
    assert body["kind"] == "DeploymentList"


def test_watch_as_table_for_kubectl_get_watch(sandbox: SandboxHandle) -> None:
    rv = str(sandbox.store.resource_version)
    resp = requests.get(
        sandbox.url + "/apis/apps/v1/namespaces/default/deployments",
        params={"watch": "true", "resourceVersion": rv, "timeoutSeconds": "2"},
        headers={"Accept": TABLE_ACCEPT},
        stream=True,
        timeout=5,
    )
    _deploy(sandbox)
    requests.patch(
        sandbox.url + "/apis/apps/v1/namespaces/default/deployments/web",
        data=json.dumps({"spec": {"replicas": 1}}),
        headers={"Content-Type": "application/merge-patch+json"},
        timeout=5,
    )
    events = []
    for line in resp.iter_lines():
        if line:
            events.append(json.loads(line))
        if len(events) == 2:
            break
    resp.close()
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED"]
    assert all(e["object"]["kind"] == "Table" for e in events)
    assert events[0]["object"]["columnDefinitions"][0]["name"] == "Name"
    assert events[1]["object"]["columnDefinitions"] == []  # only the first event carries them
    assert events[1]["object"]["rows"][0]["cells"][:2] == ["web", "0/1"]


def test_pod_log_subresource_is_read_only_text(sandbox: SandboxHandle) -> None:
    pods = sandbox.url + "/api/v1/namespaces/default/pods"
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "app", "image": "app:1"}]}}
    requests.post(pods, json=pod, timeout=5)
    resp = requests.get(pods + "/p/log", timeout=5)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "text/plain"
    assert "simulated container app (image app:1)" in resp.text
    assert requests.get(pods + "/p/log", params={"container": "nope"}, timeout=5).status_code == 400
    assert requests.put(pods + "/p/log", json={}, timeout=5).status_code == 405
    core = {
        r["name"]: r for r in requests.get(sandbox.url + "/api/v1", timeout=5).json()["resources"]
    }
    assert core["pods/log"]["verbs"] == ["get"]
