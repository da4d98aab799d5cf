"""The built-in metrics (the seed's four, and the request count behind ``min_requests``),
their units, and how a query template becomes the PromQL sent for one track.

The defaults follow the common conventions: ``http_requests_total{code}`` and the
``http_request_duration_seconds`` histogram from the app (prometheus_client and most
frameworks), cAdvisor's ``container_*`` series and kube-state-metrics' resource limits and
pod labels for CPU and memory. The app's series are expected to carry ``namespace``, ``app``
and ``track`` labels — what the scrape configuration in docs/analysis.md makes of the pod
labels ``app`` and ``ci-deploy.dev/track``; on blue-green (``{{ color }}`` set) they select
the ``color`` label (from ``ci-deploy.dev/color``) instead. Every one of them is overridable.

Two traps are designed out here: the error ratio's numerator falls back to 0 (``or
vector(0)``) so a version with traffic and no 5xx yet reads 0 %, not "no data"; and the
p95 is a real quantile over the histogram's buckets, never a mean.
"""

from __future__ import annotations

from dataclasses import dataclass

from ci_deploy.config.model import MetricQuery
from ci_deploy.config.values import Threshold, format_number
from ci_deploy.render.jinja import StringTemplateError, render_string

# Which pods: a track's on a canary, a colour's on blue-green (``{{ color }}`` set).
_APP = (
    'namespace="{{ namespace }}", app="{{ app }}", '
    '{% if color %}color="{{ color }}"{% else %}track="{{ track }}"{% endif %}'
)
_POD = (
    'namespace="{{ namespace }}", label_app="{{ app }}", {% if color %}'
    'label_ci_deploy_dev_color="{{ color }}"{% else %}label_ci_deploy_dev_track="{{ track }}"'
    "{% endif %}"
)
_PODS = f"on (namespace, pod) group_left () max by (namespace, pod) (kube_pod_labels{{{_POD}}})"


def _usage(series: str, resource: str) -> str:
    return (
        f'100 * sum(rate({series}{{namespace="{{{{ namespace }}}}", container!="",'
        f' container!="POD"}}[{{{{ window }}}}]) * {_PODS})'
        f' / sum(kube_pod_container_resource_limits{{namespace="{{{{ namespace }}}}",'
        f' resource="{resource}"}} * {_PODS})'
    )


def _memory() -> str:
    return (
        '100 * sum(container_memory_working_set_bytes{namespace="{{ namespace }}",'
        f' container!="", container!="POD"}} * {_PODS})'
        ' / sum(kube_pod_container_resource_limits{namespace="{{ namespace }}",'
        f' resource="memory"}} * {_PODS})'
    )


BUILTIN: dict[str, tuple[str, str]] = {
    "error_rate": (
        f'100 * (sum(rate(http_requests_total{{{_APP}, code=~"5.."}}[{{{{ window }}}}]))'
        " or vector(0))"
        f" / sum(rate(http_requests_total{{{_APP}}}[{{{{ window }}}}]))",
        "percent",
    ),
    "response_time_p95": (
        "histogram_quantile(0.95, sum by (le) ("
        f"rate(http_request_duration_seconds_bucket{{{_APP}}}[{{{{ window }}}}])))",
        "seconds",
    ),
    "cpu_usage": (_usage("container_cpu_usage_seconds_total", "cpu"), "percent"),
    "memory_usage": (_memory(), "percent"),
    "request_count": (f"sum(increase(http_requests_total{{{_APP}}}[{{{{ window }}}}]))", "number"),
}
REQUEST_COUNT = "request_count"


@dataclass(frozen=True)
class Metric:
    """A metric ready to query: its template, the unit of its value, its no-data policy."""

    name: str
    template: str
    unit: str  # percent | ratio | seconds | milliseconds | number
    no_data: str


def metric(
    name: str,
    configured: MetricQuery | None,
    rule: Threshold | None,
    default_policy: str,
) -> Metric:
    """The metric ``name`` as configured over its built-in defaults.

    Raises KeyError for a name with neither (the configuration loader refuses those first).
    """
    builtin = BUILTIN.get(name)
    template = configured.query if configured is not None and configured.query else None
    if template is None:
        if builtin is None:
            raise KeyError(name)
        template = builtin[0]
    unit = configured.unit if configured is not None and configured.unit else None
    if unit is None:
        if builtin is not None and template == builtin[0]:
            unit = builtin[1]
        elif rule is not None and rule.unit == "%":
            unit = "percent"
        elif rule is not None and rule.unit in ("ms", "s"):
            unit = "seconds"
        else:
            unit = "number"
    policy = configured.no_data if configured is not None and configured.no_data else None
    return Metric(name, template, unit, policy or default_policy)


def promql_duration(seconds: float) -> str:
    """A PromQL range: ``1m``, ``90s``, ``1500ms``."""
    ms = max(1, round(seconds * 1000))
    if ms % 60000 == 0:
        return f"{ms // 60000}m"
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    return f"{ms}ms"


def render_query(metric: Metric, variables: dict[str, str]) -> str:
    """The PromQL for one track or colour; ValueError naming the metric when the template fails."""
    try:
        return render_string(metric.template, variables).strip()
    except StringTemplateError as exc:
        raise ValueError(f"analysis.prometheus.queries.{metric.name}: {exc}") from None


def in_rule_unit(value: float, unit: str, rule: Threshold) -> float:
    """``value`` (in the query's ``unit``) converted to the unit the rule is written in."""
    if rule.unit == "%":
        return value * 100 if unit == "ratio" else value
    if rule.unit == "ms":
        return value * 1000 if unit == "seconds" else value
    if rule.unit == "s":
        return value / 1000 if unit == "milliseconds" else value
    return value


def value_text(value: float, rule_unit: str) -> str:
    """A value as people read it beside its rule: ``0.34%``, ``812ms``, ``1.2s``, ``42``."""
    if value != value:  # NaN
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    shown = format_number(round(value, 4 if abs(value) < 1 else 2))
    return f"{shown}{rule_unit}"
