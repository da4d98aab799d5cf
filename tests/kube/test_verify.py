"""What runs vs what was deployed: pure checks of a Deployment, its ReplicaSets and pods."""

from __future__ import annotations

from typing import Any

from ci_deploy.kube.verify import running_mismatches

WANTED = {"app": "repo/web:2"}


def deployment(image: str = "repo/web:2", replicas: int = 2) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web",
            "uid": "d1",
            "annotations": {"deployment.kubernetes.io/revision": "2"},
            "managedFields": [
                {
                    "manager": "kubectl-set",
                    "fieldsV1": {
                        "f:spec": {
                            "f:template": {
                                "f:spec": {"f:containers": {'k:{"name":"app"}': {"f:image": {}}}}
                            }
                        }
                    },
                }
            ],
        },
        "spec": {
            "replicas": replicas,
            "template": {"spec": {"containers": [{"name": "app", "image": image}]}},
        },
    }


def replicaset(hash_: str, revision: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"web-{hash_}",
            "labels": {"pod-template-hash": hash_},
            "annotations": {"deployment.kubernetes.io/revision": revision},
            "ownerReferences": [{"uid": "d1"}],
        },
        "spec": {"template": {}},
    }


def pod(
    name: str, image: str, hash_: str, ready: bool = True, terminating: bool = False
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {"pod-template-hash": hash_}}
    if terminating:
        meta["deletionTimestamp"] = "2026-12-01T00:00:00Z"
    status = "True" if ready else "False"
    return {
        "metadata": meta,
        "spec": {"containers": [{"name": "app", "image": image}]},
        "status": {"conditions": [{"type": "Ready", "status": status}]},
    }


RS = [replicaset("old", "1"), replicaset("new", "2")]


def test_all_ready_pods_run_the_deployed_image() -> None:
    pods = [
        pod("a", "repo/web:2", "new"),
        pod("b", "repo/web:2", "new"),
        pod("c", "repo/web:1", "old", terminating=True),
    ]
    assert running_mismatches(deployment(), RS, pods, WANTED) == []


def test_a_template_changed_by_someone_else_names_the_field_manager() -> None:
    problems = running_mismatches(deployment("repo/web:9"), RS, [], WANTED)
    assert problems[0] == (
        "deployment/web container app is set to repo/web:9, not repo/web:2 "
        "(its image is owned by field manager kubectl-set)"
    )


def test_an_old_pod_still_serving_and_a_shortfall_are_reported() -> None:
    pods = [pod("a", "repo/web:2", "new"), pod("z", "repo/web:1", "old")]
    problems = running_mismatches(deployment(), RS, pods, WANTED)
    assert (
        "pod z (not of the current ReplicaSet): container app runs repo/web:1, not repo/web:2"
        in problems
    )
    assert "only 1 of 2 Ready pods run the deployed images" in problems


def test_a_rewritten_pod_image_is_caught() -> None:
    pods = [pod("a", "mirror.example/web:2", "new"), pod("b", "repo/web:2", "new")]
    problems = running_mismatches(deployment(), RS, pods, WANTED)
    assert problems[0] == "pod a: container app runs mirror.example/web:2, not repo/web:2"
