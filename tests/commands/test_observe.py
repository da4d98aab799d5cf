"""What a plan starts from: every workload of the app and the strategy settings (sandbox)."""

from __future__ import annotations

import copy
from typing import Any

from tests.commands.conftest import IMAGE, NAMESPACE

from ci_deploy.config import load_config
from ci_deploy.kube.client import DEPLOYMENT
from ci_deploy.rollout.deploy import observe, prepare
from ci_deploy.rollout.options import DeployOptions


def test_observed_holds_every_deployment_of_the_app_with_its_track_and_colour(engine: Any) -> None:
    assert engine.deploy("1.0.0").returncode == 0
    live = engine.deployment()
    canary = copy.deepcopy(live)
    canary["metadata"] = {
        "name": "web-app-canary",
        "namespace": NAMESPACE,
        "labels": {**live["metadata"]["labels"], "ci-deploy.dev/track": "canary",
                   "ci-deploy.dev/color": "green"},
    }  # fmt: skip
    canary["spec"]["replicas"] = 1
    canary.pop("status", None)
    engine.client.request("POST", DEPLOYMENT.path(NAMESPACE), body=canary)
    other = copy.deepcopy(canary)
    other["metadata"] = {"name": "someone-else", "namespace": NAMESPACE, "labels": {"a": "b"}}
    other["spec"]["selector"] = {"matchLabels": {"a": "b"}}
    other["spec"]["template"]["metadata"]["labels"] = {"a": "b"}
    engine.client.request("POST", DEPLOYMENT.path(NAMESPACE), body=other)

    observed, _ = observe(engine.client, NAMESPACE, "web-app")
    assert [(w.name, w.track, w.color, w.replicas) for w in observed.workloads] == [
        ("web-app", "stable", None, live["spec"]["replicas"]),
        ("web-app-canary", "canary", "green", 1),
    ]
    stable = observed.workload("stable")
    assert stable is not None and stable.ready == live["spec"]["replicas"]
    assert stable.template["spec"]["containers"][0]["image"] == f"{IMAGE}:1.0.0"
    assert observed.workload("canary", "green") is not None
    assert observed.workload("canary", "blue") is None


def test_the_target_carries_the_environments_strategy_settings(engine: Any) -> None:
    cfg = load_config(engine.config)
    env = cfg.environment("staging")
    opts = DeployOptions(config_path=str(engine.config), environment="staging", image=None)
    target = prepare(opts, cfg, env, f"{IMAGE}:1.0.0").target
    assert target.settings is cfg.rolling
    assert target.replicas == env.replicas
