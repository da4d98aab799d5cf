"""The rollout rules of StatefulSets and DaemonSets (``kubectl rollout status``'s, plus the
fail-fast on pods of the new revision) and the pods a StatefulSet's forced rollback deletes."""

from __future__ import annotations

from typing import Any

from ci_deploy.kube.health import WaitingTracker
from ci_deploy.kube.workloads import (
    assess_daemonset,
    assess_statefulset,
    broken_revision_pods,
    is_workload,
)

Obj = dict[str, Any]
UID = "uid-1"


def sts(status: Obj, *, replicas: int = 3, generation: int = 2, strategy: Obj | None = None) -> Obj:
    spec: Obj = {"replicas": replicas}
    if strategy is not None:
        spec["updateStrategy"] = strategy
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db", "uid": UID, "generation": generation},
        "spec": spec,
        "status": {"observedGeneration": generation, **status},
    }


def pod(name: str, revision: str, *, ready: bool = True, waiting: str | None = None) -> Obj:
    status: Obj = {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if waiting:
        status["containerStatuses"] = [
            {"name": "db", "state": {"waiting": {"reason": waiting}}, "restartCount": 0}
        ]
    return {
        "metadata": {
            "name": name,
            "labels": {"controller-revision-hash": revision},
            "ownerReferences": [{"uid": UID}],
        },
        "status": status,
    }


def test_a_statefulset_is_done_when_every_pod_is_ready_at_the_update_revision() -> None:
    rolled = {
        "readyReplicas": 3,
        "updatedReplicas": 3,
        "currentRevision": "r2",
        "updateRevision": "r2",
    }
    assert assess_statefulset(sts(rolled), [], WaitingTracker(), 0).done
    rolling = {**rolled, "updatedReplicas": 2, "currentRevision": "r1"}
    status = assess_statefulset(sts(rolling), [], WaitingTracker(), 0)
    assert not status.done and status.message == "2 of 3 pods updated"
    unready = {**rolled, "readyReplicas": 2}
    assert assess_statefulset(sts(unready), [], WaitingTracker(), 0).message == "2 of 3 pods ready"


def test_a_statefulset_not_yet_observed_is_waited_for() -> None:
    obj = sts({"readyReplicas": 3, "currentRevision": "r1", "updateRevision": "r1"})
    obj["status"]["observedGeneration"] = 1
    status = assess_statefulset(obj, [], WaitingTracker(), 0)
    assert not status.done and "controller" in status.message


def test_a_partitioned_statefulset_is_done_once_the_pods_above_the_partition_are_updated() -> None:
    partitioned = {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}
    status = {
        "readyReplicas": 3,
        "updatedReplicas": 1,
        "currentRevision": "r1",
        "updateRevision": "r2",
    }
    assert assess_statefulset(sts(status, strategy=partitioned), [], WaitingTracker(), 0).done
    none = {**status, "updatedReplicas": 0}
    assert not assess_statefulset(sts(none, strategy=partitioned), [], WaitingTracker(), 0).done


def test_an_on_delete_statefulset_is_done_when_its_pods_are_ready() -> None:
    status = {"readyReplicas": 3, "currentRevision": "r1", "updateRevision": "r2"}
    on_delete = {"type": "OnDelete"}
    assert assess_statefulset(sts(status, strategy=on_delete), [], WaitingTracker(), 0).done


def test_a_failing_pod_of_the_update_revision_fails_at_once_an_old_one_does_not() -> None:
    status = {
        "readyReplicas": 2,
        "updatedReplicas": 1,
        "currentRevision": "r1",
        "updateRevision": "r2",
    }
    broken = [
        pod("db-0", "r1"),
        pod("db-1", "r1"),
        pod("db-2", "r2", ready=False, waiting="InvalidImageName"),
    ]
    failed = assess_statefulset(sts(status), broken, WaitingTracker(), 0)
    assert (
        failed.failure is not None and "pod db-2 container db: InvalidImageName" in failed.failure
    )
    old_broken = [pod("db-0", "r1", ready=False, waiting="InvalidImageName"), pod("db-2", "r2")]
    assert assess_statefulset(sts(status), old_broken, WaitingTracker(), 0).failure is None


def ds(status: Obj, generation: int = 1) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "uid": UID, "generation": generation},
        "status": {"observedGeneration": generation, **status},
    }


def test_a_daemonset_is_done_when_every_node_runs_an_available_updated_pod() -> None:
    done = {"desiredNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 2}
    assert assess_daemonset(ds(done), [], WaitingTracker(), 0).done
    updating = {**done, "updatedNumberScheduled": 1}
    assert assess_daemonset(ds(updating), [], WaitingTracker(), 0).message == (
        "1 of 2 updated pods scheduled"
    )
    unavailable = {**done, "numberAvailable": 1}
    assert not assess_daemonset(ds(unavailable), [], WaitingTracker(), 0).done
    crashing = [pod("agent-x", "h", ready=False, waiting="ErrImagePull")]
    tracker = WaitingTracker(grace=3.0)
    assert assess_daemonset(ds(updating), crashing, tracker, 0).failure is None  # within grace
    assert "ErrImagePull" in (assess_daemonset(ds(updating), crashing, tracker, 5).failure or "")


def test_the_forced_rollback_deletes_only_unready_pods_of_another_revision() -> None:
    before = sts({"updateRevision": "r1", "currentRevision": "r1"})
    pods = [
        pod("db-0", "r1"),
        pod("db-1", "r2"),  # updated and Ready: the controller replaces it by itself
        pod("db-2", "r2", ready=False, waiting="CrashLoopBackOff"),
        pod("db-3", "r1", ready=False),  # the restored revision, starting: left alone
    ]
    assert broken_revision_pods(before, pods) == ["db-2"]
    not_a_statefulset = {**before, "kind": "Deployment"}
    assert broken_revision_pods(not_a_statefulset, pods) == []


def test_workload_kinds() -> None:
    assert is_workload({"apiVersion": "apps/v1", "kind": "DaemonSet"})
    assert not is_workload({"apiVersion": "batch/v1", "kind": "Job"})
    assert not is_workload({"apiVersion": "example.com/v1", "kind": "Deployment"})
