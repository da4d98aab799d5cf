"""Validation rules beyond the error table: what is accepted, and how values are merged."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci_deploy.config import Duration, Threshold, load_config, load_config_text
from ci_deploy.errors import ConfigError

HEAD = "app: shop\nimage:\n  repository: registry.example.com/acme/shop\n"
ONE_ENV = "environments:\n  staging: {}\n"
CANARY = "canary:\n  stages:\n    - name: all\n      traffic_percentage: 100\n"


def problems(text: str) -> list[str]:
    """The rendered problems of a broken configuration."""
    with pytest.raises(ConfigError) as info:
        load_config_text(text)
    assert info.value.exit_code == 2
    return [p.render() for p in info.value.problems]


def test_minimal_configuration_gets_documented_defaults() -> None:
    cfg = load_config_text(HEAD + ONE_ENV)
    env = cfg.environment("staging")
    assert (env.namespace, env.replicas, env.strategy) == ("shop-staging", 1, "rolling")
    assert (env.cluster, env.log_level, env.database, env.url) == (None, None, None, None)
    assert env.env == {} and env.external_services == {}
    assert (env.resources.cpu, env.resources.memory) == (None, None)
    assert cfg.rolling.max_surge == "25%" and cfg.rolling.max_unavailable == "25%"
    assert cfg.rolling.progress_deadline == Duration(600.0)
    assert cfg.canary is None and cfg.blue_green is None and cfg.migrations is None
    assert cfg.manifests.port == 8080 and cfg.manifests.health_path == "/health"
    assert cfg.notifications.github.enabled and cfg.notifications.slack is None
    assert cfg.analysis.prometheus is None


def test_defaults_merge_per_key_and_environment_values_win() -> None:
    cfg = load_config_text(
        HEAD
        + "defaults:\n  replicas: 2\n  log_level: info\n  cluster: main\n"
        + "  env: {A: a, B: b}\n  external_services: {pay: 'https://pay.example.com'}\n"
        + "  resources: {cpu: 100m, memory: 128Mi}\n"
        + "environments:\n  staging: {}\n  production:\n    replicas: 6\n"
        + "    env: {B: bee, C: 3}\n    resources: {memory: 1Gi}\n"
        + "    external_services: {mail: 'https://mail.example.com'}\n"
    )
    staging, prod = cfg.environment("staging"), cfg.environment("production")
    assert (staging.replicas, staging.log_level, staging.cluster) == (2, "info", "main")
    assert prod.replicas == 6
    assert prod.env == {"A": "a", "B": "bee", "C": "3"}  # numbers become strings
    assert (prod.resources.cpu, prod.resources.memory) == ("100m", "1Gi")
    assert prod.external_services == {
        "pay": "https://pay.example.com",
        "mail": "https://mail.example.com",
    }


def test_null_means_not_set() -> None:
    cfg = load_config_text(HEAD + "environments:\n  staging:\n    log_level: ~\n    replicas:\n")
    assert cfg.environment("staging").log_level is None
    assert cfg.environment("staging").replicas == 1


def test_canary_alias_and_blue_green_list_process_are_accepted() -> None:
    cfg = load_config_text(
        HEAD
        + "strategy: blue_green\n"
        + ONE_ENV
        + "blue_green_deployment:\n  deployment_process: [deploy green, switch]\n"
        + "  auto_promote: false\n  scale_down_delay: 2m\n"
    )
    assert cfg.blue_green is not None
    assert cfg.blue_green.deployment_process == ("deploy green", "switch")
    assert cfg.blue_green.auto_promote is False
    assert cfg.blue_green.scale_down_delay == Duration(120.0)
    assert cfg.environment("staging").strategy == "blue_green"


def test_rollback_triggers_accept_several_metrics_per_item_and_manual_false() -> None:
    cfg = load_config_text(
        HEAD
        + ONE_ENV
        + CANARY
        + "  rollback_triggers:\n    - {error_rate: '> 1%', latency_p99: '> 2s'}\n"
        + "    - manual_trigger: false\n"
        + "analysis:\n  prometheus:\n    address: http://prometheus:9090\n"
        + "    queries: {latency_p99: 'histogram_quantile(0.99, rate(x[{{ window }}]))'}\n"
    )
    assert cfg.canary is not None
    assert [(t.metric, t.threshold) for t in cfg.canary.rollback_triggers] == [
        ("error_rate", Threshold(">", 1, "%")),
        ("latency_p99", Threshold(">", 2, "s")),
    ]


def test_top_level_strategy_must_be_configured_too() -> None:
    assert problems(HEAD + "strategy: blue_green\n" + ONE_ENV) == [
        "ci-deploy.yml:4:11: strategy: expected a configured strategy, found 'blue_green' but"
        " there is no top-level 'blue_green:' (or 'blue_green_deployment:') section; add one or"
        " use 'rolling'"
    ]


def test_problems_from_every_section_are_reported_together() -> None:
    found = problems(
        HEAD
        + "environments:\n  staging:\n    replicas: -2\n    strategy: canary\n"
        + "rolling:\n  max_unavailable: lots\n"
        + "migrations:\n  timeout: 1 hour\n"
    )
    assert [line.split(": ")[1] for line in found] == [
        "environments.staging.replicas",
        "environments.staging.strategy",
        "rolling.max_unavailable",
        "migrations.timeout",
    ]


def test_empty_stage_list_is_rejected() -> None:
    assert problems(HEAD + ONE_ENV + "canary:\n  stages: []\n") == [
        "ci-deploy.yml:7:11: canary.stages: expected a list of stages with at least one entry,"
        " found an empty list"
    ]


def test_zero_traffic_stage_is_rejected() -> None:
    text = HEAD + ONE_ENV + "canary:\n  stages:\n    - {name: a, traffic_percentage: 0}\n"
    text += "    - {name: b, traffic_percentage: 100}\n"
    assert problems(text) == [
        "ci-deploy.yml:8:37: canary.stages[0].traffic_percentage: expected a percentage above 0"
        " and at most 100, found an integer (0)"
    ]


def test_manifest_options_are_typed(tmp_path: Path) -> None:
    (tmp_path / "k8s").mkdir()
    (tmp_path / "ci-deploy.yml").write_text(
        HEAD
        + ONE_ENV
        + "manifests:\n  templates: k8s\n  port: 9000\n  health_path: /healthz\n"
        + "  http_route:\n    hostnames: [shop.example.com]\n"
        + "    parent_ref: {name: public, namespace: gateways}\n"
        + "  hpa: {min_replicas: 2, max_replicas: 6}\n"
    )
    manifests = load_config(tmp_path / "ci-deploy.yml").manifests
    assert manifests.templates == (tmp_path / "k8s").resolve()
    assert (manifests.port, manifests.health_path) == (9000, "/healthz")
    assert manifests.http_route is not None
    assert manifests.http_route.hostnames == ("shop.example.com",)
    assert manifests.http_route.parent_ref.namespace == "gateways"
    assert manifests.hpa is not None and manifests.hpa.cpu_utilization == 80


def test_port_out_of_range_is_rejected() -> None:
    assert problems(HEAD + ONE_ENV + "manifests:\n  port: 70000\n") == [
        "ci-deploy.yml:7:9: manifests.port: expected an integer from 1 to 65535, found an"
        " integer (70000)"
    ]


def test_problems_carry_location_key_path_and_suggestion() -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(HEAD + "environments:\n  staging:\n    replcas: 2\n", "x/ci-deploy.yml")
    (problem,) = info.value.problems
    assert (problem.location.file, problem.location.line, problem.location.column) == (
        "x/ci-deploy.yml",
        6,
        5,
    )
    assert problem.key_path == "environments.staging.replcas"
    assert problem.message == "unknown key 'replcas'"
    assert problem.suggestion == "did you mean 'replicas'?"


def test_a_secret_pasted_into_an_env_var_field_is_not_echoed() -> None:
    secret = "xoxb-1234-abcd-SECRET"
    found = problems(HEAD + ONE_ENV + f"notifications:\n  slack:\n    webhook_url_env: {secret}\n")
    assert found == [
        "ci-deploy.yml:8:22: notifications.slack.webhook_url_env: expected the name of an"
        " environment variable holding the secret (letters, digits and '_', e.g. SLACK_WEBHOOK),"
        " found a string of 21 characters (not shown: it may be a secret)"
    ]
    assert secret not in "".join(found)


def test_weighted_router_with_its_object_is_accepted() -> None:
    cfg = load_config_text(
        HEAD
        + ONE_ENV
        + "manifests:\n  ingress: {host: shop.example.com}\n"
        + CANARY
        + "  traffic_router: nginx-ingress\n"
    )
    assert cfg.canary is not None and cfg.canary.traffic_router == "nginx-ingress"
