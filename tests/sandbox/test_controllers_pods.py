"""ReplicaSet controller and the simulated kubelet on a bare Store: pods, phases, image tags."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kubernetes.client.models import V1Pod, V1ReplicaSet

from kube_sandbox.controllers.kubelet import image_behaviour
from kube_sandbox.storage.store import Store
from kube_sandbox.testing import POD_READY_DELAY, wait_until

Obj = dict[str, Any]
NS = "default"
DELAY = POD_READY_DELAY  # what the ``store`` fixture's controllers use


def replicaset(name: str, image: str, replicas: int = 2) -> Obj:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": {"team": "web"}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def pod(name: str, *images: str) -> Obj:
    containers = [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": name}},
        "spec": {"containers": containers},
    }


def rs_status(store: Store, name: str) -> Obj:
    return store.get("apps/replicasets", NS, name).get("status") or {}


def owned_pods(store: Store, rs: Obj) -> list[Obj]:
    items, _ = store.list("/pods", NS)
    uid = rs["metadata"]["uid"]
    return [p for p in items if p["metadata"]["ownerReferences"][0]["uid"] == uid]


def ready(p: Obj) -> bool:
    conds = (p.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)


def container(store: Store, name: str, index: int = 0) -> Obj:
    status = store.get("/pods", NS, name).get("status") or {}
    statuses = status.get("containerStatuses") or [{}]
    return statuses[index] if index < len(statuses) else {}


def events_about(store: Store, name: str) -> dict[str, Obj]:
    items, _ = store.list("/events", NS)
    return {e["reason"]: e for e in items if e["involvedObject"]["name"] == name}


def test_replicaset_creates_complete_owned_pods_and_reports_status(store: Store) -> None:
    rs = store.create("apps/replicasets", replicaset("web", "nginx:1", 3))
    wait_until(lambda: rs_status(store, "web").get("availableReplicas") == 3)
    current = store.get("apps/replicasets", NS, "web")
    assert current["status"] == {
        "replicas": 3,
        "fullyLabeledReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "observedGeneration": 1,
    }
    V1ReplicaSet.from_dict(current)  # the official client accepts it
    pods = owned_pods(store, rs)
    assert len(pods) == 3
    for p in pods:
        meta = p["metadata"]
        assert meta["generateName"] == "web-" and meta["name"].startswith("web-")
        assert len(meta["name"]) == len("web-") + 5
        assert meta["labels"] == {"app": "web"} and meta["annotations"] == {"team": "web"}
        assert meta["ownerReferences"][0] | {} == {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": "web",
            "uid": rs["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
        V1Pod.from_dict(p)
    reasons = {e["reason"] for e in events_about(store, "web").values()}
    assert "SuccessfulCreate" in reasons


def test_ready_pod_status_looks_like_a_kubelet_wrote_it(store: Store) -> None:
    store.create("/pods", pod("one", "registry.local:5000/team/app:1.2"))
    p = wait_until(lambda: (x := store.get("/pods", NS, "one")) and ready(x) and x)
    status = p["status"]
    assert p["spec"]["nodeName"] == "sandbox-node"
    assert status["phase"] == "Running"
    assert status["podIP"].startswith("10.") and status["podIPs"] == [{"ip": status["podIP"]}]
    assert status["hostIP"].startswith("10.")
    assert [c["type"] for c in status["conditions"]] == [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ]
    assert all(c["status"] == "True" for c in status["conditions"])
    [cs] = status["containerStatuses"]
    assert cs["ready"] is True and cs["started"] is True and cs["restartCount"] == 0
    assert cs["image"] == "registry.local:5000/team/app:1.2"
    assert cs["imageID"].startswith("registry.local:5000/team/app@sha256:")
    assert "startedAt" in cs["state"]["running"]
    assert status["qosClass"] == "BestEffort"
    V1Pod.from_dict(p)
    # The events are recorded beside the status write, not before it: wait for them (bounded).
    wanted = {"Scheduled", "Pulled", "Created", "Started"}
    wait_until(lambda: wanted <= set(events_about(store, "one")))


def test_crashloop_image_restarts_with_growing_count(store: Store) -> None:
    store.create("/pods", pod("crash", "app:crashloop"))
    wait_until(lambda: container(store, "crash").get("restartCount", 0) >= 3, timeout=5)
    p = store.get("/pods", NS, "crash")
    cs = p["status"]["containerStatuses"][0]
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    assert cs["lastState"]["terminated"]["reason"] == "Error"
    assert cs["ready"] is False and not ready(p)
    assert p["status"]["phase"] == "Running"
    backoff = events_about(store, "crash")["BackOff"]
    assert backoff["type"] == "Warning" and backoff["count"] >= 2
    V1Pod.from_dict(p)


def test_pullerror_image_goes_from_errimagepull_to_imagepullbackoff(store: Store) -> None:
    store.create("/pods", pod("pull", "app:pullerror"))
    reasons: list[str] = []

    def seen_backoff() -> bool:
        reason = (container(store, "pull").get("state") or {}).get("waiting", {}).get("reason")
        if reason and (not reasons or reasons[-1] != reason):
            reasons.append(reason)
        return reason == "ImagePullBackOff"

    wait_until(seen_backoff, timeout=5)
    assert "ErrImagePull" in reasons
    p = store.get("/pods", NS, "pull")
    assert p["status"]["phase"] == "Pending"
    failed = [e for e in store.list("/events", NS)[0] if e["reason"] == "Failed"]
    assert {e["message"] for e in failed} >= {"Error: ErrImagePull", "Error: ImagePullBackOff"}


def test_slow_image_is_ready_after_ten_times_the_delay(store: Store) -> None:
    start = time.monotonic()
    store.create("/pods", pod("slow", "app:slow"))
    wait_until(lambda: container(store, "slow").get("started"))
    assert not ready(store.get("/pods", NS, "slow"))
    wait_until(lambda: ready(store.get("/pods", NS, "slow")))
    assert time.monotonic() - start >= 10 * DELAY


def test_neverready_image_runs_but_is_never_ready(store: Store) -> None:
    store.create("/pods", pod("never", "app:neverready", "sidecar:1"))
    wait_until(lambda: container(store, "never", 1).get("ready"))
    wait_until(lambda: "Unhealthy" in events_about(store, "never"))
    p = store.get("/pods", NS, "never")
    assert p["status"]["phase"] == "Running"
    assert p["status"]["containerStatuses"][0]["started"] is True
    assert p["status"]["containerStatuses"][0]["ready"] is False
    assert not ready(p)


def test_scaling_down_deletes_not_ready_pods_first(store: Store) -> None:
    rs = store.create("apps/replicasets", replicaset("web", "nginx:1", 2))
    wait_until(lambda: rs_status(store, "web").get("readyReplicas") == 2)
    keep = {p["metadata"]["name"] for p in owned_pods(store, rs)}
    # Two more pods that cannot become ready (their image fails), then back to two.
    current = store.get("apps/replicasets", NS, "web")
    current["spec"]["replicas"] = 4
    current["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:pullerror"
    store.update("apps/replicasets", current)
    wait_until(lambda: len(owned_pods(store, rs)) == 4)
    current = store.get("apps/replicasets", NS, "web")
    current["spec"]["replicas"] = 2
    store.update("apps/replicasets", current)
    wait_until(lambda: len(owned_pods(store, rs)) == 2)
    assert {p["metadata"]["name"] for p in owned_pods(store, rs)} == keep


def test_deleted_pod_is_replaced(store: Store) -> None:
    rs = store.create("apps/replicasets", replicaset("web", "nginx:1", 2))
    wait_until(lambda: len(owned_pods(store, rs)) == 2)
    victim = owned_pods(store, rs)[0]["metadata"]["name"]
    store.delete("/pods", NS, victim)
    names = wait_until(
        lambda: len(x := {p["metadata"]["name"] for p in owned_pods(store, rs)}) == 2 and x
    )
    assert victim not in names


@pytest.mark.parametrize(
    ("image", "behaviour"),
    [
        ("app:crashloop", "crashloop"),
        ("registry:5000/app:pullerror", "pullerror"),
        ("app:1.2-slow", "slow"),
        ("app:neverready", "neverready"),
        ("registry:5000/crashloop", "ok"),  # a port or a repository name is not a tag
        ("app@sha256:abc", "ok"),
        ("app:1.2.3", "ok"),
    ],
)
def test_image_tag_selects_the_behaviour(image: str, behaviour: str) -> None:
    assert image_behaviour(image) == behaviour
