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
