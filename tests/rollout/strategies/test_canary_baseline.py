"""The canary's baseline as planned (pure): recorded in the spec, started after the canary from
the stable template, scaled with it, removed at the first stage of 50 % or more and on every
way out; refused where it cannot run."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ci_deploy.config import load_config_text
from ci_deploy.errors import UserInputError
from ci_deploy.kube.state import StateRecord
from ci_deploy.render import render_manifests
from ci_deploy.rollout.plan import Observed, Target, Workload
from ci_deploy.rollout.strategies.canary import (
    CanarySpec,
    CanaryStrategy,
    RemoveBaseline,
    SetWeight,
    StartBaseline,
    spec_for,
)
from ci_deploy.rollout.traffic import TRACK_LABEL

Obj = dict[str, Any]
IMAGE = "registry.example.com/acme/shop"
CONFIG = """\
app: shop
image: {{repository: registry.example.com/acme/shop}}
manifests:
  http_route: {{hostnames: [shop.example.com], parent_ref: {{name: public, namespace: infra}}}}
  ingress: {{host: shop.example.com, class_name: nginx}}
environments:
  production: {{namespace: shop, replicas: 4, strategy: canary}}
canary:
  traffic_router: {router}
  baseline: {baseline}
  stages:
{stages}
"""
STAGES = """\
    - {name: one, traffic_percentage: 10, pause: true}
    - {name: two, traffic_percentage: 30, pause: true}
    - {name: three, traffic_percentage: 60, pause: true}
    - {name: all, traffic_percentage: 100}
"""
SELECTOR = "app.kubernetes.io/instance=shop-production,app.kubernetes.io/name=shop"


def target(
    tmp_path: Path, router: str = "gateway-api", stages: str = STAGES, baseline: bool = True
) -> Target:
    text = CONFIG.format(router=router, baseline=str(baseline).lower(), stages=stages)
    cfg = load_config_text(text, str(tmp_path / "ci-deploy.yml"))
    objects = render_manifests(cfg, "production", f"{IMAGE}:2")
    return Target(
        app="shop",
        environment="production",
        namespace="shop",
        strategy="canary",
        image=f"{IMAGE}:2",
        objects=tuple(f"{o['kind']} {o['metadata']['name']}" for o in objects),
        manifests_digest="d2",
        timeout=600.0,
        container="app",
        images=(("app", f"{IMAGE}:2"),),
        manifests=tuple(objects),
        replicas=4,
        settings=cfg.canary,
    )


def stable_template(t: Target) -> Obj:
    """The pod template running now: the rendered one with image 1, on the stable track."""
    deployment = next(o for o in t.manifests if o["kind"] == "Deployment")
    template = copy.deepcopy(deployment["spec"]["template"])
    template["metadata"]["labels"][TRACK_LABEL] = "stable"
    template["metadata"]["annotations"] = {"kubectl.kubernetes.io/restartedAt": "yesterday"}
    template["spec"]["containers"][0]["image"] = f"{IMAGE}:1"
    return template


def observed(t: Target) -> Observed:
    template = stable_template(t)
    stable = Workload("shop", "stable", None, 4, 4, template)
    return Observed(True, template, f"{IMAGE}:1", True, workloads=(stable,))


def names(steps: Any) -> list[str]:
    return [s.name for s in steps]


def test_the_baseline_is_recorded_in_the_spec(tmp_path: Path) -> None:
    spec = spec_for(target(tmp_path))
    assert spec.baseline
    assert spec.baseline_selector == f"{SELECTOR},{TRACK_LABEL}=baseline"
    assert (spec.names.baseline_deployment, spec.names.baseline_service) == (
        "shop-baseline",
        "shop-baseline",
    )
    again = CanarySpec.from_dict(spec.to_dict())
    assert again == spec and again.names == spec.names
    # a plan recorded before baselines existed has none
    old = {k: v for k, v in spec.to_dict().items() if k not in ("baseline", "baselineSelector")}
    old["names"] = {
        k: v
        for k, v in old["names"].items()
        if k not in ("baseline_deployment", "baseline_service")
    }
    legacy = CanarySpec.from_dict(old)
    assert not legacy.baseline and legacy.names.baseline_deployment == ""


def test_the_replicas_router_needs_no_baseline_service(tmp_path: Path) -> None:
    names_ = spec_for(target(tmp_path, "replicas")).names
    assert names_.baseline_deployment == "shop-baseline" and names_.baseline_service == ""


def test_the_plan_starts_scales_and_removes_the_baseline(tmp_path: Path) -> None:
    t = target(tmp_path)
    plan = CanaryStrategy().plan(t, observed(t))
    assert names(plan.steps) == [
        "record-stable",
        "apply",
        "start-canary",
        "wait-rollout",
        "verify",
        "start-baseline",
        "wait-rollout",
        "verify",
        "prepare-traffic",
        "set-weight",  # 10 %: 10 + 10 + 80
        "pause",
        "set-weight",  # 30 %: 30 + 30 + 40
        "pause",
        "set-weight",  # 60 %: the canary alone
        "remove-baseline",
        "pause",
        "promote",
        "wait-rollout",
        "verify",
        "traffic-to-stable",
        "remove-canary",
        "reset-traffic",
        "prune",
        "record",
    ]
    weights = [s for s in plan.steps if isinstance(s, SetWeight)]
    assert [(s.planned.canary_pods, s.planned.baseline_pods) for s in weights] == [
        (1, 1),
        (2, 2),
        (3, 0),
    ]
    assert [s.planned.stable_share for s in weights] == [80, 40, 40]
    assert [bool(s.baseline_selector) for s in weights] == [True, True, False]
    [removal] = [s for s in plan.steps if isinstance(s, RemoveBaseline)]
    assert "from 50% on" in removal.describe()
    assert any("runs beside the canary at stage one, two" in n for n in plan.notes)


def test_the_baseline_runs_the_stable_template_on_its_own_track(tmp_path: Path) -> None:
    t = target(tmp_path)
    plan = CanaryStrategy().plan(t, observed(t))
    [start] = [s for s in plan.steps if isinstance(s, StartBaseline)]
    assert start.image == f"{IMAGE}:1" and start.replicas == 1
    manifest = start.manifest
    assert manifest["metadata"]["name"] == "shop-baseline"
    assert manifest["metadata"]["labels"][TRACK_LABEL] == "baseline"
    assert manifest["spec"]["replicas"] == 1
    assert manifest["spec"]["selector"]["matchLabels"][TRACK_LABEL] == "baseline"
    expected = stable_template(t)
    expected["metadata"]["labels"][TRACK_LABEL] = "baseline"
    assert manifest["spec"]["template"] == expected  # the stable version, not the rendered one
    # the baseline is checked against the stable version's images
    verify = plan.steps[names(plan.steps).index("start-baseline") + 2]
    assert verify.images == (("app", f"{IMAGE}:1"),)  # type: ignore[attr-defined]


def test_a_baseline_to_the_end_goes_with_the_canary_at_promotion(tmp_path: Path) -> None:
    stages = (
        "    - {name: one, traffic_percentage: 10}\n"
        "    - {name: two, traffic_percentage: 40}\n"
        "    - {name: all, traffic_percentage: 100}\n"
    )
    t = target(tmp_path, stages=stages)
    steps = names(CanaryStrategy().plan(t, observed(t)).steps)
    assert steps.count("remove-baseline") == 1
    at = steps.index("remove-baseline")
    assert steps[at - 1 : at + 2] == ["remove-canary", "remove-baseline", "reset-traffic"]
    assert steps.index("promote") < at


def test_every_way_out_removes_the_baseline(tmp_path: Path) -> None:
    t = target(tmp_path)
    strategy = CanaryStrategy()
    plan = strategy.plan(t, observed(t))
    before, after, _ = plan.failure_paths
    for path in (before, after):
        steps = names(path.steps)
        assert steps[:4] == [
            "traffic-to-stable",
            "remove-canary",
            "remove-baseline",
            "reset-traffic",
        ]
    assert "remove the canary and the baseline" in before.heading
    spec = spec_for(t)
    record = StateRecord(
        "shop",
        "production",
        "canary",
        "Paused",
        f"{IMAGE}:2",
        previous_revision=f"{IMAGE}:1",
        step="11/23 pause",
        previous_template=plan.previous_template,
        plan=spec.to_dict(),
    )
    assert "remove-baseline" in names(strategy.abort_steps(record, observed(t)))
    # promote rebuilds the very same steps from the record (the baseline's from its template)
    resumed = strategy.resume_steps(record, observed(t))
    assert [s.describe() for s in resumed[2:]] == [s.describe() for s in plan.steps[2:]]
    [start] = [s for s in resumed if isinstance(s, StartBaseline)]
    assert start.manifest["spec"]["template"]["metadata"]["labels"][TRACK_LABEL] == "baseline"


def test_no_baseline_no_baseline_steps(tmp_path: Path) -> None:
    t = target(tmp_path, baseline=False)
    plan = CanaryStrategy().plan(t, observed(t))
    assert not any("baseline" in name for name in names(plan.steps))
    assert spec_for(t).names.baseline_deployment == ""
    assert all("baseline" not in s.describe() for s in plan.steps)


def test_a_baseline_with_nginx_ingress_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(UserInputError) as refused:
        CanaryStrategy().validate(target(tmp_path, "nginx-ingress"))
    message = str(refused.value)
    assert (
        "canary.baseline: true cannot be used with canary.traffic_router: nginx-ingress" in message
    )
    assert "one canary Ingress per host and path" in message
    assert refused.value.exit_code == 2
    CanaryStrategy().validate(target(tmp_path, "nginx-ingress", baseline=False))  # fine


def test_a_baseline_that_would_never_run_is_bad_input(tmp_path: Path) -> None:
    stages = (
        "    - {name: half, traffic_percentage: 50}\n    - {name: all, traffic_percentage: 100}\n"
    )
    with pytest.raises(UserInputError, match=r"no stage of canary\.stages is below 50%"):
        spec_for(target(tmp_path, stages=stages))


def test_the_plan_with_a_baseline_is_pure(tmp_path: Path) -> None:
    t = target(tmp_path, "replicas")
    first = CanaryStrategy().plan(t, observed(t))
    again = CanaryStrategy().plan(replace(t), observed(t))
    assert first.steps == again.steps and first.render() == again.render()
    assert "16.7% to the baseline (1 baseline pod), 66.7% to the stable version" in first.render()
