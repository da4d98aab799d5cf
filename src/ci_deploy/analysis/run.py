"""A stage's analysis while it runs: triggers every ``interval``, everything at its end.

``tick`` measures the rollback triggers (and the traffic guard) once and returns the verdict
that ends the stage, if one trips (``judge.Watcher`` says when); ``conclude`` judges the
stage's success criteria and the triggers once more at its end. Both keep the verdicts for
the record and the job summary, and a short history (time, values) for the chart.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ci_deploy.analysis.judge import Rule, Watcher, judge, overall
from ci_deploy.analysis.model import Measurement, Result, Verdict
from ci_deploy.analysis.providers.prometheus import PrometheusProvider, PromQuery
from ci_deploy.analysis.spec import AnalysisSpec

HISTORY_POINTS = 60  # kept for the chart: the last minute at 1 s, ten at 10 s


@dataclass
class Point:
    """One measurement round: when (seconds since the stage began) and each metric's value."""

    at: float
    values: dict[str, float | None] = field(default_factory=dict)


class StageAnalysis:
    """The analysis of one stage of one track (``stage`` None: the triggers only), or of one
    blue-green colour (``color``; then ``track`` is the colour too)."""

    def __init__(
        self,
        spec: AnalysisSpec,
        stage: str | None,
        track: str,
        *,
        provider: PrometheusProvider | None = None,
        clock: Callable[[], float] = time.monotonic,
        baseline: bool = False,
        wall: Callable[[], float] = time.time,
        color: str = "",
    ) -> None:
        assert spec.prometheus is not None, "a spec that judges metrics has a Prometheus"
        self.spec = spec
        self.rules = spec.rules(stage, track, color)
        self.triggers = tuple(r for r in self.rules if r.trigger)
        self.track = track
        self.provider = provider or PrometheusProvider(spec.prometheus)
        self.watcher = Watcher(spec.failure_limit, spec.error_limit)
        self.verdicts: tuple[Verdict, ...] = ()
        self.history: list[Point] = []
        self._clock = clock
        self._began = clock()
        self._request_query = spec.request_query(track, color)
        self.measurements = 0
        # a baseline runs beside the canary in this stage: compare the two at its end
        self.compare = spec.baseline if baseline and track == "canary" else None
        self._wall = wall

    def close(self) -> None:
        self.provider.close()

    def tick(self) -> Verdict | None:
        """Measure the triggers once; the verdict that rolls back now, or None."""
        too_little = self._traffic_guard()
        point = Point(round(self._clock() - self._began, 3))
        verdicts: list[Verdict] = []
        tripped: Verdict | None = None
        for rule in self.triggers:
            measured = self._measure(rule)
            verdict = judge(rule, measured, too_little=too_little)
            point.values[rule.metric] = verdict.value
            verdicts.append(verdict)
            trip = self.watcher.observe(rule, verdict, measured=measured)
            if trip is not None and tripped is None:
                tripped = trip
        self._remember(point, verdicts)
        return tripped

    def conclude(self) -> tuple[Result, tuple[Verdict, ...]]:
        """Judge every rule once (the stage's end): the overall result and the verdicts."""
        too_little = self._traffic_guard()
        point = Point(round(self._clock() - self._began, 3))
        verdicts = []
        for rule in self.rules:
            verdict = judge(rule, self._measure(rule), too_little=too_little)
            point.values[rule.metric] = verdict.value
            verdicts.append(verdict)
        if self.compare is not None:
            verdicts += [self._against_baseline(name) for name in self.compare.metrics]
        self._remember(point, verdicts)
        return overall(verdicts), self.verdicts

    def _against_baseline(self, name: str) -> Verdict:
        """Metric ``name``: the canary's series against the baseline's over the window."""
        from ci_deploy.analysis.mannwhitney import compare

        assert self.compare is not None
        settings = self.compare
        end = self._wall()
        start = end - settings.window_seconds
        query = self.spec.track_query(name, "canary")
        canary, error = self.provider.series(query, start, end, self.spec.interval)
        if not error:
            base_query = self.spec.track_query(name, "baseline")
            baseline, error = self.provider.series(base_query, start, end, self.spec.interval)
        rule = (
            f"not worse than the baseline beyond +{settings.tolerance:g}% (p < {settings.alpha:g})"
        )
        check = f"{name} (canary vs baseline)"
        if error:
            return Verdict(check, query, f"error: {error}", rule, "inconclusive", reason=error)
        self.measurements += 2
        result = compare(
            [v for _, v in canary],
            [v for _, v in baseline],
            tolerance=settings.tolerance / 100,
            alpha=settings.alpha,
        )
        effect = ""
        if result.test is not None:
            share = result.test.common_language_effect_size
            effect = f", effect size {share:.2f} (the canary higher in {share:.0%} of pairs)"
        observed = (
            "no data"
            if result.canary_median is None or result.baseline_median is None
            else f"median {result.canary_median:.4g} vs {result.baseline_median:.4g}"
        )
        return Verdict(
            check,
            query,
            observed,
            rule,
            result.result,
            samples=min(len(canary), len(baseline)),
            reason=f"{result.reason}{effect}",
            value=result.canary_median,
        )

    def _measure(self, rule: Rule) -> Measurement:
        self.measurements += 1
        return self.provider.measure(PromQuery(rule.query))

    def _traffic_guard(self) -> str:
        """Why there is no verdict yet ("" when the track has served enough requests)."""
        if self._request_query is None:
            return ""
        measured = self.provider.measure(PromQuery(self._request_query))
        if measured.error:
            # Not "too little traffic": nobody knows. The rules' own measurements say why
            # (they meet the same error) and their no_data policy applies.
            return ""
        served = measured.value if measured.usable else None
        if served is not None and served >= self.spec.min_requests:
            return ""
        seen = "no requests (no data)" if served is None else f"{served:.0f} requests"
        return (
            f"{self.track} served {seen} in the last {self.spec.window}, fewer than"
            f" min_requests {self.spec.min_requests}: no verdict"
        )

    def _remember(self, point: Point, verdicts: list[Verdict]) -> None:
        self.verdicts = tuple(verdicts)
        self.history.append(point)
        del self.history[:-HISTORY_POINTS]
