"""The canary's plan is pure: its steps from the rendered objects and the observed cluster,
rebuilt identically from the state record (what ``promote`` and ``abort`` run)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ci_deploy.config import load_config_text
from ci_deploy.kube.state import StateRecord
from ci_deploy.rollout.deploy import strategy_settings
from ci_deploy.rollout.plan import Observed, Target, Workload, make_plan, manifests_digest
from ci_deploy.rollout.prune import with_pruning
from ci_deploy.rollout.steps import Apply, Record, RecordStable
from ci_deploy.rollout.strategies.canary import (
    CanarySpec,
    CanaryStrategy,
    LabelStable,
    Pause,
    PromoteStable,
    SetWeight,
    StartCanary,
    Watch,
    recorded_number,
)

CONFIG = """\
app: shop
image: {{repository: registry.example.com/shop}}
manifests:
  http_route: {{hostnames: [shop.example.com], parent_ref: {{name: gw}}}}
environments:
  production: {{namespace: shop, replicas: 5, strategy: canary}}
canary:
  traffic_router: {router}
  stages:
    - {{name: initial, traffic_percentage: 5, duration: 15m}}
    - {{name: expanded, traffic_percentage: 25, duration: 30m, pause: true}}
    - {{name: full, traffic_percentage: 100, monitor_duration: 2h}}
"""
IMAGE = "registry.example.com/shop"


def target(router: str = "gateway-api", image: str = f"{IMAGE}:2", scale: float = 1) -> Target:
    from ci_deploy.render import render_manifests

    cfg = load_config_text(CONFIG.format(router=router), Path("ci-deploy.yml"))
    objects = render_manifests(cfg, "production", image=image)
    return Target(
        app="shop",
        environment="production",
        namespace="shop",
        strategy="canary",
        image=image,
        objects=tuple(f"{o['kind']} {o['metadata']['name']}" for o in objects),
        manifests_digest=manifests_digest(objects),
        timeout=600.0,
        container="app",
        images=(("app", image),),
        manifests=tuple(objects),
        replicas=5,
        settings=strategy_settings(cfg, "canary"),
        time_scale=scale,
    )


def stable(labelled: bool = True) -> Observed:
    labels: dict[str, str] = {"app.kubernetes.io/name": "shop"}
    if labelled:
        labels["ci-deploy.dev/track"] = "stable"
    live: dict[str, Any] = {
        "metadata": {"labels": labels},
        "spec": {"containers": [{"name": "app", "image": f"{IMAGE}:1"}]},
    }
    return Observed(
        deployment_exists=True,
        live_template=live,
        live_image=f"{IMAGE}:1",
        live_healthy=True,
        workloads=(Workload("shop", "stable", None, 5, 5, live),),
    )


def kinds(steps: Any) -> list[str]:
    return [type(s).__name__ for s in steps]


def test_the_canary_plan_runs_stages_gates_and_the_promotion_in_order() -> None:
    plan = make_plan(target(), stable())
    assert kinds(plan.steps) == [
        "RecordStable", "Apply", "StartCanary", "WaitForRollout", "VerifyRunning",
        "PrepareTraffic",
        "SetWeight", "Watch",
        "SetWeight", "Watch", "Pause",
        "PromoteStable", "WaitForRollout", "VerifyRunning",
        "TrafficToStable", "RemoveCanary", "ResetTraffic", "Watch", "Prune", "Record",
    ]  # fmt: skip
    weights = [s.weight for s in plan.steps if isinstance(s, SetWeight)]
    assert weights == [5, 25]
    assert plan.total_seconds == 15 * 60 + 30 * 60 + 2 * 3600
    # the failure path before the promotion leaves the stable Deployment alone; after it,
    # restores it
    before, after = plan.failure_paths[0].steps, plan.failure_paths[1].steps
    assert "RestoreTemplate" not in kinds(before) and "RestoreTemplate" in kinds(after)
    assert kinds(before)[:3] == ["TrafficToStable", "RemoveCanary", "ResetTraffic"]


def test_the_stable_service_is_applied_narrowed_to_the_stable_pods_for_a_weighing_router() -> None:
    for router, narrowed in (("gateway-api", True), ("replicas", False)):
        plan = make_plan(target(router), stable())
        apply = next(s for s in plan.steps if isinstance(s, Apply))
        service = next(o for o in apply.manifests if o["kind"] == "Service")
        assert ("ci-deploy.dev/track" in service["spec"]["selector"]) is narrowed, router
        assert all(o["kind"] != "Deployment" for o in apply.manifests)  # promoted at 100%


def test_unlabelled_stable_pods_get_the_label_before_anything_selects_by_it() -> None:
    plan = make_plan(target(), stable(labelled=False))
    names = kinds(plan.steps)
    assert names.index("LabelStable") < names.index("Apply") < names.index("StartCanary")
    label = next(s for s in plan.steps if isinstance(s, LabelStable))
    assert "rolling restart of the stable version" in label.describe()


def test_time_scale_divides_every_wait_and_the_plan_says_so() -> None:
    plan = make_plan(target(scale=60), stable())
    watches = [s for s in plan.steps if isinstance(s, Watch)]
    assert [w.seconds for w in watches] == [15.0, 30.0, 120.0]
    assert "watch 15m (time-scaled: 15s)" in watches[0].describe()
    assert "time scale: every duration divided by 60" in plan.render()


def test_the_replicas_router_is_honest_about_the_share_it_can_give() -> None:
    plan = make_plan(target("replicas"), stable())
    first = next(s for s in plan.steps if isinstance(s, SetWeight))
    assert first.planned.canary_pods == 1 and first.planned.actual == 16.7
    assert "5% asked: with 5 stable pods the nearest pod ratio is 16.7%" in first.describe()


def test_promote_rebuilds_the_same_numbered_steps_from_the_record_alone() -> None:
    t = target()
    plan = make_plan(t, stable())
    spec = next(s for s in plan.steps if isinstance(s, RecordStable)).plan
    assert spec is not None
    record = StateRecord(
        app="shop",
        environment="production",
        strategy="canary",
        phase="Paused",
        revision=t.image,
        previous_revision=f"{IMAGE}:1",
        step="11/20 pause",
        plan=spec,
        manifests_digest=t.manifests_digest,
    )
    rebuilt = with_pruning(CanaryStrategy().resume_plan(record, stable(), replace(t, manifests=())))
    assert kinds(rebuilt.steps) == kinds(plan.steps)
    # the same words, but for the apply, which promote never runs (it has no manifests)
    assert [s.describe() for s in rebuilt.steps[2:]] == [s.describe() for s in plan.steps[2:]]
    assert rebuilt.start == 12 and isinstance(rebuilt.steps[11], PromoteStable)
    assert recorded_number(record) == 11
    # the recorded Deployment to promote is the rendered one, its pods on the stable track
    promote = rebuilt.steps[11]
    assert isinstance(promote, PromoteStable)
    labels = promote.manifest["spec"]["template"]["metadata"]["labels"]
    assert labels["ci-deploy.dev/track"] == "stable"
    assert CanarySpec.from_dict(spec).to_dict() == spec


def test_the_same_image_paused_is_held_and_a_new_one_aborts_the_old_first() -> None:
    t = target()
    spec = next(s for s in make_plan(t, stable()).steps if isinstance(s, RecordStable)).plan
    record = StateRecord(
        app="shop",
        environment="production",
        strategy="canary",
        phase="Paused",
        revision=t.image,
        previous_revision=f"{IMAGE}:1",
        previous_template=stable().live_template,
        step="11/20 pause",
        plan=spec,
        manifests_digest=t.manifests_digest,
    )
    observed = replace(stable(), record=record)
    held = make_plan(t, observed)
    assert held.noop_reason is not None and "is paused in production" in held.noop_reason
    newer = make_plan(target(image=f"{IMAGE}:3"), observed)
    assert newer.noop_reason is None
    assert kinds(newer.prelude) == ["TrafficToStable", "RemoveCanary", "ResetTraffic"]
    assert isinstance(newer.steps[0], RecordStable)  # the new rollout numbered from 1
    start = next(s for s in newer.steps if isinstance(s, StartCanary))
    assert start.image == f"{IMAGE}:3"
    killed = replace(record, phase="Progressing", step="8/20 watch")
    continued = make_plan(t, replace(stable(), record=killed))
    assert continued.start == 8 and continued.prelude == ()
    assert isinstance(continued.steps[-1], Record) and any(
        isinstance(s, Pause) for s in continued.steps
    )


def test_abort_takes_up_a_failed_abort_from_the_rollouts_step_and_nothing_else() -> None:
    from ci_deploy.errors import UserInputError
    from ci_deploy.rollout.progressive import plan_of

    t = target()
    cfg = load_config_text(CONFIG.format(router="gateway-api"), Path("ci-deploy.yml"))
    production = cfg.environment("production")
    spec = next(s for s in make_plan(t, stable()).steps if isinstance(s, RecordStable)).plan

    def failed(step: str) -> Observed:
        record = StateRecord(
            app="shop",
            environment="production",
            strategy="canary",
            phase="Failed",
            revision=t.image,
            previous_revision=f"{IMAGE}:1",
            previous_template=stable().live_template,
            step=step,
            plan=spec,
        )
        return replace(stable(), record=record)

    # a failed abort (or abort-first) leaves the rollout's own step: abort plans from it,
    # the stable Deployment restored when that step was at or after the promotion
    before = plan_of(failed("11/20 pause"), production, "abort", 600.0)
    assert "RestoreTemplate" not in kinds(before.steps)
    after = plan_of(failed("13/20 wait-rollout"), production, "abort", 600.0)
    assert "RestoreTemplate" in kinds(after.steps)
    # a failed rollback leaves a step of its own plan: abort would misjudge the promotion
    for step in ("5/8 wait-rollout", "11/20 watch", "rollback"):
        with pytest.raises(UserInputError, match="nothing to abort in production"):
            plan_of(failed(step), production, "abort", 600.0)
    # and promote never continues a Failed rollout
    with pytest.raises(UserInputError, match="nothing to promote in production"):
        plan_of(failed("11/20 pause"), production, "promote", 600.0)


def test_an_abort_killed_mid_run_is_read_at_the_rollouts_step_by_abort_and_deploy() -> None:
    from ci_deploy.rollout.progressive import plan_of

    t = target()
    cfg = load_config_text(CONFIG.format(router="gateway-api"), Path("ci-deploy.yml"))
    production = cfg.environment("production")
    spec = next(s for s in make_plan(t, stable()).steps if isinstance(s, RecordStable)).plan
    assert spec is not None
    # killed during the monitoring after the promotion (step 16), then its abort killed at its
    # own step 4 (restore): what the record says then
    record = StateRecord(
        app="shop",
        environment="production",
        strategy="canary",
        phase="Progressing",
        revision=t.image,
        previous_revision=f"{IMAGE}:1",
        previous_template=stable().live_template,
        step="abort 4/7 restore",
        plan={**spec, "abortedAt": "16/19 watch"},
        manifests_digest=t.manifests_digest,
    )
    observed = replace(stable(), record=record)
    assert recorded_number(record) == 16  # the rollout's step, not the abort's 4
    # a second abort plans the same undo: the stable Deployment is restored (it was promoted)
    again = plan_of(observed, production, "abort", 600.0)
    assert "RestoreTemplate" in kinds(again.steps)
    # a deploy of the same image finishes the abort first, never continues the rollout at 4
    redeploy = make_plan(t, observed)
    assert redeploy.start == 1
    assert "RestoreTemplate" in kinds(redeploy.prelude)
    assert any(
        "being aborted here (that abort stopped at step abort 4/7 restore)" in n
        for n in redeploy.notes
    )
    # before the fix the step number read was the abort's own: 4 is before the promotion
    misread = replace(stable(), record=replace(record, step="4/7 restore"))
    assert "RestoreTemplate" not in kinds(plan_of(misread, production, "abort", 600.0).steps)
