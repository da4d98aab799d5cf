"""How ``status`` tells the record to people (pure functions of a record and objects)."""

from __future__ import annotations

from typing import Any

from ci_deploy.kube.state import StateRecord
from ci_deploy.rollout.status import ON_DEMAND_STEP, last_attempt, revision_rows

OLD, NEW = "web:1", "web:2"
T0, T1 = "2026-12-01T10:00:00Z", "2026-12-01T10:01:00Z"


def record(phase: str, revision: str, previous: str | None, **extra: Any) -> StateRecord:
    return StateRecord(
        "web",
        "staging",
        "rolling",
        phase,  # type: ignore[arg-type]
        revision,
        previous_revision=previous,
        started_at=T0,
        finished_at=extra.pop("finished_at", T1),
        **extra,
    )


def test_nothing_recorded_is_no_attempt() -> None:
    assert last_attempt(None) is None


def test_a_first_deploy() -> None:
    attempt = last_attempt(record("Succeeded", NEW, None))
    assert attempt is not None and attempt.kind == "deploy"
    assert attempt.summary() == "deploy of web:2 (first deploy)"
    assert attempt.outcome() == f"Succeeded at {T1}"


def test_an_automatic_rollback_says_which_image_is_live_again() -> None:
    attempt = last_attempt(record("RolledBack", NEW, OLD, step="rollback", message="crash"))
    assert attempt is not None
    assert attempt.summary() == "deploy of web:2 (replacing web:1)"
    assert attempt.outcome() == f"RolledBack at {T1}: rolled back automatically to web:1"


def test_a_rollback_on_demand_reads_from_the_live_image_to_the_target() -> None:
    # rollback.py records revision = the image rolled back from, previous = the target
    attempt = last_attempt(record("RolledBack", NEW, OLD, step=ON_DEMAND_STEP))
    assert attempt is not None and attempt.kind == "rollback"
    assert (attempt.source, attempt.target) == (NEW, OLD)
    assert attempt.summary() == "rollback on demand from web:2 to web:1"
    assert attempt.outcome() == f"RolledBack at {T1}"


def test_a_rollback_on_demand_recorded_by_an_earlier_version_is_recognised() -> None:
    old = record("RolledBack", NEW, OLD, step="rollback", message="rolled back on demand to web:1")
    attempt = last_attempt(old)
    assert attempt is not None and attempt.kind == "rollback"


def test_a_rollout_in_progress_says_since_when_and_which_step() -> None:
    attempt = last_attempt(
        record("Progressing", NEW, OLD, step="3/4 wait-rollout", finished_at=None)
    )
    assert attempt is not None
    assert attempt.outcome() == f"Progressing since {T0} (step 3/4 wait-rollout)"


def replicaset(name: str, number: str | None, image: str, owner: str = "uid-1") -> dict[str, Any]:
    annotations = {} if number is None else {"deployment.kubernetes.io/revision": number}
    return {
        "metadata": {
            "name": name,
            "annotations": annotations,
            "ownerReferences": [{"uid": owner}],
            "creationTimestamp": T0,
        },
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "web", "pod-template-hash": name}},
                "spec": {
                    "containers": [
                        {"name": "sidecar", "image": "proxy:1"},
                        {"name": "app", "image": image},
                    ]
                },
            }
        },
    }


def test_revisions_are_owned_numbered_replicasets_by_number_with_the_app_containers_image() -> None:
    deployment = {
        "metadata": {"uid": "uid-1", "annotations": {"deployment.kubernetes.io/revision": "10"}}
    }
    rows = revision_rows(
        deployment,
        [
            replicaset("c", "10", "web:3"),
            replicaset("a", "2", "web:1"),
            replicaset("other", "1", "web:0", owner="uid-2"),
            replicaset("unnumbered", None, "web:0"),
        ],
        "app",
    )
    assert [(r.number, r.image, r.live, r.created) for r in rows] == [
        (2, "web:1", False, T0),
        (10, "web:3", True, T0),
    ]
    assert "pod-template-hash" not in rows[0].template["metadata"]["labels"]
