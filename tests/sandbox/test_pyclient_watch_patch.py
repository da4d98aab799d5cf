"""The official client: watches resumed from a resourceVersion, 410 Gone, every patch type, SSA."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config, watch

from kube_sandbox.testing import SandboxHandle, running_sandbox

from .test_pyclient_core import make_deployment


@pytest.fixture
def sandbox(bare_sandbox: SandboxHandle) -> SandboxHandle:
    """No controllers: objects change only through the client's requests."""
    return bare_sandbox


def _cm(name: str, value: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data={"v": value})


def test_watch_resumes_from_a_resource_version(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map("default", _cm("a", "1"))
    resume_from = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", _cm("b", "1"))
    core.patch_namespaced_config_map("a", "default", {"data": {"v": "2"}})
    core.delete_namespaced_config_map("b", "default")
    seen = []
    w = watch.Watch()
    for event in w.stream(
        core.list_namespaced_config_map, "default", resource_version=resume_from, timeout_seconds=5
    ):
        seen.append(
            (event["type"], event["object"].metadata.name, (event["object"].data or {}).get("v"))
        )
        if len(seen) == 3:
            w.stop()
    assert seen == [("ADDED", "b", "1"), ("MODIFIED", "a", "2"), ("DELETED", "b", "1")]


def test_watch_without_resource_version_starts_with_current_objects(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map("default", _cm("x", "1"))
    w = watch.Watch()
    events = []
    for event in w.stream(core.list_namespaced_config_map, "default", timeout_seconds=5):
        events.append((event["type"], event["object"].metadata.name))
        w.stop()
    assert events == [("ADDED", "x")]


def test_watch_with_label_selector_filters_events(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    for name, team in (("one", "a"), ("two", "b"), ("three", "a")):
        body = _cm(name, "1")
        body.metadata.labels = {"team": team}
        core.create_namespaced_config_map("default", body)
    w = watch.Watch()
    names = []
    for event in w.stream(
        core.list_namespaced_config_map,
        "default",
        resource_version=rv,
        label_selector="team=a",
        timeout_seconds=5,
    ):
        names.append(event["object"].metadata.name)
        if len(names) == 2:
            w.stop()
    assert names == ["one", "three"]


def test_watch_from_a_compacted_resource_version_raises_410(tmp_path: Path) -> None:
    with running_sandbox(tmp_path, controllers=False, history=20) as sb:
        api_client = config.new_client_from_config(config_file=str(sb.kubeconfig))
        core = client.CoreV1Api(api_client)
        for n in range(30):
            core.create_namespaced_config_map("default", _cm(f"c{n}", "1"))
        with pytest.raises(client.ApiException) as err:
            for _ in watch.Watch().stream(
                core.list_namespaced_config_map, "default", resource_version="3", timeout_seconds=5
            ):
                pass
        api_client.close()
    assert err.value.status == 410


def test_watch_times_out_after_timeout_seconds(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    events = list(
        watch.Watch().stream(
            core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=1
        )
    )
    assert events == []


# -- patch types ---------------------------------------------------------------------------
def _containers(dep: Any) -> list[tuple[str, str]]:
    return [(c.name, c.image) for c in dep.spec.template.spec.containers]


def test_strategic_merge_patch_merges_containers_and_env_by_name(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment("default", make_deployment())
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.26",
                            "env": [{"name": "EXTRA", "value": "x"}],
                        },
                        {"name": "sidecar", "image": "envoy:1"},
                    ]
                }
            }
        }
    }
    dep = apps.patch_namespaced_deployment("web", "default", patch)
    assert _containers(dep) == [("web", "nginx:1.26"), ("sidecar", "envoy:1")]
    web = dep.spec.template.spec.containers[0]
    assert [(e.name, e.value) for e in web.env] == [("MODE", "a"), ("EXTRA", "x")]
    assert [p.container_port for p in web.ports] == [8080]
    assert dep.metadata.generation == 2


def test_strategic_merge_patch_delete_directive(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment("default", make_deployment())
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "web", "env": [{"name": "MODE", "$patch": "delete"}]}]
                }
            }
        }
    }
    dep = apps.patch_namespaced_deployment("web", "default", patch)
    assert dep.spec.template.spec.containers[0].env is None


def test_merge_patch_replaces_lists(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment("default", make_deployment())
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "other", "image": "busybox:1"}]}}}
    }
    dep = apps.patch_namespaced_deployment(
        "web", "default", patch, _content_type="application/merge-patch+json"
    )
    assert _containers(dep) == [("other", "busybox:1")]


def test_json_patch_operations(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment("default", make_deployment())
    ops = [
        {"op": "test", "path": "/spec/replicas", "value": 2},
        {"op": "replace", "path": "/spec/replicas", "value": 3},
        {"op": "add", "path": "/metadata/annotations", "value": {"a/b": "c"}},
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "nginx:1.27"},
    ]
    dep = apps.patch_namespaced_deployment("web", "default", ops)
    assert dep.spec.replicas == 3 and dep.metadata.annotations == {"a/b": "c"}
    assert _containers(dep) == [("web", "nginx:1.27")]
    with pytest.raises(client.ApiException) as err:
        apps.patch_namespaced_deployment(
            "web", "default", [{"op": "test", "path": "/spec/replicas", "value": 9}]
        )
    assert err.value.status == 422


def _apply(api: client.ApiClient, body: dict[str, Any], manager: str, force: bool = False) -> Any:
    query = [("fieldManager", manager)] + ([("force", "true")] if force else [])
    return api.call_api(
        *api.param_serialize(
            method="PATCH",
            resource_path="/apis/apps/v1/namespaces/default/deployments/web",
            query_params=query,
            header_params={
                "Content-Type": "application/apply-patch+yaml",
                "Accept": "application/json",
            },
            body=body,
        )
    )


def _applied(image: str, replicas: int | None = 2) -> dict[str, Any]:
    dep = api_dict(make_deployment(image=image))
    if replicas is None:
        del dep["spec"]["replicas"]
    else:
        dep["spec"]["replicas"] = replicas
    return dep


def api_dict(model: Any) -> dict[str, Any]:
    return dict(
        client.ApiClient().sanitize_for_serialization(model),
        apiVersion="apps/v1",
        kind="Deployment",
    )


def test_server_side_apply_creates_then_owns_fields(api: client.ApiClient) -> None:
    resp = _apply(api, _applied("nginx:1.25"), "ci-deploy")
    resp.read()
    assert resp.status == 201
    dep = client.AppsV1Api(api).read_namespaced_deployment("web", "default")
    managers = {(m.manager, m.operation) for m in dep.metadata.managed_fields}
    assert managers == {("ci-deploy", "Apply")}
    fields = dep.metadata.managed_fields[0].fields_v1
    assert "f:replicas" in fields["f:spec"]
    assert 'k:{"name":"web"}' in fields["f:spec"]["f:template"]["f:spec"]["f:containers"]


def test_server_side_apply_conflict_then_force(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    _apply(api, _applied("nginx:1.25"), "ci-deploy").read()
    apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 5}})
    conflict = _apply(api, _applied("nginx:1.26"), "ci-deploy")
    body = json.loads(conflict.read())
    assert conflict.status == 409
    assert body["reason"] == "Conflict"
    assert body["details"]["causes"][0]["field"] == ".spec.replicas"
    assert (
        apps.read_namespaced_deployment("web", "default").spec.template.spec.containers[0].image
        == "nginx:1.25"
    )
    forced = _apply(api, _applied("nginx:1.26"), "ci-deploy", force=True)
    forced.read()
    assert forced.status == 200
    dep = apps.read_namespaced_deployment("web", "default")
    assert dep.spec.replicas == 2 and dep.spec.template.spec.containers[0].image == "nginx:1.26"


def test_server_side_apply_same_value_is_shared_not_a_conflict(api: client.ApiClient) -> None:
    _apply(api, _applied("nginx:1.25"), "ci-deploy").read()
    resp = _apply(api, _applied("nginx:1.25"), "someone-else")
    resp.read()
    assert resp.status == 200


def test_server_side_apply_removes_fields_no_longer_applied(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    first = _applied("nginx:1.25")
    first["metadata"]["annotations"] = {"team": "a", "tier": "web"}
    _apply(api, first, "ci-deploy").read()
    second = _applied("nginx:1.25")
    second["metadata"]["annotations"] = {"team": "a"}
    _apply(api, second, "ci-deploy").read()
    assert apps.read_namespaced_deployment("web", "default").metadata.annotations == {"team": "a"}


def test_server_side_apply_without_field_manager_is_422(api: client.ApiClient) -> None:
    resp = api.call_api(
        *api.param_serialize(
            method="PATCH",
            resource_path="/apis/apps/v1/namespaces/default/deployments/web",
            header_params={"Content-Type": "application/apply-patch+yaml"},
            body=_applied("nginx:1.25"),
        )
    )
    resp.read()
    assert resp.status == 422  # PatchOptions invalid: fieldManager is required for apply


def test_dynamic_client_server_side_apply(api: client.ApiClient) -> None:
    from kubernetes import dynamic

    dyn = dynamic.DynamicClient(api)
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    body = _applied("nginx:1.25")
    result = deployments.server_side_apply(
        body=body, namespace="default", field_manager="ci-deploy"
    )
    assert result.metadata.name == "web"
    body["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.26"
    result = deployments.server_side_apply(
        body=body, namespace="default", field_manager="ci-deploy"
    )
    assert result.spec.template.spec.containers[0].image == "nginx:1.26"
    assert result.metadata.generation == 2


def test_server_side_apply_of_the_same_configuration_is_a_no_op(api: client.ApiClient) -> None:
    _apply(api, _applied("nginx:1.25"), "ci-deploy").read()
    before = (
        client.AppsV1Api(api).read_namespaced_deployment("web", "default").metadata.resource_version
    )
    _apply(api, _applied("nginx:1.25"), "ci-deploy").read()
    after = (
        client.AppsV1Api(api).read_namespaced_deployment("web", "default").metadata.resource_version
    )
    assert after == before


def test_server_side_apply_drops_a_container_no_longer_applied(api: client.ApiClient) -> None:
    two = _applied("nginx:1.25")
    two["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "envoy:1"})
    _apply(api, two, "ci-deploy").read()
    _apply(api, _applied("nginx:1.25"), "ci-deploy").read()
    dep = client.AppsV1Api(api).read_namespaced_deployment("web", "default")
    assert [c.name for c in dep.spec.template.spec.containers] == ["web"]


def test_server_side_apply_keeps_fields_other_managers_own(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    _apply(api, _applied("nginx:1.25"), "ci-deploy").read()
    apps.patch_namespaced_deployment(
        "web",
        "default",
        {"metadata": {"annotations": {"ci-deploy.dev/state": '{"phase": "Succeeded"}'}}},
        field_manager="ci-deploy-state",
        _content_type="application/merge-patch+json",
    )
    _apply(api, _applied("nginx:1.26"), "ci-deploy").read()
    dep = apps.read_namespaced_deployment("web", "default")
    assert dep.metadata.annotations == {"ci-deploy.dev/state": '{"phase": "Succeeded"}'}
    assert dep.spec.template.spec.containers[0].image == "nginx:1.26"
    owners = {m.manager: m.operation for m in dep.metadata.managed_fields}
    assert owners == {"ci-deploy": "Apply", "ci-deploy-state": "Update"}
