"""analysis: in ci-deploy.yml: what is accepted, and each mistake located with what to do."""

from __future__ import annotations

import pytest

from ci_deploy.config.load import load_config_text
from ci_deploy.errors import ConfigError

HEAD = """\
app: web
image: {repository: registry.example.com/web}
environments:
  prod: {strategy: canary}
canary:
  stages:
    - name: a
      traffic_percentage: 10
      success_criteria: {error_rat: "< 1%"}
    - {name: b, traffic_percentage: 100}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config_text(text)
    assert info.value.exit_code == 2
    return [p.render() for p in info.value.problems]


def test_a_metric_without_a_query_is_located_with_a_suggestion() -> None:
    assert problems(HEAD) == [
        "ci-deploy.yml:9:26: canary.stages[0].success_criteria.error_rat: expected a metric with"
        " a query, found 'error_rat', which has none: add analysis.prometheus.queries.error_rat"
        " (built-in: error_rate, response_time_p95, cpu_usage, memory_usage, request_count)"
        " (did you mean 'error_rate'?)"
    ]


def test_a_custom_metric_is_known_once_it_has_a_query() -> None:
    cfg = load_config_text(
        HEAD
        + "analysis:\n  prometheus:\n    address: http://p:9090\n"
        + "    queries:\n      error_rat: 'sum(x{t=\"{{ track }}\"})'\n"
    )
    assert cfg.analysis.prometheus is not None
    assert cfg.analysis.prometheus.queries["error_rat"].query == 'sum(x{t="{{ track }}"})'


@pytest.mark.parametrize(
    ("analysis", "expected"),
    [
        (
            "  prometheus:\n    address: http://p:9090\n    queries: {q: 'x{a=\"{{ ap }}\"}'}\n",
            "ci-deploy.yml:14:18: analysis.prometheus.queries.q: unknown variable ap in the"
            " template; a query may use {{ app }}, {{ color }}, {{ environment }},"
            " {{ namespace }}, {{ track }}, {{ window }}",
        ),
        (
            "  prometheus:\n    address: http://p:9090\n    token: abc\n",
            "ci-deploy.yml:14:5: analysis.prometheus.token: secrets are never written in the"
            " configuration: store the value as a CI secret and give the name of the environment"
            " variable holding it as 'bearer_token_env: NAME'",
        ),
        (
            "  prometheus:\n    address: http://p:9090\n    username_env: PROM_USER\n",
            "ci-deploy.yml:13:5: analysis.prometheus: username_env is set but password_env is"
            " not; basic auth needs both",
        ),
        (
            "  no_data: maybe\n",
            "ci-deploy.yml:12:12: analysis.no_data: expected one of inconclusive, fail, pass,"
            " found a string ('maybe')",
        ),
        (
            "  smoke:\n    - {name: health, http: 'http://x/', command: 'pytest'}\n",
            "ci-deploy.yml:13:7: analysis.smoke[0]: expected exactly one of 'http' or 'command',"
            " found both",
        ),
        (
            "  smoke:\n    - {name: health, http: {url: 'http://x/', status: 700}}\n",
            "ci-deploy.yml:13:55: analysis.smoke[0].http.status: expected an HTTP status code"
            " (100–599) or a list of them, found an integer (700)",
        ),
    ],
)
def test_analysis_mistakes(analysis: str, expected: str) -> None:
    fixed = HEAD.replace("error_rat:", "error_rate:")
    assert problems(fixed + "analysis:\n" + analysis) == [expected]


def test_the_full_shape_loads() -> None:
    cfg = load_config_text(
        HEAD.replace("error_rat:", "error_rate:")
        + """\
analysis:
  interval: 1s
  window: 30s
  failure_limit: 1
  error_limit: 2
  no_data: fail
  min_requests: 50
  prometheus:
    address: https://prometheus.example.com
    bearer_token_env: PROM_TOKEN
    headers_env: {X-Scope-OrgID: PROM_TENANT}
    ca_file: certs/ca.pem
    timeout: 5s
    retries: 1
    queries:
      error_rate: {no_data: pass}
  smoke:
    - name: health
      http: {url: "{{ url }}/health", status: [200, 204], body: ok, max_latency: 500ms}
    - name: tests
      command: {run: pytest tests/smoke, junit: report.xml, timeout: 2m}
"""
    )
    a = cfg.analysis
    assert (a.interval.seconds, a.window.seconds, a.failure_limit, a.error_limit) == (1, 30, 1, 2)
    assert (a.no_data, a.min_requests) == ("fail", 50)
    assert a.prometheus is not None
    assert a.prometheus.headers_env == {"X-Scope-OrgID": "PROM_TENANT"}
    assert a.prometheus.queries["error_rate"].query is None  # the built-in one
    assert a.prometheus.queries["error_rate"].no_data == "pass"
    assert [c.name for c in a.smoke] == ["health", "tests"]
    assert a.smoke[0].http is not None and a.smoke[0].http.status == (200, 204)
    assert a.smoke[1].command is not None and a.smoke[1].command.junit == "report.xml"
