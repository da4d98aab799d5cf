"""Judging: a measurement against a rule, the no-data policy, and the limits of a running
analysis (failures and errors in a row).

The rules, exactly (docs/analysis.md):

- A **value** that satisfies the rule passes; one that does not fails. A success criterion
  (``error_rate: < 0.1%``) is satisfied when it holds; a rollback trigger (``error_rate:
  > 0.5%``) is *breached* when it holds.
- **No data** (an empty result, NaN) and **no answer** (Prometheus unreachable, a bad query)
  are neither: the metric's ``no_data`` policy decides — ``fail``, ``pass`` (said so in the
  verdict), or ``inconclusive`` (the default: the rollout pauses for a human).
- **Too little traffic** (``min_requests``): no verdict yet; at a stage's end, inconclusive.
- During a stage, triggers are measured every ``interval``. A trigger breached on
  ``failure_limit + 1`` measurements in a row rolls back (default 0: the first breach).
  Measurements with no value do not count as breaches, but ``error_limit`` of them in a row
  (default 3) apply the no-data policy: a Prometheus that stops answering never passes
  silently. A good measurement resets both counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ci_deploy.analysis.model import Measurement, Result, Verdict
from ci_deploy.analysis.queries import in_rule_unit, value_text
from ci_deploy.config.values import Threshold, parse_threshold

Obj = dict[str, Any]


@dataclass(frozen=True)
class Rule:
    """One metric rule, rendered for one track: what to query and what must (not) hold."""

    metric: str
    threshold: Threshold
    query: str  # the PromQL, rendered
    unit: str  # of the query's value
    no_data: str  # fail | pass | inconclusive
    track: str = "canary"
    trigger: bool = False  # a rollback trigger (breached when it holds), not a criterion

    @property
    def label(self) -> str:
        return f"{self.metric} ({self.track})"

    @property
    def rule_text(self) -> str:
        """``< 0.1%`` for a criterion; ``not > 0.5%`` for a trigger (what must be true)."""
        return f"not {self.threshold.canonical}" if self.trigger else self.threshold.canonical

    def to_dict(self) -> Obj:
        return {
            "metric": self.metric,
            "threshold": self.threshold.canonical,
            "query": self.query,
            "unit": self.unit,
            "noData": self.no_data,
            "track": self.track,
            "trigger": self.trigger,
        }

    @classmethod
    def from_dict(cls, doc: Obj) -> Rule:
        return cls(
            metric=str(doc["metric"]),
            threshold=parse_threshold(str(doc["threshold"])),
            query=str(doc["query"]),
            unit=str(doc["unit"]),
            no_data=str(doc["noData"]),
            track=str(doc.get("track", "canary")),
            trigger=bool(doc.get("trigger", False)),
        )


def judge(rule: Rule, measured: Measurement, *, too_little: str = "") -> Verdict:
    """The verdict on one measurement of ``rule`` (``too_little``: the traffic guard's why)."""
    if too_little:
        return _verdict(rule, measured, "inconclusive", "too little traffic", too_little)
    if not measured.usable:
        observed = f"error: {measured.error}" if measured.error else "no data"
        why = measured.error or ", ".join(measured.detail) or "no data"
        if rule.no_data == "fail":
            return _verdict(rule, measured, "fail", observed, f"{why}; no_data: fail")
        if rule.no_data == "pass":
            return _verdict(rule, measured, "pass", observed, f"{why}; passed by no_data: pass")
        return _verdict(rule, measured, "inconclusive", observed, f"{why}; no_data: inconclusive")
    assert measured.value is not None
    value = in_rule_unit(measured.value, rule.unit, rule.threshold)
    observed = value_text(value, rule.threshold.unit)
    holds = rule.threshold.holds(value)
    rule_is = rule.threshold.canonical
    good = not holds if rule.trigger else holds
    reason = f"{observed} is {'' if holds else 'not '}{rule_is}"
    return _verdict(rule, measured, "pass" if good else "fail", observed, reason, value)


def _verdict(
    rule: Rule,
    measured: Measurement,
    result: Result,
    observed: str,
    reason: str,
    value: float | None = None,
) -> Verdict:
    return Verdict(
        check=rule.label,
        query=rule.query,
        observed=observed,
        rule=rule.rule_text,
        result=result,
        samples=measured.samples,
        reason=reason,
        value=value,
        detail=measured.detail,
    )


def overall(verdicts: Iterable[Verdict]) -> Result:
    """fail if any failed, else inconclusive if any was, else pass (an empty list passes)."""
    results = {v.result for v in verdicts}
    if "fail" in results:
        return "fail"
    if "inconclusive" in results:
        return "inconclusive"
    return "pass"


@dataclass
class Streak:
    """A rule's measurements in a row during a stage: breaches and values missing."""

    failures: int = 0
    errors: int = 0


@dataclass
class Watcher:
    """The limits of a running analysis: which measurement trips, and when."""

    failure_limit: int = 0
    error_limit: int = 3
    streaks: dict[str, Streak] = field(default_factory=dict)

    def observe(self, rule: Rule, verdict: Verdict, *, measured: Measurement) -> Verdict | None:
        """The verdict that ends the stage now (a trip), or None to keep watching."""
        streak = self.streaks.setdefault(rule.label, Streak())
        if verdict.observed == "too little traffic":
            return None  # no verdict yet; the traffic guard speaks at the stage's end
        if not measured.usable:
            streak.errors += 1
            if streak.errors >= max(1, self.error_limit) and verdict.result != "pass":
                return _annotated(verdict, f"{streak.errors} measurements in a row without a value")
            return None
        streak.errors = 0
        if verdict.result == "fail":
            streak.failures += 1
            if streak.failures > self.failure_limit:
                if self.failure_limit == 0:
                    return verdict
                return _annotated(verdict, f"breached {streak.failures} times in a row")
            return None
        streak.failures = 0
        return None


def _annotated(verdict: Verdict, why: str) -> Verdict:
    return Verdict(
        check=verdict.check,
        query=verdict.query,
        observed=verdict.observed,
        rule=verdict.rule,
        result=verdict.result,
        samples=verdict.samples,
        reason=f"{verdict.reason} ({why})",
        value=verdict.value,
        detail=verdict.detail,
    )
