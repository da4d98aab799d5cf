"""The recovery planner is pure: from the plan, the failure and what changed, what to do."""

from __future__ import annotations

from typing import Any

from ci_deploy.errors import DeploymentFailed, NothingChanged, RollbackFailed
from ci_deploy.kube.changes import ApplyReport, ObjectChange
from ci_deploy.kube.client import DEPLOYMENT, KNOWN_KINDS
from ci_deploy.kube.state import StateRecord
from ci_deploy.rollout.options import DeployOptions
from ci_deploy.rollout.plan import Observed, Target, make_plan
from ci_deploy.rollout.recover import Recovery, Terminal, recovery_plan
from ci_deploy.rollout.session import StepFailed
from ci_deploy.rollout.steps import RemoveCreated, RestoreObjects, RestoreTemplate

CONFIGMAP = KNOWN_KINDS[("v1", "ConfigMap")]
OPTS = DeployOptions(config_path="ci-deploy.yml", environment="staging", image=None)


def template(image: str) -> dict[str, Any]:
    return {"spec": {"containers": [{"name": "app", "image": image}]}}


def deployment(image: str, rv: str = "1") -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "resourceVersion": rv},
        "spec": {"template": template(image)},
    }


TARGET = Target("web", "staging", "ns", "rolling", "repo/web:2", ("Deployment web",), "d", 60.0)


def upgrade_plan() -> Any:
    record = StateRecord("web", "staging", "rolling", "Succeeded", "repo/web:1")
    observed = Observed(True, template("repo/web:1"), "repo/web:1", True, record)
    return make_plan(TARGET, observed)


def change(kind: Any, name: str, before: Any, after: Any, error: Any = None) -> ObjectChange:
    return ObjectChange(f"{kind.kind} ns/{name}", kind, name, "ns", before, after, error)


def test_nothing_touched_is_nothing_changed() -> None:
    report = ApplyReport((change(DEPLOYMENT, "web", deployment("a"), deployment("a")),))
    decision = recovery_plan(upgrade_plan(), StepFailed("failed", "x", "apply"), report, OPTS)
    assert isinstance(decision, Terminal)
    assert isinstance(decision.error, NothingChanged)
    assert decision.phase == "Aborted"


def test_a_failure_before_the_apply_is_nothing_changed() -> None:
    decision = recovery_plan(upgrade_plan(), StepFailed("cancelled", "SIGTERM", "wait"), None, OPTS)
    assert isinstance(decision, Terminal) and isinstance(decision.error, NothingChanged)


def test_an_upgrade_restores_the_template_and_every_other_changed_object() -> None:
    cm = change(CONFIGMAP, "settings", {"data": {"a": "1"}}, {"data": {"a": "2"}})
    new = change(CONFIGMAP, "extra", None, {"data": {}})
    dep = change(DEPLOYMENT, "web", deployment("repo/web:1"), deployment("repo/web:2", "2"))
    report = ApplyReport((cm, new, dep))
    decision = recovery_plan(upgrade_plan(), StepFailed("failed", "crash", "wait"), report, OPTS)
    assert isinstance(decision, Recovery)
    restore = decision.steps[0]
    assert isinstance(restore, RestoreObjects)
    assert restore.objects == ("ConfigMap ns/settings", "ConfigMap ns/extra")
    assert isinstance(decision.steps[1], RestoreTemplate)
    assert decision.steps[1].template == template("repo/web:1")
    assert "rolled back to repo/web:1" in decision.done


def test_an_untouched_deployment_is_not_restored_or_waited_for() -> None:
    cm = change(CONFIGMAP, "settings", {"data": {"a": "1"}}, {"data": {"a": "2"}})
    dep = change(DEPLOYMENT, "web", deployment("repo/web:1"), deployment("repo/web:1"))
    decision = recovery_plan(
        upgrade_plan(), StepFailed("failed", "refused", "apply"), ApplyReport((cm, dep)), OPTS
    )
    assert isinstance(decision, Recovery)
    names = [s.name for s in decision.steps]
    assert "restore-template" not in names and "wait-rollout" not in names
    assert names[0] == "restore-objects"


def test_a_first_deploy_refused_halfway_removes_what_it_created() -> None:
    plan = make_plan(TARGET, Observed(False))
    dep = change(DEPLOYMENT, "web", None, deployment("repo/web:2"))
    decision = recovery_plan(
        plan, StepFailed("failed", "refused", "apply"), ApplyReport((dep,)), OPTS
    )
    assert isinstance(decision, Recovery)
    assert isinstance(decision.steps[0], RemoveCreated)
    assert decision.steps[0].objects == ("Deployment ns/web",)


def test_a_first_deploy_that_fails_after_the_apply_needs_a_human() -> None:
    plan = make_plan(TARGET, Observed(False))
    dep = change(DEPLOYMENT, "web", None, deployment("repo/web:2"))
    decision = recovery_plan(
        plan, StepFailed("failed", "crash", "wait-rollout"), ApplyReport((dep,)), OPTS
    )
    assert isinstance(decision, Terminal) and isinstance(decision.error, RollbackFailed)
    assert "left in place: Deployment ns/web" in decision.error.message


def test_a_lost_lock_stops_without_touching_anything() -> None:
    dep = change(DEPLOYMENT, "web", deployment("repo/web:1"), deployment("repo/web:2", "2"))
    decision = recovery_plan(
        upgrade_plan(), StepFailed("lost", "lost the lock", "wait"), ApplyReport((dep,)), OPTS
    )
    assert isinstance(decision, Terminal) and decision.phase is None
    assert isinstance(decision.error, DeploymentFailed)
