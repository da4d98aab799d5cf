"""HTTP-level semantics of the sandbox API: create, get, list, replace, errors as Status."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import requests

from kube_sandbox.testing import SandboxHandle

DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"


def deployment(name: str = "web", image: str = "nginx:1.25", replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name, "tier": "front"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {"name": "web", "image": image, "ports": [{"containerPort": 80}]}
                    ]
                },
            },
        },
    }


@pytest.fixture
def sandbox(bare_sandbox: SandboxHandle) -> SandboxHandle:
    """API semantics are tested without controllers, so only requests change objects."""
    return bare_sandbox


@pytest.fixture
def http(sandbox: SandboxHandle) -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = "pytest-http/1.0"
    return session


def test_create_returns_201_with_defaults_and_system_metadata(
    sandbox: SandboxHandle, http: requests.Session
) -> None:
    resp = http.post(sandbox.url + DEPLOYMENTS, json=deployment())
    assert resp.status_code == 201
    obj = resp.json()
    meta = obj["metadata"]
    assert meta["namespace"] == "default"
    assert isinstance(meta["resourceVersion"], str) and meta["resourceVersion"].isdigit()
    assert len(meta["uid"]) == 36 and meta["creationTimestamp"].endswith("Z")
    assert meta["generation"] == 1
    assert meta["managedFields"][0]["manager"] == "pytest-http"
    assert meta["managedFields"][0]["operation"] == "Update"
    spec = obj["spec"]
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert spec["revisionHistoryLimit"] == 10 and spec["progressDeadlineSeconds"] == 600
    container = spec["template"]["spec"]["containers"][0]
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["ports"][0]["protocol"] == "TCP"
    assert spec["template"]["spec"]["restartPolicy"] == "Always"
    assert spec["template"]["spec"]["dnsPolicy"] == "ClusterFirst"


def test_create_twice_is_409_already_exists_status(
    sandbox: SandboxHandle, http: requests.Session
) -> None:
    assert http.post(sandbox.url + DEPLOYMENTS, json=deployment()).status_code == 201
    resp = http.post(sandbox.url + DEPLOYMENTS, json=deployment())
    assert resp.status_code == 409
    body = resp.json()
    assert body["kind"] == "Status" and body["apiVersion"] == "v1"
    assert body["status"] == "Failure" and body["reason"] == "AlreadyExists" and body["code"] == 409
    assert body["message"] == 'deployments.apps "web" already exists'
    assert body["details"] == {"name": "web", "group": "apps", "kind": "deployments"}


def test_create_in_missing_namespace_is_404_namespace_not_found(
    sandbox: SandboxHandle, http: requests.Session
) -> None:
    resp = http.post(sandbox.url + "/apis/apps/v1/namespaces/ghost/deployments", json=deployment())
    assert resp.status_code == 404
    assert resp.json()["message"] == 'namespaces "ghost" not found'
    assert resp.json()["details"] == {"name": "ghost", "kind": "namespaces"}


def test_generate_name_makes_a_unique_name(sandbox: SandboxHandle, http: requests.Session) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"generateName": "cfg-"},
        "data": {"a": "1"},
    }
    names = {
        http.post(sandbox.url + "/api/v1/namespaces/default/configmaps", json=body).json()[
            "metadata"
        ]["name"]
        for _ in range(3)
    }
    assert len(names) == 3
    assert all(n.startswith("cfg-") and len(n) == 9 for n in names)


def test_get_missing_is_404_with_upstream_message(
    sandbox: SandboxHandle, http: requests.Session
) -> None:
    resp = http.get(sandbox.url + DEPLOYMENTS + "/nope")
    assert resp.status_code == 404
    assert resp.json()["message"] == 'deployments.apps "nope" not found'
    assert resp.json()["reason"] == "NotFound"


def test_invalid_object_is_422_naming_the_field(
    sandbox: SandboxHandle, http: requests.Session
) -> None:
    bad = deployment()
    bad["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    resp = http.post(sandbox.url + DEPLOYMENTS, json=bad)
    assert resp.status_code == 422
    assert resp.json()["reason"] == "Invalid"
    assert "selector` does not match template `labels`" in resp.json()["message"]


def test_replace_bumps_generation_only_on_spec_change(
    sandbox: SandboxHandle, http: requests.Session
) -> None:
    created = http.post(sandbox.url + DEPLOYMENTS, json=deployment()).json()
    labelled = copy.deepcopy(created)
    labelled["metadata"]["labels"]["extra"] = "yes"
    after_label = http.put(sandbox.url + DEPLOYMENTS + "/web", json=labelled).json()
    assert after_label["metadata"]["generation"] == 1
    assert int(after_label["metadata"]["resourceVersion"]) > int(
        created["metadata"]["resourceVersion"]
    )
    after_label["spec"]["replicas"] = 5
    after_spec = http.put(sandbox.url + DEPLOYMENTS + "/web", json=after_label).json()
    assert after_spec["metadata"]["generation"] == 2
    assert after_spec["spec"]["replicas"] == 5


def test_replace_with_stale_resource_version_is_409_conflict(
    sandbox: SandboxHandle, http: requests.Session
) -> None:
    created = http.post(sandbox.url + DEPLOYMENTS, json=deployment()).json()
    first = copy.deepcopy(created)
    first["spec"]["replicas"] = 3
    assert http.put(sandbox.url + DEPLOYMENTS + "/web", json=first).status_code == 200
    stale = copy.deepcopy(created)
    stale["spec"]["replicas"] = 4
    resp = http.put(sandbox.url + DEPLOYMENTS + "/web", json=stale)
    assert resp.status_code == 409
    assert resp.json()["reason"] == "Conflict"
    assert "the object has been modified" in resp.json()["message"]
    assert http.get(sandbox.url + DEPLOYMENTS + "/web").json()["spec"]["replicas"] == 3


def test_replace_without_change_keeps_resource_version(
    sandbox: SandboxHandle, http: requests.Session
) -> None:
    created = http.post(sandbox.url + DEPLOYMENTS, json=deployment(replicas=0)).json()
    again = http.put(sandbox.url + DEPLOYMENTS + "/web", json=created).json()
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_status_is_ignored_on_main_resource_and_set_through_subresource(
    sandbox: SandboxHandle, http: requests.Session
) -> None:
    body = deployment(replicas=0)
    body["status"] = {"replicas": 7}
    created = http.post(sandbox.url + DEPLOYMENTS, json=body).json()
    assert created["status"] == {}
    created["status"] = {"observedGeneration": 1, "replicas": 0}
    created["spec"]["replicas"] = 9  # ignored by the status subresource
    updated = http.put(sandbox.url + DEPLOYMENTS + "/web/status", json=created).json()
    assert updated["status"] == {"observedGeneration": 1, "replicas": 0}
    assert updated["spec"]["replicas"] == 0
    assert updated["metadata"]["generation"] == 1


def test_list_has_kind_and_resource_version(sandbox: SandboxHandle, http: requests.Session) -> None:
    for name in ("a", "b"):
        http.post(sandbox.url + DEPLOYMENTS, json=deployment(name, replicas=0))
    body = http.get(sandbox.url + DEPLOYMENTS).json()
    assert body["kind"] == "DeploymentList" and body["apiVersion"] == "apps/v1"
    assert body["metadata"]["resourceVersion"] == str(sandbox.store.resource_version)
    assert [i["metadata"]["name"] for i in body["items"]] == ["a", "b"]


def test_list_across_namespaces_and_cluster_scoped(
    sandbox: SandboxHandle, http: requests.Session
) -> None:
    http.post(
        sandbox.url + "/api/v1/namespaces",
        json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}},
    )
    http.post(sandbox.url + DEPLOYMENTS, json=deployment("a", replicas=0))
    http.post(
        sandbox.url + "/apis/apps/v1/namespaces/other/deployments", json=deployment("b", replicas=0)
    )
    everywhere = http.get(sandbox.url + "/apis/apps/v1/deployments").json()["items"]
    assert sorted((i["metadata"]["namespace"], i["metadata"]["name"]) for i in everywhere) == [
        ("default", "a"),
        ("other", "b"),
    ]
    namespaces = [
        n["metadata"]["name"] for n in http.get(sandbox.url + "/api/v1/namespaces").json()["items"]
    ]
    assert {"default", "kube-system", "other"} <= set(namespaces)


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=a", ["a"]),
        ("app==a", ["a"]),
        ("app!=a", ["b", "c"]),
        ("app in (a,b)", ["a", "b"]),
        ("app notin (a)", ["b", "c"]),
        ("tier", ["a", "b"]),
        ("!tier", ["c"]),
        ("tier=front,app in (b,c)", ["b"]),
    ],
)
def test_label_selectors(
    sandbox: SandboxHandle, http: requests.Session, selector: str, expected: list[str]
) -> None:
    for name in ("a", "b", "c"):
        body = deployment(name, replicas=0)
        if name == "c":
            del body["metadata"]["labels"]["tier"]
        http.post(sandbox.url + DEPLOYMENTS, json=body)
    items = http.get(sandbox.url + DEPLOYMENTS, params={"labelSelector": selector}).json()["items"]
    assert [i["metadata"]["name"] for i in items] == expected


def test_bad_label_selector_is_400(sandbox: SandboxHandle, http: requests.Session) -> None:
    resp = http.get(sandbox.url + DEPLOYMENTS, params={"labelSelector": "app in (a"})
    assert resp.status_code == 400


def test_field_selectors(sandbox: SandboxHandle, http: requests.Session) -> None:
    for name in ("a", "b"):
        http.post(sandbox.url + DEPLOYMENTS, json=deployment(name, replicas=0))
    items = http.get(sandbox.url + DEPLOYMENTS, params={"fieldSelector": "metadata.name=b"}).json()[
        "items"
    ]
    assert [i["metadata"]["name"] for i in items] == ["b"]
    items = http.get(
        sandbox.url + "/apis/apps/v1/deployments",
        params={"fieldSelector": "metadata.namespace!=default"},
    ).json()["items"]
    assert items == []
    resp = http.get(sandbox.url + DEPLOYMENTS, params={"fieldSelector": "spec.paused=true"})
    assert resp.status_code == 400 and "field label not supported" in resp.json()["message"]


def test_pod_field_selector_on_status_phase(sandbox: SandboxHandle, http: requests.Session) -> None:
    pods = sandbox.url + "/api/v1/namespaces/default/pods"
    for name, phase in (("p1", "Running"), ("p2", "Pending")):
        pod = {
            "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox:1"}]},
        }
        created = http.post(pods, json=pod).json()
        assert created["status"]["phase"] == "Pending"
        created["status"]["phase"] = phase
        assert http.put(f"{pods}/{name}/status", json=created).status_code == 200
    running = http.get(pods, params={"fieldSelector": "status.phase=Running"}).json()["items"]
    assert [p["metadata"]["name"] for p in running] == ["p1"]
    others = http.get(pods, params={"fieldSelector": "status.phase!=Running"}).json()["items"]
    assert [p["metadata"]["name"] for p in others] == ["p2"]


def test_limit_and_continue_page_through_a_list(
    sandbox: SandboxHandle, http: requests.Session
) -> None:
    for n in range(5):
        http.post(
            sandbox.url + "/api/v1/namespaces/default/configmaps",
            json={"metadata": {"name": f"c{n}"}},
        )
    first = http.get(
        sandbox.url + "/api/v1/namespaces/default/configmaps", params={"limit": 2}
    ).json()
    assert [i["metadata"]["name"] for i in first["items"]] == ["c0", "c1"]
    assert first["metadata"]["remainingItemCount"] == 3
    names = [i["metadata"]["name"] for i in first["items"]]
    token = first["metadata"]["continue"]
    while token:
        page = http.get(
            sandbox.url + "/api/v1/namespaces/default/configmaps",
            params={"limit": 2, "continue": token},
        ).json()
        names += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
    assert names == [f"c{n}" for n in range(5)]


def test_unknown_paths_are_404_status(sandbox: SandboxHandle, http: requests.Session) -> None:
    resp = http.get(sandbox.url + "/apis/apps/v1/namespaces/default/widgets")
    assert resp.status_code == 404 and resp.json()["kind"] == "Status"


def test_service_defaults_by_type(sandbox: SandboxHandle, http: requests.Session) -> None:
    services = sandbox.url + "/api/v1/namespaces/default/services"
    plain = http.post(
        services, json={"metadata": {"name": "a"}, "spec": {"ports": [{"port": 80}]}}
    ).json()
    assert plain["spec"]["type"] == "ClusterIP" and plain["spec"]["clusterIPs"] == [
        plain["spec"]["clusterIP"]
    ]
    assert plain["spec"]["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert (
        plain["spec"]["ipFamilies"] == ["IPv4"]
        and plain["spec"]["internalTrafficPolicy"] == "Cluster"
    )
    lb = http.post(
        services,
        json={
            "metadata": {"name": "b"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 443}]},
        },
    ).json()
    assert 30000 <= lb["spec"]["ports"][0]["nodePort"] <= 32767
    assert (
        lb["spec"]["externalTrafficPolicy"] == "Cluster"
        and lb["spec"]["allocateLoadBalancerNodePorts"] is True
    )
    headless = http.post(
        services,
        json={"metadata": {"name": "c"}, "spec": {"clusterIP": "None", "ports": [{"port": 80}]}},
    ).json()
    assert headless["spec"]["clusterIP"] == "None"
    other = http.post(
        services, json={"metadata": {"name": "d"}, "spec": {"ports": [{"port": 80}]}}
    ).json()
    assert other["spec"]["clusterIP"] != plain["spec"]["clusterIP"]


def test_concurrent_read_modify_write_loses_no_update(sandbox: SandboxHandle) -> None:
    """Optimistic concurrency under load: every writer retries on 409; no increment is lost."""
    import threading

    url = sandbox.url + "/api/v1/namespaces/default/configmaps"
    requests.post(url, json={"metadata": {"name": "counter"}, "data": {"n": "0"}}, timeout=5)
    conflicts = []

    def bump(times: int) -> None:
        session = requests.Session()
        for _ in range(times):
            while True:
                current = session.get(url + "/counter", timeout=5).json()
                current["data"]["n"] = str(int(current["data"]["n"]) + 1)
                resp = session.put(url + "/counter", json=current, timeout=5)
                if resp.status_code == 200:
                    break
                assert resp.status_code == 409
                conflicts.append(1)

    threads = [threading.Thread(target=bump, args=(15,)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    final = requests.get(url + "/counter", timeout=5).json()
    assert final["data"]["n"] == "90"
    assert conflicts  # the writers did collide, and the 409s kept every increment


def test_a_body_naming_another_object_is_refused_on_replace_and_apply(
    sandbox: SandboxHandle,
) -> None:
    assert requests.post(sandbox.url + DEPLOYMENTS, json=deployment("web"), timeout=5).ok
    other = deployment("other")
    put = requests.put(f"{sandbox.url}{DEPLOYMENTS}/web", json=other, timeout=5)
    apply = requests.patch(
        f"{sandbox.url}{DEPLOYMENTS}/web",
        params={"fieldManager": "test"},
        json=other,
        headers={"Content-Type": "application/apply-patch+yaml"},
        timeout=5,
    )
    for resp in (put, apply):
        assert resp.status_code == 400
        assert resp.json()["message"] == "the name of the object does not match the name on the URL"
    names = [
        d["metadata"]["name"]
        for d in requests.get(sandbox.url + DEPLOYMENTS, timeout=5).json()["items"]
    ]
    assert names == ["web"]
    # a body without a name takes the URL's
    unnamed = deployment("web", image="nginx:1.26")
    del unnamed["metadata"]["name"]
    unnamed["metadata"]["resourceVersion"] = requests.get(
        f"{sandbox.url}{DEPLOYMENTS}/web", timeout=5
    ).json()["metadata"]["resourceVersion"]
    replaced = requests.put(f"{sandbox.url}{DEPLOYMENTS}/web", json=unnamed, timeout=5)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["metadata"]["name"] == "web"
