"""Deployment controller on a bare Store: ReplicaSets, revisions, rollouts, conditions."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kube_sandbox.controllers import ControllerManager
from kube_sandbox.controllers.deployment_util import template_hash
from kube_sandbox.storage.store import Store, WatchEvent
from kube_sandbox.testing import POD_READY_DELAY, deployment_manifest, wait_until

Obj = dict[str, Any]
NS = "default"
DELAY = POD_READY_DELAY  # what the ``store`` fixture's controllers use


def deployment(name: str, image: str, replicas: int = 3, **spec: Any) -> Obj:
    return deployment_manifest(name, image, replicas, NS, **spec)


def change(store: Store, name: str, edit: Callable[[Obj], None]) -> None:
    """Edit a Deployment's spec as the API server would (generation + 1)."""
    d = store.get("apps/deployments", NS, name)
    edit(d)
    d["metadata"]["generation"] += 1
    store.update("apps/deployments", d)


def set_image(image: str) -> Callable[[Obj], None]:
    def edit(d: Obj) -> None:
        d["spec"]["template"]["spec"]["containers"][0]["image"] = image

    return edit


def rolled_out(store: Store, name: str) -> Obj | None:
    """The Deployment when kubectl rollout status would call it done."""
    d = store.get("apps/deployments", NS, name)
    s, want = d.get("status") or {}, d["spec"]["replicas"]
    done = (
        s.get("observedGeneration", 0) >= d["metadata"]["generation"]
        and s.get("updatedReplicas", 0) == want
        and s.get("replicas", 0) == want
        and s.get("availableReplicas", 0) == want
    )
    return d if done else None


def replicasets(store: Store, name: str) -> list[Obj]:
    items, _ = store.list("apps/replicasets", NS)
    return [rs for rs in items if rs["metadata"]["labels"].get("app") == name]


def pods(store: Store, name: str) -> list[Obj]:
    items, _ = store.list("/pods", NS)
    return [p for p in items if (p["metadata"].get("labels") or {}).get("app") == name]


def condition(d: Obj, kind: str) -> Obj:
    return next(c for c in d["status"]["conditions"] if c["type"] == kind)


def test_new_deployment_gets_one_owned_replicaset_with_hash_and_revision(store: Store) -> None:
    created = store.create("apps/deployments", deployment("web", "nginx:1"))
    d = wait_until(lambda: rolled_out(store, "web"))
    [rs] = replicasets(store, "web")
    pod_hash = template_hash(created["spec"]["template"])
    assert rs["metadata"]["name"] == f"web-{pod_hash}"
    assert rs["metadata"]["labels"] == {"app": "web", "pod-template-hash": pod_hash}
    assert rs["spec"]["selector"]["matchLabels"]["pod-template-hash"] == pod_hash
    assert rs["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "web",
            "uid": created["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    annotations = rs["metadata"]["annotations"]
    assert annotations["deployment.kubernetes.io/revision"] == "1"
    assert annotations["deployment.kubernetes.io/desired-replicas"] == "3"
    assert annotations["deployment.kubernetes.io/max-replicas"] == "4"  # 3 + ceil(25% of 3)
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert d["status"]["readyReplicas"] == 3 and "unavailableReplicas" not in d["status"]
    assert condition(d, "Available")["reason"] == "MinimumReplicasAvailable"
    progressing = condition(d, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("True", "NewReplicaSetAvailable")
    assert progressing["message"] == f'ReplicaSet "web-{pod_hash}" has successfully progressed.'
    assert len(pods(store, "web")) == 3


class PodCounter:
    """Counts existing and ready pods of one image after every store change (under its lock)."""

    def __init__(self, store: Store, app: str) -> None:
        self.app = app
        self.ready: dict[str, bool] = {}
        self.images: dict[str, str] = {}
        self.max_total = 0
        self.min_ready: int | None = None
        self.overlap = False  # old and new image pods existing at the same time
        with store.lock:  # the pods that exist now, then every change after them
            for pod in pods(store, app):
                self.on_event(WatchEvent(0, "ADDED", "/pods", pod))
            self.min_ready = sum(self.ready.values())
            store.subscribe(self.on_event)

    def on_event(self, event: WatchEvent) -> None:
        if event.resource != "/pods" or event.obj["metadata"]["labels"].get("app") != self.app:
            return
        name = event.obj["metadata"]["name"]
        if event.type == "DELETED":
            self.ready.pop(name, None)
            self.images.pop(name, None)
        else:
            conds = (event.obj.get("status") or {}).get("conditions") or []
            self.ready[name] = any(c["type"] == "Ready" and c["status"] == "True" for c in conds)
            self.images[name] = event.obj["spec"]["containers"][0]["image"]
        self.max_total = max(self.max_total, len(self.ready))
        ready = sum(self.ready.values())
        self.min_ready = ready if self.min_ready is None else min(self.min_ready, ready)
        self.overlap = self.overlap or len(set(self.images.values())) > 1


def test_rolling_update_stays_within_max_surge_and_max_unavailable(store: Store) -> None:
    strategy = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
    }
    store.create("apps/deployments", deployment("web", "nginx:1", 10, strategy=strategy))
    wait_until(lambda: rolled_out(store, "web"))
    counter = PodCounter(store, "web")
    change(store, "web", set_image("nginx:2"))
    d = wait_until(lambda: rolled_out(store, "web"))
    assert counter.max_total == 13  # 10 + ceil(2.5): the surge is used, never exceeded
    assert counter.min_ready == 8  # 10 - floor(2.5)
    assert {p["spec"]["containers"][0]["image"] for p in pods(store, "web")} == {"nginx:2"}
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    new, old = sorted(replicasets(store, "web"), key=lambda r: -r["spec"]["replicas"])
    assert (new["spec"]["replicas"], old["spec"]["replicas"]) == (10, 0)
    assert new["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    events, _ = store.list("/events", NS)
    reasons = [e["message"] for e in events if e["reason"] == "ScalingReplicaSet"]
    assert f"Scaled down replica set {old['metadata']['name']} from 10 to 8" in reasons


def test_recreate_removes_old_pods_before_creating_new_ones(store: Store) -> None:
    store.create("apps/deployments", deployment("db", "pg:1", 3, strategy={"type": "Recreate"}))
    wait_until(lambda: rolled_out(store, "db"))
    counter = PodCounter(store, "db")
    change(store, "db", set_image("pg:2"))
    wait_until(lambda: rolled_out(store, "db"))
    assert not counter.overlap
    assert counter.min_ready == 0
    assert {p["spec"]["containers"][0]["image"] for p in pods(store, "db")} == {"pg:2"}


def test_rollback_by_template_reuses_the_old_replicaset_with_the_next_revision(
    store: Store,
) -> None:
    store.create("apps/deployments", deployment("web", "nginx:1"))
    wait_until(lambda: rolled_out(store, "web"))
    change(store, "web", set_image("nginx:2"))
    wait_until(lambda: rolled_out(store, "web"))
    change(store, "web", set_image("nginx:1"))
    d = wait_until(lambda: rolled_out(store, "web"))
    rss = {
        rs["spec"]["template"]["spec"]["containers"][0]["image"]: rs
        for rs in replicasets(store, "web")
    }
    assert set(rss) == {"nginx:1", "nginx:2"}  # no third ReplicaSet
    first = rss["nginx:1"]["metadata"]["annotations"]
    assert first["deployment.kubernetes.io/revision"] == "3"
    assert first["deployment.kubernetes.io/revision-history"] == "1"
    assert rss["nginx:1"]["spec"]["replicas"] == 3 and rss["nginx:2"]["spec"]["replicas"] == 0
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"


def test_crashloop_rollout_exceeds_its_progress_deadline(store: Store) -> None:
    store.create(
        "apps/deployments",
        deployment("bad", "app:crashloop", 2, progressDeadlineSeconds=1),
    )

    def timed_out() -> Obj | None:
        d = store.get("apps/deployments", NS, "bad")
        conds = {c["type"]: c for c in (d.get("status") or {}).get("conditions") or []}
        prog = conds.get("Progressing")
        return d if prog and prog["reason"] == "ProgressDeadlineExceeded" else None

    d = wait_until(timed_out, timeout=6)
    progressing = condition(d, "Progressing")
    assert progressing["status"] == "False"
    assert progressing["message"].endswith("has timed out progressing.")
    assert condition(d, "Available")["status"] == "False"
    assert d["status"]["unavailableReplicas"] == 2
    assert "availableReplicas" not in d["status"]


def test_paused_deployment_starts_no_rollout_until_resumed(store: Store) -> None:
    store.create("apps/deployments", deployment("web", "nginx:1"))
    wait_until(lambda: rolled_out(store, "web"))

    def pause_and_change(d: Obj) -> None:
        d["spec"]["paused"] = True
        set_image("nginx:2")(d)

    change(store, "web", pause_and_change)

    def paused() -> Obj | None:
        d = store.get("apps/deployments", NS, "web")
        prog = condition(d, "Progressing")
        return d if prog["reason"] == "DeploymentPaused" else None

    d = wait_until(paused)
    assert condition(d, "Progressing")["status"] == "Unknown"
    assert len(replicasets(store, "web")) == 1

    def resume(d: Obj) -> None:
        d["spec"]["paused"] = False

    change(store, "web", resume)
    wait_until(lambda: rolled_out(store, "web"))
    assert {p["spec"]["containers"][0]["image"] for p in pods(store, "web")} == {"nginx:2"}
    assert len(replicasets(store, "web")) == 2


def test_revision_history_limit_deletes_the_oldest_idle_replicasets(store: Store) -> None:
    store.create("apps/deployments", deployment("web", "nginx:1", 1, revisionHistoryLimit=1))
    for tag in ("2", "3", "4"):
        wait_until(lambda: rolled_out(store, "web"))
        change(store, "web", set_image(f"nginx:{tag}"))
    wait_until(lambda: rolled_out(store, "web"))
    images = wait_until(
        lambda: (rss := replicasets(store, "web")) and len(rss) == 2 and rss,
    )
    revisions = sorted(
        int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]) for rs in images
    )
    assert revisions == [3, 4]


def test_scaling_replicas_adds_and_removes_pods(store: Store) -> None:
    store.create("apps/deployments", deployment("web", "nginx:1", 2))
    wait_until(lambda: rolled_out(store, "web"))

    def to(n: int) -> Callable[[Obj], None]:
        def edit(d: Obj) -> None:
            d["spec"]["replicas"] = n

        return edit

    change(store, "web", to(5))
    wait_until(lambda: rolled_out(store, "web"))
    assert wait_until(lambda: len(pods(store, "web")) == 5)
    change(store, "web", to(1))
    wait_until(lambda: rolled_out(store, "web"))
    assert wait_until(lambda: len(pods(store, "web")) == 1)
    [rs] = replicasets(store, "web")
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "1"


def test_orphaned_replicaset_is_adopted_by_a_recreated_deployment(store: Store) -> None:
    store.create("apps/deployments", deployment("web", "nginx:1"))
    wait_until(lambda: rolled_out(store, "web"))
    [rs] = replicasets(store, "web")
    pod_names = {p["metadata"]["name"] for p in pods(store, "web")}
    # What `kubectl delete deployment web --cascade=orphan` leaves behind.
    rs["metadata"]["ownerReferences"] = []
    store.update("apps/replicasets", rs)
    store.delete("apps/deployments", NS, "web")
    again = store.create("apps/deployments", deployment("web", "nginx:1"))
    d = wait_until(lambda: rolled_out(store, "web"))
    [adopted] = replicasets(store, "web")
    assert adopted["metadata"]["uid"] == rs["metadata"]["uid"]
    assert adopted["metadata"]["ownerReferences"][0]["uid"] == again["metadata"]["uid"]
    assert {p["metadata"]["name"] for p in pods(store, "web")} == pod_names
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"


def test_min_ready_seconds_delays_availability(store: Store) -> None:
    start = time.monotonic()
    store.create("apps/deployments", deployment("web", "nginx:1", 2, minReadySeconds=2))

    def status() -> Obj:
        return store.get("apps/deployments", NS, "web").get("status") or {}

    wait_until(lambda: status().get("readyReplicas") == 2)
    assert not status().get("availableReplicas")
    wait_until(lambda: rolled_out(store, "web"))
    assert time.monotonic() - start >= 1.0  # timestamps have one-second resolution
    [rs] = replicasets(store, "web")
    assert rs["spec"]["minReadySeconds"] == 2


def test_restored_settled_cluster_is_left_as_it_is(store: Store) -> None:
    store.create("apps/deployments", deployment("web", "nginx:1"))
    wait_until(lambda: rolled_out(store, "web"))
    snapshot = store.snapshot()
    restored = Store()
    restored.restore(snapshot)
    manager = ControllerManager(restored, pod_ready_delay=DELAY)
    manager.start()
    try:
        assert manager.wait_idle()
        assert restored.resource_version == snapshot["resourceVersion"]  # nothing rewritten
        restored.create(
            "/pods",
            {
                "metadata": {"name": "extra", "namespace": NS},
                "spec": {"containers": [{"name": "c", "image": "busybox:1"}]},
            },
        )
        extra = wait_until(
            lambda: (restored.get("/pods", NS, "extra").get("status") or {}).get("podIP")
        )
        assert extra not in {p["status"]["podIP"] for p in pods(restored, "web")}
    finally:
        manager.stop()


def test_scaling_a_paused_rollout_shares_replicas_in_proportion(store: Store) -> None:
    store.create("apps/deployments", deployment("web", "nginx:1", 4))
    wait_until(lambda: rolled_out(store, "web"))
    change(store, "web", set_image("nginx:neverready"))  # stuck half-way: new pods never ready

    def sizes() -> dict[str, int]:
        return {
            image_of(rs): rs["spec"]["replicas"]
            for rs in replicasets(store, "web")
            if (rs.get("status") or {}).get("replicas") == rs["spec"]["replicas"]
        }

    assert wait_until(lambda: sizes() == {"nginx:1": 3, "nginx:neverready": 2})

    def pause_and_double(d: Obj) -> None:
        d["spec"]["paused"] = True
        d["spec"]["replicas"] = 8

    change(store, "web", pause_and_double)
    # replicas + maxSurge = 8 + 2 = 10 pods, shared 3:2 between the two ReplicaSets.
    assert wait_until(lambda: sizes() == {"nginx:1": 6, "nginx:neverready": 4})
    assert len(replicasets(store, "web")) == 2


def image_of(obj: Obj) -> str:
    image: str = obj["spec"]["template"]["spec"]["containers"][0]["image"]
    return image


def test_a_restarted_manager_catches_up_with_changes_made_while_stopped() -> None:
    s = Store()
    manager = ControllerManager(s, pod_ready_delay=DELAY)
    manager.start()
    try:
        s.create("apps/deployments", deployment("web", "nginx:1", 2))
        wait_until(lambda: rolled_out(s, "web"))
        manager.stop()
        victim = pods(s, "web")[0]["metadata"]["name"]
        s.delete("/pods", NS, victim)  # nobody sees this event
        manager.start()
        names = wait_until(
            lambda: len(x := {p["metadata"]["name"] for p in pods(s, "web")}) == 2 and x
        )
        assert victim not in names
    finally:
        manager.stop()
