"""The judges: a measurement against a rule, the no-data policy, the limits in a row."""

from __future__ import annotations

import pytest

from ci_deploy.analysis.judge import Rule, Watcher, judge, overall
from ci_deploy.analysis.model import Measurement
from ci_deploy.analysis.queries import in_rule_unit, promql_duration, value_text
from ci_deploy.config.values import parse_threshold


def rule(
    text: str, *, unit: str = "percent", trigger: bool = False, no_data: str = "inconclusive"
) -> Rule:
    return Rule(
        metric="error_rate",
        threshold=parse_threshold(text),
        query='sum(rate(x{track="canary"}[1m]))',
        unit=unit,
        no_data=no_data,
        trigger=trigger,
    )


def test_a_criterion_passes_when_it_holds_and_fails_when_not_saying_both_numbers() -> None:
    good = judge(rule("< 0.1%"), Measurement(0.05, samples=1))
    bad = judge(rule("< 0.1%"), Measurement(0.34, samples=1))
    assert (good.result, good.observed, good.rule) == ("pass", "0.05%", "< 0.1%")
    assert (bad.result, bad.reason) == ("fail", "0.34% is not < 0.1%")
    assert bad.query == 'sum(rate(x{track="canary"}[1m]))' and bad.samples == 1


def test_a_trigger_fails_when_it_holds() -> None:
    breached = judge(rule("> 0.5%", trigger=True), Measurement(10.0, samples=1))
    quiet = judge(rule("> 0.5%", trigger=True), Measurement(0.2, samples=1))
    assert (breached.result, breached.rule, breached.reason) == (
        "fail",
        "not > 0.5%",
        "10% is > 0.5%",
    )
    assert quiet.result == "pass"


@pytest.mark.parametrize(
    ("value", "unit", "threshold", "compared", "shown"),
    [
        (0.8, "seconds", "< 500ms", 800.0, "800ms"),  # the p95 histogram is in seconds
        (812.0, "milliseconds", "< 500ms", 812.0, "812ms"),
        (0.0034, "ratio", "< 0.1%", 0.34, "0.34%"),
        (1500.0, "milliseconds", "< 2s", 1.5, "1.5s"),
        (42.0, "number", "< 100", 42.0, "42"),
    ],
)
def test_values_are_compared_in_the_rules_unit(
    value: float, unit: str, threshold: str, compared: float, shown: str
) -> None:
    t = parse_threshold(threshold)
    assert in_rule_unit(value, unit, t) == pytest.approx(compared)
    assert judge(rule(threshold, unit=unit), Measurement(value, samples=1)).observed == shown


@pytest.mark.parametrize(
    ("policy", "result", "reason_end"),
    [
        ("inconclusive", "inconclusive", "no_data: inconclusive"),
        ("fail", "fail", "no_data: fail"),
        ("pass", "pass", "passed by no_data: pass"),
    ],
)
def test_no_data_and_no_answer_follow_the_policy_and_never_pass_silently(
    policy: str, result: str, reason_end: str
) -> None:
    empty = judge(rule("< 1%", no_data=policy), Measurement(None, detail=("empty result",)))
    down = judge(
        rule("< 1%", no_data=policy),
        Measurement(None, error="Prometheus at http://p:9090: cannot connect: connection refused"),
    )
    assert (empty.result, empty.observed) == (result, "no data")
    assert empty.reason == f"empty result; {reason_end}"
    assert down.result == result
    assert down.observed.startswith("error: Prometheus at http://p:9090: cannot connect")
    assert down.reason.endswith(reason_end)


def test_nan_and_infinity() -> None:
    assert judge(rule("< 1%"), Measurement(None, detail=("NaN",))).result == "inconclusive"
    inf = judge(rule("< 500ms", unit="seconds"), Measurement(float("inf"), samples=1))
    assert (inf.result, inf.observed) == ("fail", "+Inf")


def test_too_little_traffic_is_no_verdict() -> None:
    v = judge(rule("< 1%"), Measurement(0.0, samples=1), too_little="canary served 3 requests")
    assert (v.result, v.observed, v.reason) == (
        "inconclusive",
        "too little traffic",
        "canary served 3 requests",
    )


def test_overall() -> None:
    p = judge(rule("< 1%"), Measurement(0.0, samples=1))
    f = judge(rule("< 1%"), Measurement(5.0, samples=1))
    i = judge(rule("< 1%"), Measurement(None))
    assert overall([p, i, f]) == "fail"
    assert overall([p, i]) == "inconclusive"
    assert overall([p]) == "pass"


def test_the_first_breach_trips_by_default() -> None:
    watcher, r = Watcher(), rule("> 0.5%", trigger=True)
    m = Measurement(1.0, samples=1)
    assert watcher.observe(r, judge(r, m), measured=m) is not None


def test_failure_limit_counts_breaches_in_a_row_and_a_good_value_resets_it() -> None:
    watcher, r = Watcher(failure_limit=2), rule("> 0.5%", trigger=True)
    bad, good = Measurement(1.0, samples=1), Measurement(0.1, samples=1)

    def step(m: Measurement) -> bool:
        return watcher.observe(r, judge(r, m), measured=m) is not None

    assert [step(bad), step(bad), step(good), step(bad), step(bad)] == [False] * 5
    tripped = watcher.observe(r, judge(r, bad), measured=bad)
    assert tripped is not None and tripped.reason.endswith("(breached 3 times in a row)")


def test_error_limit_applies_the_policy_after_that_many_without_a_value() -> None:
    r = rule("> 0.5%", trigger=True)
    down = Measurement(None, error="cannot connect")
    watcher = Watcher(error_limit=3)
    seen = [watcher.observe(r, judge(r, down), measured=down) for _ in range(3)]
    assert seen[:2] == [None, None]
    assert seen[2] is not None and seen[2].result == "inconclusive"
    assert seen[2].reason.endswith("(3 measurements in a row without a value)")
    passing = rule("> 0.5%", trigger=True, no_data="pass")
    lenient = Watcher(error_limit=1)
    assert lenient.observe(passing, judge(passing, down), measured=down) is None


def test_too_little_traffic_does_not_count_towards_any_limit() -> None:
    r, m = rule("> 0.5%", trigger=True), Measurement(9.0, samples=1)
    watcher = Watcher(error_limit=1)
    assert watcher.observe(r, judge(r, m, too_little="few"), measured=m) is None


@pytest.mark.parametrize(
    ("seconds", "text"), [(60, "1m"), (90, "90s"), (1.5, "1500ms"), (0.0001, "1ms"), (600, "10m")]
)
def test_promql_durations(seconds: float, text: str) -> None:
    assert promql_duration(seconds) == text


def test_value_text() -> None:
    assert value_text(float("nan"), "%") == "NaN"
    assert value_text(0.123456, "%") == "0.1235%"
    assert value_text(812.345, "ms") == "812.35ms"
