"""The blue-green plan as data: which colour, which selector is applied, every way out (pure)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ci_deploy.config import load_config_text
from ci_deploy.kube.changes import ObjectChange
from ci_deploy.kube.client import KNOWN_KINDS
from ci_deploy.kube.state import StateRecord
from ci_deploy.render import render_manifests
from ci_deploy.rollout.options import DeployOptions
from ci_deploy.rollout.plan import Observed, Plan, Target, Workload, make_plan, manifests_digest
from ci_deploy.rollout.prune import with_pruning
from ci_deploy.rollout.recover import Recovery, recovery_plan
from ci_deploy.rollout.session import StepFailed
from ci_deploy.rollout.steps import Apply, Pause, Record, RestoreObjects, Watch
from ci_deploy.rollout.strategies.blue_green import (
    BlueGreenSpec,
    BlueGreenStrategy,
    CheckTraffic,
    LabelColor,
    RecordColor,
    RouteTraffic,
    ScaleColor,
    StartColor,
    Switch,
)

COLOR = "ci-deploy.dev/color"
REPO = "registry.example.com/acme/web-app"
CONFIG = """\
app: web-app
image: {{repository: {repo}}}
manifests:
  http_route:
    hostnames: [web.example.com]
    parent_ref: {{name: public, namespace: gateways}}
{hpa}
environments:
  production:
    replicas: 3
    strategy: blue_green
blue_green:
  auto_promote: {auto}
  scale_down_delay: 5m
"""


def target(tmp_path: Path, tag: str = "2", *, auto: bool = True, hpa: bool = False) -> Target:
    hpa_text = "  hpa: {min_replicas: 2, max_replicas: 10}" if hpa else ""
    text = CONFIG.format(repo=REPO, hpa=hpa_text, auto=str(auto).lower())
    cfg = load_config_text(text, str(tmp_path / "ci-deploy.yml"))
    image = f"{REPO}:{tag}"
    objects = render_manifests(cfg, "production", image)
    return Target(
        app="web-app",
        environment="production",
        namespace="web-app-production",
        strategy="blue_green",
        image=image,
        objects=tuple(f"{o['kind']} {o['metadata']['name']}" for o in objects),
        manifests_digest=manifests_digest(objects),
        timeout=600.0,
        container="app",
        images=(("app", image),),
        selector="app.kubernetes.io/instance=web-app-production,app.kubernetes.io/name=web-app",
        manifests=tuple(objects),
        replicas=3,
        settings=cfg.blue_green,
        time_scale=1.0,
    )


def pod_template(tag: str, color: str | None) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "web-app"} | ({COLOR: color} if color else {})
    return {
        "metadata": {"labels": labels},
        "spec": {"containers": [{"name": "app", "image": f"{REPO}:{tag}"}]},
    }


def observed(serving: str | None, *, blue: str = "1", green: str | None = None) -> Observed:
    """A cluster where ``serving`` (None: uncoloured pods after rolling) runs at full size."""
    workloads = [
        Workload(
            "web-app",
            "stable",
            serving and "blue",
            3 if serving in (None, "blue") else 0,
            3 if serving in (None, "blue") else 0,
            pod_template(blue, "blue" if serving else None),
        )
    ]
    if green is not None:
        size = 3 if serving == "green" else 0
        workloads.append(
            Workload("web-app-green", "unknown", "green", size, size, pod_template(green, "green"))
        )
    live = pod_template(blue, "blue" if serving else None)
    record = StateRecord(
        "web-app",
        "production",
        "blue_green" if serving else "rolling",
        "Succeeded",
        f"{REPO}:{green if serving == 'green' else blue}",
        active_color=serving,
        manifests_digest="older",
    )
    return Observed(True, live, f"{REPO}:{blue}", True, record, workloads=tuple(workloads))


def applied(plan: Plan, kind: str) -> dict[str, Any]:
    apply = next(s for s in plan.steps if isinstance(s, Apply))
    return next(o for o in apply.manifests if o["kind"] == kind)


def test_plan_is_a_pure_function_of_its_inputs(tmp_path: Path) -> None:
    t, o = target(tmp_path), observed("blue")
    assert make_plan(t, o).render() == make_plan(t, o).render()
    assert make_plan(t, o).steps == make_plan(t, o).steps


def test_blue_serving_deploys_green_beside_it_and_applies_the_service_selecting_blue(
    tmp_path: Path,
) -> None:
    plan = make_plan(target(tmp_path), observed("blue", green="0"))
    assert applied(plan, "Service")["spec"]["selector"][COLOR] == "blue"
    assert "Deployment web-app" not in next(s for s in plan.steps if isinstance(s, Apply)).objects
    start = next(s for s in plan.steps if isinstance(s, StartColor))
    manifest = start.manifest
    assert manifest["metadata"]["name"] == "web-app-green"
    assert manifest["metadata"]["labels"][COLOR] == "green"
    assert manifest["spec"]["template"]["metadata"]["labels"][COLOR] == "green"
    assert manifest["spec"]["selector"]["matchLabels"][COLOR] == "green"
    assert manifest["spec"]["replicas"] == 3
    assert "ci-deploy.dev/state" not in (manifest["metadata"].get("annotations") or {})
    switch = next(s for s in plan.steps if isinstance(s, Switch))
    assert (switch.service, switch.color) == ("web-app", "green")
    assert plan.previous_image == f"{REPO}:1"
    assert plan.total_seconds == 300


def test_green_serving_deploys_blue_with_its_unchanged_pod_selector(tmp_path: Path) -> None:
    plan = make_plan(target(tmp_path, "3"), observed("green", blue="1", green="2"))
    assert applied(plan, "Service")["spec"]["selector"][COLOR] == "green"
    start = next(s for s in plan.steps if isinstance(s, StartColor))
    assert start.manifest["metadata"]["name"] == "web-app"
    assert COLOR not in start.manifest["spec"]["selector"]["matchLabels"]  # immutable, as it was
    assert start.manifest["spec"]["template"]["metadata"]["labels"][COLOR] == "blue"
    assert plan.previous_image == f"{REPO}:2"
    retire = [s for s in plan.steps if isinstance(s, ScaleColor)]
    assert [(s.deployment, s.replicas, s.serving) for s in retire] == [
        ("web-app-green", 0, "web-app")
    ]


def test_the_steps_in_order_switch_named_promote_and_checks_on_both_services(
    tmp_path: Path,
) -> None:
    plan = make_plan(target(tmp_path), observed("blue"))
    names = [s.name for s in plan.steps]
    assert names == [
        "record-stable",
        "apply",
        "deploy-color",
        "wait-rollout",
        "verify",
        "preview",
        "check",
        "promote",
        "check",
        "remove-preview",
        "watch",
        "scale",
        "prune",
        "record",
    ]
    checks = [s for s in plan.steps if isinstance(s, CheckTraffic)]
    assert [(c.what, c.service) for c in checks] == [
        ("pre-promotion", "web-app-preview"),
        ("post-promotion", "web-app"),
    ]
    assert (
        checks[0].describe().endswith("as a ready endpoint, and no other pod (its EndpointSlices)")
    )
    assert "HTTPRoutes keep their backendRefs" in plan.render()


def test_a_manual_gate_is_a_pause_right_before_the_switch(tmp_path: Path) -> None:
    plan = make_plan(target(tmp_path, auto=False), observed("blue"))
    at = next(i for i, s in enumerate(plan.steps) if isinstance(s, Switch))
    assert isinstance(plan.steps[at - 1], Pause)


def test_pods_without_a_colour_are_labelled_blue_before_green_starts(tmp_path: Path) -> None:
    plan = make_plan(target(tmp_path), observed(None))
    kinds = [type(s) for s in plan.steps]
    label, route, start = (
        kinds.index(LabelColor),
        kinds.index(RouteTraffic),
        kinds.index(StartColor),
    )
    assert kinds.index(Apply) < label < route < start
    assert COLOR not in applied(plan, "Service")["spec"]["selector"]  # until they carry it
    assert "carry no colour yet" in plan.render()


def test_a_first_deploy_rolls_out_blue_with_the_service_selecting_it(tmp_path: Path) -> None:
    plan = make_plan(target(tmp_path, "1"), Observed(deployment_exists=False))
    apply = next(s for s in plan.steps if isinstance(s, Apply))
    by_kind = {o["kind"]: o for o in apply.manifests}
    assert by_kind["Service"]["spec"]["selector"][COLOR] == "blue"
    assert by_kind["Deployment"]["spec"]["template"]["metadata"]["labels"][COLOR] == "blue"
    assert isinstance(plan.steps[-2], RecordColor) and plan.steps[-2].color == "blue"
    assert plan.steps[-3].name == "prune"  # once healthy, before the phase is recorded
    assert "rolls deployment/web-app out directly as blue" in plan.render()


def test_an_hpa_scales_the_serving_colour_and_the_new_one_starts_as_large(tmp_path: Path) -> None:
    o = observed("green", green="2")
    sized = tuple(
        Workload(w.name, w.track, w.color, 7, 7, w.template) if w.color == "green" else w
        for w in o.workloads
    )
    o = Observed(True, o.live_template, o.live_image, True, o.record, workloads=sized)
    plan = make_plan(target(tmp_path, "3", hpa=True), o)
    assert applied(plan, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]["name"] == (
        "web-app-green"
    )
    switch = next(s for s in plan.steps if isinstance(s, Switch))
    assert (switch.autoscaler, switch.deployment) == ("web-app", "web-app")
    assert next(s for s in plan.steps if isinstance(s, StartColor)).replicas == 7


def failed_at(plan: Plan, name: str, touched: bool = False) -> Recovery:
    number = next(i for i, s in enumerate(plan.steps, 1) if s.name == name)
    failure = StepFailed("failed", "it broke", name)
    failure.number = number
    report = None
    if touched:
        from ci_deploy.kube.changes import ApplyReport

        kind = KNOWN_KINDS[("v1", "Service")]
        change = ObjectChange(
            "Service web-app", kind, "web-app", "web-app-production", {"a": 1}, {"a": 2}
        )
        report = ApplyReport((change,))
    opts = DeployOptions("ci-deploy.yml", "production", None)
    decision = recovery_plan(plan, failure, report, opts)
    assert isinstance(decision, Recovery)
    return decision


def test_a_failure_before_the_switch_removes_green_and_leaves_the_service(tmp_path: Path) -> None:
    plan = make_plan(target(tmp_path), observed("blue"))
    steps = failed_at(plan, "check").steps
    assert not any(isinstance(s, RouteTraffic) for s in steps)
    scale = [s for s in steps if isinstance(s, ScaleColor)]
    assert [(s.deployment, s.replicas) for s in scale] == [("web-app-green", 0)]
    assert isinstance(steps[-1], Record) and steps[-1].phase == "RolledBack"


def test_a_failure_from_the_switch_on_switches_back_once_blue_is_ready(tmp_path: Path) -> None:
    plan = make_plan(target(tmp_path), observed("blue"))
    for name in ("promote", "watch", "scale"):
        steps = failed_at(plan, name, touched=True).steps
        names = [s.name for s in steps]
        assert names[:4] == ["scale", "wait-rollout", "verify", "route"], name
        back = steps[3]
        assert isinstance(back, RouteTraffic) and back.color == "blue"
        assert isinstance(steps[4], ScaleColor) and steps[4].deployment == "web-app-green"
        # The objects the apply changed go back last: after green's pods are gone.
        restore = [i for i, s in enumerate(steps) if isinstance(s, RestoreObjects)]
        assert restore == [len(steps) - 2] and steps[restore[0]].objects == ("Service web-app",)


def spec_record(plan: Plan, step: str, phase: str = "Paused") -> StateRecord:
    record_step = next(s for s in plan.steps if s.name == "record-stable")
    return StateRecord(
        "web-app",
        "production",
        "blue_green",
        phase,  # type: ignore[arg-type]
        plan.target.image,
        previous_revision=plan.previous_image,
        previous_template=plan.previous_template,
        step=step,
        active_color="blue",
        manifests_digest=plan.target.manifests_digest,
        plan=record_step.plan,  # type: ignore[attr-defined]
    )


def test_the_spec_round_trips_through_the_record(tmp_path: Path) -> None:
    plan = make_plan(target(tmp_path, auto=False), observed("blue"))
    record = spec_record(plan, "8/14 pause")
    assert record.plan is not None
    assert BlueGreenSpec.from_dict(record.plan).to_dict() == record.plan
    strategy = BlueGreenStrategy()
    resumed = with_pruning(strategy.resume_plan(record, observed("blue"), plan.target))
    assert [s.name for s in resumed.steps] == [s.name for s in plan.steps]
    assert resumed.start == 9 and resumed.steps[8].name == "promote"


@pytest.mark.parametrize(("step", "switched"), [("8/14 pause", False), ("12/14 watch", True)])
def test_abort_switches_back_only_after_the_switch(
    tmp_path: Path, step: str, switched: bool
) -> None:
    plan = make_plan(target(tmp_path, auto=False), observed("blue"))
    steps = BlueGreenStrategy().abort_steps(spec_record(plan, step), observed("blue"))
    assert any(isinstance(s, RouteTraffic) for s in steps) is switched
    assert not any(isinstance(s, RestoreObjects) for s in steps)
    assert isinstance(steps[-1], Record) and steps[-1].phase == "Aborted"


def test_an_interrupted_run_continues_and_a_paused_one_holds(tmp_path: Path) -> None:
    t = target(tmp_path)
    first = make_plan(t, observed("blue"))
    o = observed("blue")
    running = replace(o, record=spec_record(first, "11/13 watch", "Progressing"))
    again = make_plan(t, running)
    assert again.start == 11 and not again.prelude
    paused = replace(o, record=spec_record(first, "7/13 check"))
    held = make_plan(t, paused)
    assert held.noop_reason is not None and "ci-deploy promote" in held.noop_reason


def test_a_new_image_while_one_is_in_flight_aborts_it_first(tmp_path: Path) -> None:
    first = make_plan(target(tmp_path), observed("blue"))
    o = observed("blue")
    paused = replace(o, record=spec_record(first, "7/13 check"))
    newer = make_plan(target(tmp_path, "3"), paused)
    assert [s.name for s in newer.prelude] == ["scale", "remove-preview"]
    assert next(s for s in newer.steps if isinstance(s, StartColor)).color == "green"
    assert not any(isinstance(s, Watch) and s.seconds <= 0 for s in newer.steps)


def judged(tmp_path: Path, delay: str = "5m") -> Target:
    """The target with blue_green.rollback_triggers and a Prometheus to judge them with."""
    from ci_deploy.analysis.spec import analysis_for

    text = CONFIG.format(repo=REPO, hpa="", auto="true").replace("5m", delay) + (
        '  rollback_triggers:\n    - error_rate: "> 1%"\n'
        "analysis:\n  interval: 2s\n  prometheus: {address: http://prometheus:9090}\n"
    )
    cfg = load_config_text(text, str(tmp_path / "ci-deploy.yml"))
    spec = analysis_for(
        cfg.analysis,
        None,
        app="web-app",
        namespace="web-app-production",
        environment="production",
        env={},
        blue_green=cfg.blue_green,
    )
    return replace(target(tmp_path), settings=cfg.blue_green, analysis=spec)


def test_the_triggers_are_judged_on_the_new_colour_while_the_old_waits(tmp_path: Path) -> None:
    plan = make_plan(judged(tmp_path), observed("blue"))
    watch = next(s for s in plan.steps if isinstance(s, Watch))
    at = [type(s) for s in plan.steps]
    assert at.index(Switch) < at.index(Watch) < at.index(ScaleColor)  # blue still at full size
    assert (watch.track, watch.color) == ("green", "green")
    assert watch.describe() == (
        "blue kept at full size for an instant switch back: for 5m: deployment/web-app-green"
        " stays healthy; switch back at once if error_rate > 1% (every 2s) (green metrics)"
    )
    # a breach fails the watch step, after the switch: the failure path switches back to blue
    switched = next(p for p in plan.failure_paths if "from step" in p.heading)
    assert "switch Service web-app back to it" in switched.heading
    # the other way round when green serves: blue is judged
    again = make_plan(judged(tmp_path), observed("green", green="1"))
    assert next(s for s in again.steps if isinstance(s, Watch)).color == "blue"


def test_no_delay_no_window_to_judge_in_and_the_plan_says_so(tmp_path: Path) -> None:
    plan = make_plan(judged(tmp_path, delay="0s"), observed("blue"))
    assert not any(isinstance(s, Watch) for s in plan.steps)
    assert "blue_green.rollback_triggers are not judged after the switch" in plan.render()
