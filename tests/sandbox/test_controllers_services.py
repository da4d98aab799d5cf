"""Endpoints / EndpointSlice from ready pods, and the HPA clamp, on a bare Store."""

from __future__ import annotations

from typing import Any

from kubernetes.client.models import (
    V1Endpoints,
    V1EndpointSlice,
    V1HorizontalPodAutoscaler,
)

from kube_sandbox.storage.store import Store
from kube_sandbox.testing import wait_until

Obj = dict[str, Any]
NS = "default"


def pod(name: str, image: str, app: str = "web") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": app}},
        "spec": {
            "containers": [
                {"name": "app", "image": image, "ports": [{"name": "http", "containerPort": 8080}]}
            ]
        },
    }


def service(name: str, selector: dict[str, str] | None) -> Obj:
    spec: Obj = {"ports": [{"name": "web", "port": 80, "targetPort": "http", "protocol": "TCP"}]}
    if selector is not None:
        spec["selector"] = selector
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NS, "labels": {"tier": "front"}},
        "spec": spec,
    }


def endpoints(store: Store, name: str) -> Obj | None:
    items, _ = store.list("/endpoints", NS, lambda o: o["metadata"]["name"] == name)
    return items[0] if items else None


def slices(store: Store, name: str) -> list[Obj]:
    items, _ = store.list(
        "discovery.k8s.io/endpointslices",
        NS,
        lambda o: o["metadata"]["labels"].get("kubernetes.io/service-name") == name,
    )
    return items


def test_service_endpoints_list_ready_and_not_ready_pods(store: Store) -> None:
    store.create("/pods", pod("good", "app:1"))
    store.create("/pods", pod("never", "app:neverready"))
    store.create("/pods", pod("other", "app:1", app="db"))
    svc = store.create("/services", service("web", {"app": "web"}))

    def settled() -> Obj | None:
        ep = endpoints(store, "web")
        subsets = (ep or {}).get("subsets") or [{}]
        done = subsets[0].get("addresses") and subsets[0].get("notReadyAddresses")
        return ep if done else None

    ep = wait_until(settled)
    [subset] = ep["subsets"]
    good = store.get("/pods", NS, "good")
    assert subset["ports"] == [{"port": 8080, "protocol": "TCP", "name": "web"}]
    assert subset["addresses"] == [
        {
            "ip": good["status"]["podIP"],
            "nodeName": "sandbox-node",
            "targetRef": {
                "kind": "Pod",
                "namespace": NS,
                "name": "good",
                "uid": good["metadata"]["uid"],
            },
        }
    ]
    assert [a["targetRef"]["name"] for a in subset["notReadyAddresses"]] == ["never"]
    assert ep["metadata"]["labels"] == {"tier": "front"}
    V1Endpoints.from_dict(ep)

    [es] = wait_until(lambda: slices(store, "web"))
    es = wait_until(
        lambda: len(slices(store, "web")[0]["endpoints"]) == 2 and slices(store, "web")[0]
    )
    assert es["addressType"] == "IPv4"
    assert es["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == (
        "endpointslice-controller.k8s.io"
    )
    assert es["metadata"]["ownerReferences"][0]["uid"] == svc["metadata"]["uid"]
    by_pod = {e["targetRef"]["name"]: e["conditions"]["ready"] for e in es["endpoints"]}
    assert by_pod == {"good": True, "never": False}
    V1EndpointSlice.from_dict(es)


def test_endpoints_follow_pods_and_go_with_the_service(store: Store) -> None:
    store.create("/services", service("web", {"app": "web"}))
    store.create("/pods", pod("a", "app:1"))
    wait_until(lambda: ((endpoints(store, "web") or {}).get("subsets") or [{}])[0].get("addresses"))
    store.delete("/pods", NS, "a")
    wait_until(lambda: endpoints(store, "web") and "subsets" not in endpoints(store, "web"))
    store.delete("/services", NS, "web")
    wait_until(lambda: endpoints(store, "web") is None and not slices(store, "web"))


def test_service_without_selector_keeps_user_endpoints(store: Store) -> None:
    user = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "external", "namespace": NS},
        "subsets": [{"addresses": [{"ip": "192.0.2.1"}], "ports": [{"port": 5432}]}],
    }
    store.create("/endpoints", user)
    store.create("/services", service("external", None))
    store.create("/pods", pod("a", "app:1"))
    wait_until(lambda: (store.get("/pods", NS, "a").get("status") or {}).get("podIP"))
    assert endpoints(store, "external")["subsets"] == user["subsets"]  # type: ignore[index]
    assert slices(store, "external") == []


def hpa(target: str, low: int, high: int) -> Obj:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": target, "namespace": NS},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": low,
            "maxReplicas": high,
        },
    }


def test_hpa_clamps_the_target_into_its_range(store: Store) -> None:
    labels = {"app": "web"}
    store.create(
        "apps/deployments",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": NS},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "app", "image": "app:1"}]},
                },
            },
        },
    )
    store.create("autoscaling/horizontalpodautoscalers", hpa("web", 3, 5))
    d = wait_until(
        lambda: (x := store.get("apps/deployments", NS, "web"))["spec"]["replicas"] == 3 and x
    )
    assert d["metadata"]["generation"] == 2

    def hpa_status() -> Obj:
        return store.get("autoscaling/horizontalpodautoscalers", NS, "web").get("status") or {}

    status = wait_until(lambda: (s := hpa_status()).get("currentReplicas") == 3 and s)
    assert status["desiredReplicas"] == 3 and "lastScaleTime" in status
    V1HorizontalPodAutoscaler.from_dict(
        store.get("autoscaling/horizontalpodautoscalers", NS, "web")
    )
    events, _ = store.list("/events", NS)
    assert any(e["reason"] == "SuccessfulRescale" for e in events)
    # Scaled beyond the range by someone else: pulled back to the maximum.
    d = store.get("apps/deployments", NS, "web")
    d["spec"]["replicas"] = 9
    store.update("apps/deployments", d)
    wait_until(lambda: store.get("apps/deployments", NS, "web")["spec"]["replicas"] == 5)
