"""Patch semantics over HTTP: strategic merge keys and directives, merge, JSON patch, scale."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from kube_sandbox.testing import SandboxHandle

DEPLOY = "/apis/apps/v1/namespaces/default/deployments"
SMP = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
JSONPATCH = "application/json-patch+json"


@pytest.fixture
def sandbox(bare_sandbox: SandboxHandle) -> SandboxHandle:
    return bare_sandbox


def _deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "app:1",
                            "ports": [
                                {"containerPort": 8080, "name": "http"},
                                {"containerPort": 9090, "name": "metrics"},
                            ],
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"}],
                        },
                        {"name": "proxy", "image": "envoy:1"},
                    ],
                    "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}],
                },
            },
        },
    }


def _patch(sb: SandboxHandle, path: str, body: Any, ctype: str, **params: str) -> requests.Response:
    return requests.patch(
        sb.url + path,
        data=json.dumps(body),
        headers={"Content-Type": ctype},
        params=params,
        timeout=5,
    )


@pytest.fixture
def web(sandbox: SandboxHandle) -> dict[str, Any]:
    resp = requests.post(sandbox.url + DEPLOY, json=_deployment(), timeout=5)
    assert resp.status_code == 201
    return dict(resp.json())


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return dict(obj["spec"]["template"]["spec"])


def test_smp_merges_ports_by_container_port(sandbox: SandboxHandle, web: dict[str, Any]) -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "ports": [
                                {"containerPort": 9090, "name": "prom"},
                                {"containerPort": 7070},
                            ],
                        }
                    ]
                }
            }
        }
    }
    obj = _patch(sandbox, DEPLOY + "/web", patch, SMP).json()
    ports = _pod_spec(obj)["containers"][0]["ports"]
    assert [(p["containerPort"], p.get("name")) for p in ports] == [
        (8080, "http"),
        (9090, "prom"),
        (7070, None),
    ]


def test_smp_merges_volumes_and_volume_mounts(sandbox: SandboxHandle, web: dict[str, Any]) -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    # every mount names a volume of the pod (validated as upstream)
                    "volumes": [{"name": "data", "emptyDir": {}}, {"name": "cfg2", "emptyDir": {}}],
                    "containers": [
                        {
                            "name": "web",
                            "volumeMounts": [
                                {"name": "data", "mountPath": "/data"},
                                {"name": "cfg2", "mountPath": "/etc/cfg"},
                            ],
                        }
                    ],
                }
            }
        }
    }
    obj = _patch(sandbox, DEPLOY + "/web", patch, SMP).json()
    assert [v["name"] for v in _pod_spec(obj)["volumes"]] == ["cfg", "data", "cfg2"]
    mounts = _pod_spec(obj)["containers"][0]["volumeMounts"]
    assert [(m["name"], m["mountPath"]) for m in mounts] == [
        ("cfg2", "/etc/cfg"),
        ("data", "/data"),
    ]


def test_smp_set_element_order_and_null_delete(sandbox: SandboxHandle, web: dict[str, Any]) -> None:
    patch = {
        "spec": {
            "replicas": None,
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "proxy"}, {"name": "web"}],
                    "containers": [{"name": "web", "image": "app:2"}],
                }
            },
        }
    }
    obj = _patch(sandbox, DEPLOY + "/web", patch, SMP).json()
    assert [c["name"] for c in _pod_spec(obj)["containers"]] == ["proxy", "web"]
    assert _pod_spec(obj)["containers"][1]["image"] == "app:2"
    assert obj["spec"]["replicas"] == 1  # deleted, then defaulted again as upstream


def test_smp_replace_directive_on_a_list(sandbox: SandboxHandle, web: dict[str, Any]) -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "x:1"}]}
            }
        }
    }
    obj = _patch(sandbox, DEPLOY + "/web", patch, SMP).json()
    assert [c["name"] for c in _pod_spec(obj)["containers"]] == ["only"]


def test_smp_retain_keys_for_strategy(sandbox: SandboxHandle, web: dict[str, Any]) -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    obj = _patch(sandbox, DEPLOY + "/web", patch, SMP).json()
    assert obj["spec"]["strategy"] == {"type": "Recreate"}


def test_smp_merges_service_ports_by_port(sandbox: SandboxHandle) -> None:
    svc = {
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
        },
    }
    created = requests.post(
        sandbox.url + "/api/v1/namespaces/default/services", json=svc, timeout=5
    ).json()
    patch = {
        "spec": {
            "ports": [
                {"name": "https", "port": 443, "targetPort": 8443},
                {"port": 80, "targetPort": 8081},
            ]
        }
    }
    obj = _patch(sandbox, "/api/v1/namespaces/default/services/web", patch, SMP).json()
    assert [(p["port"], p["targetPort"], p.get("name")) for p in obj["spec"]["ports"]] == [
        (80, 8081, "http"),
        (443, 8443, "https"),
    ]
    assert obj["spec"]["clusterIP"] == created["spec"]["clusterIP"]


def test_merge_patch_replaces_list_and_deletes_with_null(
    sandbox: SandboxHandle, web: dict[str, Any]
) -> None:
    # the containers list is replaced (its mount of the deleted volume goes with it)
    pod_spec = {"volumes": None, "containers": [{"name": "web", "image": "app:2"}]}
    patch = {"metadata": {"labels": {"x": "1"}}, "spec": {"template": {"spec": pod_spec}}}
    obj = _patch(sandbox, DEPLOY + "/web", patch, MERGE).json()
    assert "volumes" not in _pod_spec(obj)
    assert [c["name"] for c in _pod_spec(obj)["containers"]] == ["web"]
    assert "volumeMounts" not in _pod_spec(obj)["containers"][0]
    assert obj["metadata"]["labels"] == {"x": "1"}


def test_json_patch_add_remove_move_copy(sandbox: SandboxHandle, web: dict[str, Any]) -> None:
    ops = [
        {"op": "remove", "path": "/spec/template/spec/containers/1"},
        {
            "op": "add",
            "path": "/spec/template/spec/containers/0/env/-",
            "value": {"name": "C", "value": "3"},
        },
        {"op": "copy", "from": "/spec/template/metadata/labels", "path": "/metadata/labels"},
        {
            "op": "move",
            "from": "/spec/template/spec/containers/0/env/0",
            "path": "/spec/template/spec/containers/0/env/2",
        },
    ]
    obj = _patch(sandbox, DEPLOY + "/web", ops, JSONPATCH).json()
    spec = _pod_spec(obj)
    assert [c["name"] for c in spec["containers"]] == ["web"]
    assert [e["name"] for e in spec["containers"][0]["env"]] == ["B", "C", "A"]
    assert obj["metadata"]["labels"] == {"app": "web"}


def test_json_patch_on_missing_path_is_422_and_changes_nothing(
    sandbox: SandboxHandle, web: dict[str, Any]
) -> None:
    resp = _patch(
        sandbox,
        DEPLOY + "/web",
        [{"op": "replace", "path": "/spec/nothing/here", "value": 1}],
        JSONPATCH,
    )
    assert resp.status_code == 422
    after = requests.get(sandbox.url + DEPLOY + "/web", timeout=5).json()
    assert after["metadata"]["resourceVersion"] == web["metadata"]["resourceVersion"]


def test_patch_with_stale_resource_version_is_409(
    sandbox: SandboxHandle, web: dict[str, Any]
) -> None:
    _patch(sandbox, DEPLOY + "/web", {"spec": {"replicas": 2}}, MERGE)
    stale = {
        "metadata": {"resourceVersion": web["metadata"]["resourceVersion"]},
        "spec": {"replicas": 3},
    }
    resp = _patch(sandbox, DEPLOY + "/web", stale, MERGE)
    assert resp.status_code == 409


def test_unknown_patch_content_type_is_415(sandbox: SandboxHandle, web: dict[str, Any]) -> None:
    resp = _patch(sandbox, DEPLOY + "/web", {"spec": {}}, "application/json")
    assert resp.status_code == 415 and resp.json()["reason"] == "UnsupportedMediaType"


def test_strategic_merge_patch_on_httproute_is_415_but_merge_patch_works(
    sandbox: SandboxHandle,
) -> None:
    path = "/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes"
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "web"},
        "spec": {"rules": [{"backendRefs": [{"name": "a", "port": 80, "weight": 100}]}]},
    }
    assert requests.post(sandbox.url + path, json=route, timeout=5).status_code == 201
    assert _patch(sandbox, path + "/web", {"spec": {}}, SMP).status_code == 415
    resp = _patch(
        sandbox,
        path + "/web",
        {"spec": {"rules": [{"backendRefs": [{"name": "b", "port": 80, "weight": 100}]}]}},
        MERGE,
    )
    assert resp.json()["spec"]["rules"][0]["backendRefs"][0]["name"] == "b"


def test_status_patch_changes_only_status(sandbox: SandboxHandle, web: dict[str, Any]) -> None:
    patch = {"spec": {"replicas": 9}, "status": {"replicas": 1, "observedGeneration": 1}}
    obj = _patch(sandbox, DEPLOY + "/web/status", patch, MERGE).json()
    assert obj["status"] == {"replicas": 1, "observedGeneration": 1}
    assert obj["spec"]["replicas"] == 1
    assert obj["metadata"]["managedFields"][-1]["subresource"] == "status"


def test_scale_subresource_get_put_patch(sandbox: SandboxHandle, web: dict[str, Any]) -> None:
    scale = requests.get(sandbox.url + DEPLOY + "/web/scale", timeout=5).json()
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 1}
    assert scale["status"] == {"replicas": 0, "selector": "app=web"}
    scale["spec"]["replicas"] = 3
    put = requests.put(sandbox.url + DEPLOY + "/web/scale", json=scale, timeout=5).json()
    assert put["spec"]["replicas"] == 3
    stale = requests.put(sandbox.url + DEPLOY + "/web/scale", json=scale, timeout=5)
    assert stale.status_code == 409
    patched = _patch(sandbox, DEPLOY + "/web/scale", {"spec": {"replicas": 5}}, MERGE).json()
    assert patched["spec"]["replicas"] == 5
    dep = requests.get(sandbox.url + DEPLOY + "/web", timeout=5).json()
    assert dep["spec"]["replicas"] == 5 and dep["metadata"]["generation"] == 3
    negative = _patch(sandbox, DEPLOY + "/web/scale", {"spec": {"replicas": -1}}, MERGE)
    assert negative.status_code == 422
