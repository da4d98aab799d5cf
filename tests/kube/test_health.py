"""Rollout assessment from observed objects: done, progressing, fail fast, deadline."""

from __future__ import annotations

from typing import Any

from ci_deploy.kube.health import WaitingTracker, assess, new_replicaset

UID = "d-uid"


def deployment(
    *,
    generation: int = 2,
    observed: int = 2,
    updated: int = 2,
    available: int = 2,
    replicas: int = 2,
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web",
            "uid": UID,
            "generation": generation,
            "annotations": {"deployment.kubernetes.io/revision": "2"},
        },
        "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "web"}}}},
        "status": {
            "observedGeneration": observed,
            "updatedReplicas": updated,
            "availableReplicas": available,
            "readyReplicas": available,
            "replicas": replicas,
        },
    }


def replicaset(revision: str, pod_hash: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"web-{pod_hash}",
            "uid": f"rs-{pod_hash}",
            "labels": {"app": "web", "pod-template-hash": pod_hash},
            "annotations": {"deployment.kubernetes.io/revision": revision},
            "ownerReferences": [{"uid": UID, "kind": "Deployment"}],
        },
        "spec": {
            "template": {"metadata": {"labels": {"app": "web", "pod-template-hash": pod_hash}}}
        },
    }


def pod(pod_hash: str, *, reason: str | None = None, restarts: int = 0) -> dict[str, Any]:
    state: dict[str, Any] = {"waiting": {"reason": reason}} if reason else {"running": {}}
    return {
        "metadata": {"name": f"web-{pod_hash}-x", "labels": {"pod-template-hash": pod_hash}},
        "status": {
            "containerStatuses": [
                {"name": "app", "state": state, "restartCount": restarts, "ready": False}
            ]
        },
    }


RS = [replicaset("1", "old"), replicaset("2", "new")]


def test_complete_when_all_updated_replicas_are_available() -> None:
    status = assess(deployment(), RS, [], WaitingTracker(), 0.0)
    assert status.done and status.failure is None


def test_waits_for_the_controller_to_observe_the_new_generation() -> None:
    status = assess(deployment(generation=3, observed=2), RS, [], WaitingTracker(), 0.0)
    assert not status.done and status.failure is None
    assert "controller" in status.message


def test_old_replicas_pending_termination_is_not_done() -> None:
    status = assess(deployment(replicas=3), RS, [], WaitingTracker(), 0.0)
    assert not status.done
    assert "old replicas" in status.message


def test_new_replicaset_is_found_by_revision() -> None:
    found = new_replicaset(deployment(), RS)
    assert found is not None and found["metadata"]["name"] == "web-new"


def test_crashloop_of_a_new_pod_fails_at_the_second_restart() -> None:
    pods = [pod("new", reason="CrashLoopBackOff", restarts=2)]
    status = assess(deployment(updated=1, available=0), RS, pods, WaitingTracker(), 0.0)
    assert status.failure is not None
    assert "CrashLoopBackOff" in status.failure and "restarted 2 times" in status.failure


def test_crashloop_of_an_old_pod_is_not_our_failure() -> None:
    pods = [pod("old", reason="CrashLoopBackOff", restarts=5)]
    status = assess(deployment(updated=1, available=0), RS, pods, WaitingTracker(), 0.0)
    assert status.failure is None


def test_image_pull_error_fails_after_the_grace_not_before() -> None:
    tracker = WaitingTracker(grace=3.0)
    pods = [pod("new", reason="ImagePullBackOff")]
    early = assess(deployment(updated=1, available=0), RS, pods, tracker, 100.0)
    assert early.failure is None
    assert early.recheck_in == 3.0
    late = assess(deployment(updated=1, available=0), RS, pods, tracker, 103.5)
    assert late.failure is not None and "ImagePullBackOff" in late.failure


def test_progress_deadline_exceeded_fails() -> None:
    d = deployment(updated=1, available=0)
    d["status"]["conditions"] = [
        {
            "type": "Progressing",
            "status": "False",
            "reason": "ProgressDeadlineExceeded",
            "message": 'ReplicaSet "web-new" has timed out progressing.',
        }
    ]
    status = assess(d, RS, [], WaitingTracker(), 0.0)
    assert status.failure is not None and "timed out progressing" in status.failure
