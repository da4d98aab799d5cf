"""The canary Service and the stable Service's narrowing, shared by gateway-api and
nginx-ingress: what the endpoints controller makes of them, and who owns the narrowing."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from tests.rollout.traffic.conftest import NAMES, NS, SELECTOR, Cluster

from ci_deploy.kube.apply import apply_object
from ci_deploy.rollout.session import StepFailed
from ci_deploy.rollout.traffic import ROUTER_FIELD_MANAGER, TRACK_LABEL
from ci_deploy.rollout.traffic.services import (
    canary_service,
    patch_read_object,
    prepare_services,
    reset_services,
)


def test_the_canary_service_copies_ports_not_allocated_addresses() -> None:
    stable = {
        "metadata": {"name": "web-app", "namespace": NS, "labels": {"team": "shop"}},
        "spec": {
            "type": "NodePort",
            "clusterIP": "10.96.0.7",
            "clusterIPs": ["10.96.0.7"],
            "selector": SELECTOR,
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "nodePort": 30080}],
        },
    }
    assert canary_service(stable, NAMES) == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "web-app-canary",
            "namespace": NS,
            "labels": {"team": "shop", TRACK_LABEL: "canary"},
        },
        "spec": {
            "type": "ClusterIP",
            "selector": {**SELECTOR, TRACK_LABEL: "canary"},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }


def test_prepare_narrows_the_stable_service_and_endpoints_follow_the_tracks(
    cluster: Cluster,
) -> None:
    for pod, track in (("stable-1", "stable"), ("stable-2", "stable"), ("canary-1", "canary")):
        cluster.start_pod(pod, track)
    # As rendered, the app's Service selects both tracks: the problem narrowing solves.
    cluster.wait_endpoints("web-app", {"stable-1", "stable-2", "canary-1"})

    prepare_services(cluster.ctx, cluster.names)

    assert cluster.selector("web-app") == {**SELECTOR, TRACK_LABEL: "stable"}
    canary = cluster.must("Service", "web-app-canary")
    assert canary["spec"]["selector"] == {**SELECTOR, TRACK_LABEL: "canary"}
    assert canary["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]
    stable_ip = cluster.must("Service", "web-app")["spec"]["clusterIP"]
    assert canary["spec"]["clusterIP"] not in ("", "None", stable_ip)
    assert canary["metadata"]["labels"][TRACK_LABEL] == "canary"
    cluster.wait_endpoints("web-app", {"stable-1", "stable-2"})
    cluster.wait_endpoints("web-app-canary", {"canary-1"})

    reset_services(cluster.ctx, cluster.names)
    assert cluster.selector("web-app") == SELECTOR
    assert cluster.get("Service", "web-app-canary") is None
    # Widened again, the Service selects a canary pod still running: why the strategy scales
    # the canary to zero before reset.
    cluster.wait_endpoints("web-app", {"stable-1", "stable-2", "canary-1"})


def test_prepare_refuses_to_narrow_away_pods_without_a_track(cluster: Cluster) -> None:
    cluster.start_pod("stable-1", "stable")
    cluster.start_pod("old-1", None)  # a pod of the Deployment before it carried the track
    before = cluster.inventory()
    with pytest.raises(StepFailed) as failed:
        prepare_services(cluster.ctx, cluster.names)
    assert failed.value.kind == "failed"
    assert "1 pod(s) without that label out of it (old-1)" in failed.value.message
    assert f"namespace {NS}" in failed.value.message
    assert f"{TRACK_LABEL}: stable" in failed.value.message
    assert cluster.selector("web-app") == SELECTOR
    assert cluster.inventory() == before


def test_prepare_fails_clearly_without_the_stable_service(cluster: Cluster) -> None:
    cluster.delete("Service", "web-app")
    with pytest.raises(StepFailed) as failed:
        prepare_services(cluster.ctx, cluster.names)
    assert failed.value.message.startswith(f"Service web-app not found in namespace {NS}: ")
    assert cluster.get("Service", "web-app-canary") is None
    reset_services(cluster.ctx, cluster.names)  # nothing there: nothing to do, no error


def test_the_narrowing_is_owned_by_the_router_field_manager(cluster: Cluster) -> None:
    prepare_services(cluster.ctx, cluster.names)
    entries = cluster.must("Service", "web-app")["metadata"]["managedFields"]
    router = [e for e in entries if e["manager"] == ROUTER_FIELD_MANAGER]
    assert [e["operation"] for e in router] == ["Update"]
    assert "f:selector" in router[0]["fieldsV1"]["f:spec"]


def test_a_forced_apply_of_the_rendered_service_replaces_the_atomic_selector(
    cluster: Cluster,
) -> None:
    """What kube-apiserver does: the router's separate field manager does not protect the
    narrowing from ci-deploy's own apply of the rendered Service during a canary."""
    prepare_services(cluster.ctx, cluster.names)
    apply_object(cluster.client, cluster.manifests["Service"])  # field manager ci-deploy, forced
    assert cluster.selector("web-app") == SELECTOR


def test_a_rewrite_that_meets_a_concurrent_write_reads_again_and_keeps_both(
    cluster: Cluster,
) -> None:
    path = cluster.path("HTTPRoute", "web-app")
    seen: list[str] = []

    def edit(current: dict[str, Any]) -> dict[str, Any]:
        seen.append(current["metadata"]["resourceVersion"])
        if len(seen) == 1:  # someone else writes between our read and our patch
            route = copy.deepcopy(cluster.manifests["HTTPRoute"])
            route["metadata"]["labels"]["team"] = "shop"
            apply_object(cluster.client, route)
        return {"spec": {"rules": [{**current["spec"]["rules"][0], "timeouts": {"request": "9s"}}]}}

    written = patch_read_object(cluster.client, path, edit)

    assert written is not None and len(seen) == 2 and seen[0] != seen[1]  # a 409, then again
    assert written["metadata"]["labels"]["team"] == "shop"
    assert written["spec"]["rules"][0]["timeouts"] == {"request": "9s"}
    assert patch_read_object(cluster.client, cluster.path("HTTPRoute", "gone"), edit) is None
