"""A record left Progressing is set right from the live Deployment (pure)."""

from __future__ import annotations

from typing import Any

from ci_deploy.kube.state import StateRecord
from ci_deploy.rollout.reconcile import reconciled


def template(image: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": image}]},
    }


def record(phase: str = "Progressing") -> StateRecord:
    return StateRecord(
        "web",
        "staging",
        "rolling",
        phase,
        "repo/web:2",  # type: ignore[arg-type]
        previous_revision="repo/web:1",
        previous_template=template("repo/web:1"),
    )


def deployment(image: str) -> dict[str, Any]:
    tpl = template(image)
    tpl["metadata"]["labels"]["pod-template-hash"] = "abc"  # the controller's label is ignored
    return {"metadata": {"name": "web"}, "spec": {"template": tpl}}


def test_a_healthy_new_release_is_reconciled_as_succeeded() -> None:
    fixed = reconciled(record(), deployment("repo/web:2"), healthy=True)
    assert fixed is not None and fixed.phase == "Succeeded"
    assert "reconciled from the cluster" in fixed.message
    assert fixed.finished_at


def test_the_stable_template_live_and_healthy_is_rolled_back() -> None:
    fixed = reconciled(record(), deployment("repo/web:1"), healthy=True)
    assert fixed is not None and fixed.phase == "RolledBack"


def test_an_unhealthy_release_is_failed_so_the_recorded_template_stays_the_stable_one() -> None:
    fixed = reconciled(record(), deployment("repo/web:2"), healthy=False)
    assert fixed is not None and fixed.phase == "Failed"
    assert fixed.previous_template == template("repo/web:1")


def test_finished_records_are_left_alone() -> None:
    assert reconciled(record("Succeeded"), deployment("repo/web:2"), healthy=True) is None
    assert reconciled(None, deployment("repo/web:2"), healthy=True) is None
