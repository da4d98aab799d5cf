"""Plans are pure: the same inputs give the same printable steps; no-ops; the stable template."""

from __future__ import annotations

from typing import Any

import pytest

from ci_deploy.errors import UserInputError
from ci_deploy.kube.state import StateRecord
from ci_deploy.rollout.plan import Observed, Target, make_plan, stable_template
from ci_deploy.rollout.prune import Prune
from ci_deploy.rollout.steps import (
    Apply,
    Record,
    RecordStable,
    RestoreObjects,
    RestoreTemplate,
    VerifyRunning,
    WaitForRollout,
)


def template(image: str) -> dict[str, Any]:
    return {"spec": {"containers": [{"name": "app", "image": image}]}}


def target(image: str = "repo/web:2", strategy: str = "rolling") -> Target:
    return Target(
        app="web",
        environment="staging",
        namespace="web-staging",
        strategy=strategy,
        image=image,
        objects=("Service web", "Deployment web"),
        manifests_digest="d1",
        timeout=600.0,
    )


def record(phase: str, revision: str, previous: str | None = None) -> StateRecord:
    return StateRecord(
        app="web",
        environment="staging",
        strategy="rolling",
        phase=phase,  # type: ignore[arg-type]
        revision=revision,
        previous_template=template(previous) if previous else None,
        manifests_digest="d1",
    )


def test_first_deploy_has_the_rolling_steps_and_no_rollback_target() -> None:
    plan = make_plan(target(), Observed(deployment_exists=False))
    assert [type(s) for s in plan.steps] == [
        RecordStable,
        Apply,
        WaitForRollout,
        VerifyRunning,
        Prune,
        Record,
    ]
    assert plan.previous_image is None
    text = plan.render()
    assert "first deploy" in text
    assert "on failure while applying: delete what this first deploy created (exit 1)" in text
    assert "on failure after it: no previous revision; stop and report (exit 3)" in text
    assert "if the dry run refuses an object: stop, nothing changed (exit 4)" in text


def test_plan_is_a_pure_function_of_its_inputs() -> None:
    observed = Observed(
        True, template("repo/web:1"), "repo/web:1", True, record("Succeeded", "repo/web:1")
    )
    assert make_plan(target(), observed) == make_plan(target(), observed)
    assert make_plan(target(), observed).render() == make_plan(target(), observed).render()


def test_rendered_plan_numbers_its_steps_and_names_the_rollback_target() -> None:
    observed = Observed(
        True, template("repo/web:1"), "repo/web:1", True, record("Succeeded", "repo/web:1")
    )
    text = make_plan(target(), observed).render()
    assert "1. record stable revision: repo/web:1" in text
    assert "2. apply 2 objects with image repo/web:2" in text
    assert "3. wait for deployment/web" in text
    assert "4. verify that deployment/web and its Ready pods run" in text
    assert "5. prune what earlier deploys applied and this one no longer renders" in text
    assert "6. record phase Succeeded" in text
    assert "on failure: roll back to repo/web:1 (exit 1)" in text
    # The failure path is printed under the happy path, step by step.
    assert "    1. restore the other objects this run changed; delete those it created" in text
    assert "    2. restore deployment/web to the stable template (repo/web:1)" in text
    assert "    3. wait for deployment/web to roll out" in text
    assert "    4. verify that deployment/web and its Ready pods run app=repo/web:1" in text
    assert "    5. record phase RolledBack" in text


def test_the_failure_path_restores_the_stable_template_exactly() -> None:
    observed = Observed(
        True, template("repo/web:1"), "repo/web:1", True, record("Succeeded", "repo/web:1")
    )
    plan = make_plan(target(), observed)
    assert [type(s) for s in plan.recovery] == [
        RestoreObjects,
        RestoreTemplate,
        WaitForRollout,
        VerifyRunning,
        Record,
    ]
    restore = plan.recovery[1]
    assert isinstance(restore, RestoreTemplate)
    assert restore.template == template("repo/web:1")


def test_same_image_already_succeeded_is_a_noop() -> None:
    observed = Observed(
        True, template("repo/web:2"), "repo/web:2", True, record("Succeeded", "repo/web:2")
    )
    plan = make_plan(target("repo/web:2"), observed)
    assert plan.noop_reason is not None and plan.steps == ()
    assert "already deployed" in plan.render()


def test_same_image_with_changed_manifests_is_not_a_noop() -> None:
    observed = Observed(
        True, template("repo/web:2"), "repo/web:2", True, record("Succeeded", "repo/web:2")
    )
    changed = Target(**{**target("repo/web:2").__dict__, "manifests_digest": "d2"})
    assert make_plan(changed, observed).noop_reason is None


def test_same_image_but_unhealthy_is_not_a_noop() -> None:
    observed = Observed(
        True, template("repo/web:2"), "repo/web:2", False, record("Succeeded", "repo/web:2")
    )
    assert make_plan(target("repo/web:2"), observed).noop_reason is None


def test_after_an_interrupted_rollout_the_recorded_template_is_the_stable_one() -> None:
    observed = Observed(
        True,
        template("repo/web:bad"),
        "repo/web:bad",
        False,
        record("Progressing", "repo/web:bad", "repo/web:1"),
    )
    assert stable_template(observed) == template("repo/web:1")
    assert make_plan(target(), observed).previous_image == "repo/web:1"


def test_after_a_rollback_the_live_template_is_the_stable_one() -> None:
    observed = Observed(
        True,
        template("repo/web:1"),
        "repo/web:1",
        True,
        record("RolledBack", "repo/web:bad", "repo/web:1"),
    )
    assert stable_template(observed) == template("repo/web:1")


def test_unknown_strategy_is_bad_input() -> None:
    with pytest.raises(UserInputError, match="shadow"):
        make_plan(target(strategy="shadow"), Observed(deployment_exists=False))
