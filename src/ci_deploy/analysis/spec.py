"""What a rollout judges with (``AnalysisSpec``): made from ``ci-deploy.yml`` when a rollout is
planned, kept in the rollout's recorded plan so a later ``promote`` judges exactly as the
``deploy`` that started it did, and turned into rendered rules for one stage and track.

Secrets are not in it: the Prometheus credentials are environment variable *names*.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ci_deploy.analysis.judge import Rule
from ci_deploy.analysis.providers.prometheus import PrometheusSettings
from ci_deploy.analysis.queries import REQUEST_COUNT, Metric, metric, promql_duration, render_query
from ci_deploy.analysis.smoke import smoke_from_dict, smoke_to_dict
from ci_deploy.config.model import AnalysisConfig, BlueGreenConfig, CanaryConfig, SmokeCheck
from ci_deploy.config.values import Threshold, parse_threshold
from ci_deploy.errors import UserInputError

Obj = dict[str, Any]
TRACKS = ("canary", "baseline", "stable")
COLORS = ("blue", "green")  # blue-green's: {{ color }} (and {{ track }}) in its queries


@dataclass(frozen=True)
class BaselineSpec:
    """Canary against baseline at a stage's end: each metric's two series over the window
    (one point per interval), Mann–Whitney U with a tolerance band (``analysis.mannwhitney``).
    Higher is worse for every metric compared (errors, latency, CPU, memory)."""

    metrics: tuple[str, ...]
    tolerance: float  # percent the canary's median may be worse than the baseline's
    alpha: float
    window_seconds: float

    def to_dict(self) -> Obj:
        return {
            "metrics": list(self.metrics),
            "tolerance": self.tolerance,
            "alpha": self.alpha,
            "windowSeconds": self.window_seconds,
        }

    @classmethod
    def from_dict(cls, doc: Obj) -> BaselineSpec:
        return cls(
            metrics=tuple(str(m) for m in doc.get("metrics") or []),
            tolerance=float(doc["tolerance"]),
            alpha=float(doc["alpha"]),
            window_seconds=float(doc["windowSeconds"]),
        )


@dataclass(frozen=True)
class AnalysisSpec:
    """A rollout's analysis parameters; ``rules`` renders them for a stage and a track."""

    prometheus: PrometheusSettings | None
    interval: float
    window: str  # the PromQL range of {{ window }}
    failure_limit: int
    error_limit: int
    min_requests: int
    variables: Mapping[str, str] = field(default_factory=dict)  # app, namespace, environment
    metrics: Mapping[str, Metric] = field(default_factory=dict)
    criteria: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    triggers: tuple[tuple[str, str], ...] = ()  # (metric, threshold) of rollback_triggers
    smoke: tuple[SmokeCheck, ...] = ()  # analysis.smoke: before traffic reaches the version
    root: str = "."  # the repository: where smoke commands run
    baseline: BaselineSpec | None = None  # canary.baseline and analysis.baseline both on

    def track_query(self, name: str, track: str) -> str:
        """Metric ``name``'s query rendered for ``track`` (the baseline comparison's series)."""
        return render_query(self.metrics[name], self._vars(track))

    @property
    def judges_metrics(self) -> bool:
        return bool(self.triggers or any(self.criteria.values()))

    def rules(self, stage: str | None, track: str, color: str = "") -> tuple[Rule, ...]:
        """The stage's success criteria (none for ``stage`` None) and every trigger, rendered
        for ``track`` (on blue-green ``track`` and ``color`` are both the colour judged)."""
        found = [
            self._rule(name, text, track, color, trigger=False)
            for name, text in self.criteria.get(stage or "", ())
        ]
        found += [
            self._rule(name, text, track, color, trigger=True) for name, text in self.triggers
        ]
        return tuple(found)

    def request_query(self, track: str, color: str = "") -> str | None:
        """The request count behind ``min_requests`` for ``track`` (None: no guard)."""
        if self.min_requests <= 0:
            return None
        return render_query(self.metrics[REQUEST_COUNT], self._vars(track, color))

    def _vars(self, track: str, color: str = "") -> dict[str, str]:
        return {
            **self.variables,
            "track": track,
            "color": color,
            "window": self.window,
        }

    def _rule(self, name: str, threshold: str, track: str, color: str, *, trigger: bool) -> Rule:
        m = self.metrics[name]
        return Rule(
            metric=name,
            threshold=parse_threshold(threshold),
            query=render_query(m, self._vars(track, color)),
            unit=m.unit,
            no_data=m.no_data,
            track=track,
            trigger=trigger,
        )

    def to_dict(self) -> Obj:
        return {
            "prometheus": self.prometheus.to_dict() if self.prometheus else None,
            "interval": self.interval,
            "window": self.window,
            "failureLimit": self.failure_limit,
            "errorLimit": self.error_limit,
            "minRequests": self.min_requests,
            "variables": dict(self.variables),
            "metrics": {
                n: {"template": m.template, "unit": m.unit, "noData": m.no_data}
                for n, m in self.metrics.items()
            },
            "criteria": {s: [list(r) for r in rules] for s, rules in self.criteria.items()},
            "triggers": [list(t) for t in self.triggers],
            "smoke": [smoke_to_dict(c) for c in self.smoke],
            "root": self.root,
            "baseline": self.baseline.to_dict() if self.baseline else None,
        }

    @classmethod
    def from_dict(cls, doc: Obj) -> AnalysisSpec:
        prometheus = doc.get("prometheus")
        return cls(
            prometheus=PrometheusSettings.from_dict(prometheus) if prometheus else None,
            interval=float(doc["interval"]),
            window=str(doc["window"]),
            failure_limit=int(doc["failureLimit"]),
            error_limit=int(doc["errorLimit"]),
            min_requests=int(doc["minRequests"]),
            variables={str(k): str(v) for k, v in (doc.get("variables") or {}).items()},
            metrics={
                str(n): Metric(str(n), str(m["template"]), str(m["unit"]), str(m["noData"]))
                for n, m in (doc.get("metrics") or {}).items()
            },
            criteria={
                str(s): tuple((str(a), str(b)) for a, b in rules)
                for s, rules in (doc.get("criteria") or {}).items()
            },
            triggers=tuple((str(a), str(b)) for a, b in doc.get("triggers") or []),
            smoke=tuple(smoke_from_dict(c) for c in doc.get("smoke") or []),
            root=str(doc.get("root", ".")),
            baseline=BaselineSpec.from_dict(doc["baseline"]) if doc.get("baseline") else None,
        )


def analysis_for(
    analysis: AnalysisConfig,
    canary: CanaryConfig | None,
    *,
    app: str,
    namespace: str,
    environment: str,
    root: str = ".",
    url: str | None = None,
    env: Mapping[str, str] | None = None,
    blue_green: BlueGreenConfig | None = None,
) -> AnalysisSpec | None:
    """The analysis of a rollout of ``app`` in ``environment`` (None: nothing to judge): a
    canary's stages and triggers (``canary``), or blue-green's triggers (``blue_green``).

    UserInputError (exit 2, nothing touched) when rules name metrics but there is no
    Prometheus to ask, or a query does not render.
    """
    environ = os.environ if env is None else env
    variables = {"app": app, "namespace": namespace, "environment": environment}
    if url:
        variables["url"] = url.rstrip("/")  # smoke-check URLs ({{ url }}), not queries
    criteria: dict[str, tuple[tuple[str, str], ...]] = {}
    triggers: tuple[tuple[str, str], ...] = ()
    thresholds: dict[str, Threshold] = {}
    if canary is not None:
        for stage in canary.stages:
            criteria[stage.name] = tuple(
                (name, t.canonical) for name, t in stage.success_criteria.items()
            )
            thresholds.update(stage.success_criteria)
    block = canary if canary is not None else blue_green
    if block is not None:
        triggers = tuple(
            (t.metric, t.threshold.canonical)
            for t in block.rollback_triggers
            if t.threshold is not None and not t.manual
        )
        thresholds.update(
            {t.metric: t.threshold for t in block.rollback_triggers if t.threshold is not None}
        )
    compared = analysis.baseline if canary is not None and canary.baseline else None
    if compared is not None and not compared.metrics:
        compared = None
    if not thresholds and not analysis.smoke and compared is None:
        return None
    settings = analysis.prometheus
    if settings is None and not thresholds and compared is None:
        return AnalysisSpec(
            prometheus=None,
            interval=analysis.interval.seconds,
            window=promql_duration(analysis.window.seconds),
            failure_limit=analysis.failure_limit,
            error_limit=analysis.error_limit,
            min_requests=0,
            variables=variables,
            smoke=analysis.smoke,
            root=root,
        )
    if settings is None:
        names = ", ".join(sorted({*thresholds, *(compared.metrics if compared else ())}))
        raise UserInputError(
            f"the {'canary' if canary is not None else 'blue-green switch'} judges {names}"
            " (success_criteria, rollback_triggers), but ci-deploy.yml"
            " has no analysis.prometheus to measure them with",
            hint="add analysis: {prometheus: {address: http://prometheus:9090}}"
            " (docs/analysis.md), or remove the metric rules",
        )
    address = settings.address
    if settings.address_env and environ.get(settings.address_env):
        address = environ[settings.address_env]
    needed = set(thresholds) | ({REQUEST_COUNT} if analysis.min_requests > 0 else set())
    needed |= set(compared.metrics) if compared is not None else set()
    metrics = {
        name: metric(name, settings.queries.get(name), thresholds.get(name), analysis.no_data)
        for name in sorted(needed)
    }
    spec = AnalysisSpec(
        prometheus=PrometheusSettings(
            address=address,
            bearer_token_env=settings.bearer_token_env,
            username_env=settings.username_env,
            password_env=settings.password_env,
            headers_env=dict(settings.headers_env),
            ca_file=settings.ca_file,
            insecure=settings.insecure_skip_tls_verify,
            timeout=settings.timeout.seconds,
            retries=settings.retries,
        ),
        interval=analysis.interval.seconds,
        window=promql_duration(analysis.window.seconds),
        failure_limit=analysis.failure_limit,
        error_limit=analysis.error_limit,
        min_requests=analysis.min_requests,
        variables=variables,
        metrics=metrics,
        criteria=criteria,
        triggers=triggers,
        smoke=analysis.smoke,
        root=root,
        baseline=BaselineSpec(
            metrics=compared.metrics,
            tolerance=compared.tolerance,
            alpha=compared.alpha,
            window_seconds=analysis.window.seconds,
        )
        if compared is not None
        else None,
    )
    try:
        # every query renders, for every track and colour, or the deploy stops before it starts
        for track, color in [*((t, "") for t in TRACKS), *((c, c) for c in COLORS)]:
            for name in [None, *criteria]:
                spec.rules(name, track, color)
            spec.request_query(track, color)
    except ValueError as exc:
        raise UserInputError(str(exc), hint="fix the query template in ci-deploy.yml") from None
    return spec
