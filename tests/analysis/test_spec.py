"""From ci-deploy.yml to rendered rules: what a canary judges, recorded for later jobs."""

from __future__ import annotations

import pytest

from ci_deploy.analysis.spec import AnalysisSpec, analysis_for
from ci_deploy.config.load import load_config_text
from ci_deploy.config.model import Config
from ci_deploy.errors import ConfigError, UserInputError

BASE = """\
app: web
image: {repository: registry.example.com/web}
environments:
  prod: {namespace: web-prod, strategy: canary}
canary:
  stages:
    - name: first
      traffic_percentage: 10
      duration: 1m
      success_criteria: {error_rate: "< 0.1%", response_time_p95: "< 500ms"}
    - {name: full, traffic_percentage: 100}
  rollback_triggers:
    - error_rate: "> 0.5%"
    - manual_trigger: true
"""
PROMETHEUS = """\
analysis:
  interval: 1s
  window: 30s
  min_requests: 20
  prometheus:
    address: http://prometheus:9090
    address_env: PROM_URL
    bearer_token_env: PROM_TOKEN
    queries:
      error_rate:
        query: >-
          sum(rate(errors{app="{{ app }}", ns="{{ namespace }}", t="{{ track }}"}[{{ window }}]))
        unit: ratio
        no_data: fail
"""


def spec(cfg: Config, env: dict[str, str] | None = None) -> AnalysisSpec | None:
    return analysis_for(
        cfg.analysis, cfg.canary, app="web", namespace="web-prod", environment="prod", env=env or {}
    )


def test_rules_render_per_track_with_the_configured_query_unit_and_policy() -> None:
    s = spec(load_config_text(BASE + PROMETHEUS))
    assert s is not None and s.prometheus is not None
    rules = s.rules("first", "canary")
    assert [(r.metric, r.threshold.canonical, r.trigger) for r in rules] == [
        ("error_rate", "< 0.1%", False),
        ("response_time_p95", "< 500ms", False),
        ("error_rate", "> 0.5%", True),
    ]
    assert rules[0].query == 'sum(rate(errors{app="web", ns="web-prod", t="canary"}[30s]))'
    assert (rules[0].unit, rules[0].no_data) == ("ratio", "fail")
    assert (rules[1].unit, rules[1].no_data) == ("seconds", "inconclusive")  # built-in p95
    assert 't="stable"' in s.rules("full", "stable")[0].query
    assert [r.metric for r in s.rules("full", "stable")] == ["error_rate"]  # triggers only
    assert s.request_query("canary") == (
        'sum(increase(http_requests_total{namespace="web-prod", app="web", track="canary"}[30s]))'
    )
    assert s.prometheus.address == "http://prometheus:9090"
    assert s.prometheus.bearer_token_env == "PROM_TOKEN"
    assert s.interval == 1.0


def test_address_env_replaces_the_address_when_set() -> None:
    s = spec(load_config_text(BASE + PROMETHEUS), {"PROM_URL": "http://127.0.0.1:9999"})
    assert s is not None and s.prometheus is not None
    assert s.prometheus.address == "http://127.0.0.1:9999"


def test_the_recorded_spec_judges_the_same_after_a_round_trip() -> None:
    s = spec(load_config_text(BASE + PROMETHEUS), {"PROM_TOKEN": "s3cret"})
    assert s is not None
    again = AnalysisSpec.from_dict(s.to_dict())
    assert again.rules("first", "canary") == s.rules("first", "canary")
    assert again.request_query("stable") == s.request_query("stable")
    assert "s3cret" not in repr(s.to_dict())  # env var names are recorded, never values


def test_rules_without_a_prometheus_are_refused_before_anything_happens() -> None:
    with pytest.raises(UserInputError) as caught:
        spec(load_config_text(BASE))
    assert "error_rate, response_time_p95" in caught.value.message
    assert "no analysis.prometheus" in caught.value.message


def test_no_rules_no_analysis() -> None:
    text = BASE.replace(
        '      success_criteria: {error_rate: "< 0.1%", response_time_p95: "< 500ms"}\n', ""
    ).replace('    - error_rate: "> 0.5%"\n', "")
    assert spec(load_config_text(text)) is None


def test_a_query_that_cannot_compile_is_a_located_configuration_error() -> None:
    broken = PROMETHEUS.replace("{{ app }}", "{{ app | nosuchfilter }}")
    with pytest.raises(ConfigError) as caught:
        load_config_text(BASE + broken)
    assert [p.render() for p in caught.value.problems] == [
        "ci-deploy.yml:25:16: analysis.prometheus.queries.error_rate.query: expected a template,"
        " found a syntax error at its line 1: No filter named 'nosuchfilter'."
    ]


def test_baseline_comparison_only_with_a_baseline_and_recorded() -> None:
    compared = "  baseline: {metrics: [response_time_p95, cpu_usage], tolerance: 5}\n"
    with pytest.raises(ConfigError) as refused:  # canary.baseline is off: nothing to compare
        load_config_text(BASE + PROMETHEUS + compared, "ci-deploy.yml")
    assert "ci-deploy.yml:29:3: analysis.baseline:" in str(refused.value)  # file:line:col
    assert "expected canary.baseline: true for analysis.baseline" in str(refused.value)
    text = BASE.replace("canary:\n", "canary:\n  baseline: true\n") + PROMETHEUS + compared
    s = spec(load_config_text(text))
    assert s is not None and s.baseline is not None
    assert (s.baseline.metrics, s.baseline.tolerance, s.baseline.alpha) == (
        ("response_time_p95", "cpu_usage"),
        5.0,
        0.05,
    )
    assert s.baseline.window_seconds == 30.0
    assert 'track="baseline"' in s.track_query("cpu_usage", "baseline")  # a query of its own
    assert AnalysisSpec.from_dict(s.to_dict()) == s  # promote compares as deploy did


BLUE_GREEN = """\
app: web
image: {repository: registry.example.com/web}
environments:
  prod: {namespace: web-prod, strategy: blue_green}
blue_green:
  scale_down_delay: 10m
  rollback_triggers:
    - error_rate: "> 0.5%"
    - cpu_usage: "> 90%"
    - manual_trigger: true
analysis:
  prometheus: {address: http://prometheus:9090}
"""


def test_blue_green_triggers_render_for_the_colour_with_its_label() -> None:
    cfg = load_config_text(BLUE_GREEN)
    s = analysis_for(
        cfg.analysis,
        None,
        app="web",
        namespace="web-prod",
        environment="prod",
        env={},
        blue_green=cfg.blue_green,
    )
    assert s is not None
    assert s.triggers == (("error_rate", "> 0.5%"), ("cpu_usage", "> 90%"))  # not the manual one
    error, cpu = s.rules(None, "green", "green")
    assert (error.label, error.trigger) == ("error_rate (green)", True)
    # the built-in queries select the pods' colour, never a track they do not carry
    assert 'app="web", color="green"' in error.query and "track=" not in error.query
    assert 'label_ci_deploy_dev_color="green"' in cpu.query and "track" not in cpu.query
    # a canary's rules are unchanged: its track, no colour
    canary = s.rules(None, "canary")[0].query
    assert 'track="canary"' in canary and "color" not in canary
    assert cfg.verifiable(cfg.environment("prod"))
    assert cfg.triggers_key("blue_green") == "blue_green.rollback_triggers"


def test_a_blue_green_trigger_without_a_query_is_a_located_error() -> None:
    text = BLUE_GREEN.replace("cpu_usage", "queue_depth")
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "ci-deploy.yml")
    assert "ci-deploy.yml:9:7: blue_green.rollback_triggers[1].queue_depth:" in str(caught.value)
    assert "found 'queue_depth', which has none" in str(caught.value)


def test_a_custom_query_may_use_the_colour() -> None:
    custom = BLUE_GREEN + (
        "  prometheus:\n"
        "    address: http://prometheus:9090\n"
        "    queries:\n"
        "      error_rate:\n"
        '        query: sum(rate(errors{app="{{ app }}", c="{{ color }}"}[{{ window }}]))\n'
    )
    custom = custom.replace("  prometheus: {address: http://prometheus:9090}\n", "", 1)
    cfg = load_config_text(custom)
    s = analysis_for(
        cfg.analysis,
        None,
        app="web",
        namespace="n",
        environment="prod",
        env={},
        blue_green=cfg.blue_green,
    )
    assert s is not None
    assert s.rules(None, "blue", "blue")[0].query == 'sum(rate(errors{app="web", c="blue"}[1m]))'
