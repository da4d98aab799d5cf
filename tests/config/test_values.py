"""Durations, percentages, thresholds and quantities: accepted forms, canonical text, errors."""

from __future__ import annotations

import math

import pytest

from ci_deploy.config.values import (
    Duration,
    InvalidValue,
    Threshold,
    parse_duration,
    parse_percentage,
    parse_quantity,
    parse_threshold,
)


@pytest.mark.parametrize(
    ("text", "seconds", "canonical"),
    [
        ("90s", 90.0, "1m30s"),
        ("15m", 900.0, "15m"),
        ("2h", 7200.0, "2h"),
        ("1h30m", 5400.0, "1h30m"),
        ("500ms", 0.5, "500ms"),
        ("0s", 0.0, "0s"),
        ("1.5h", 5400.0, "1h30m"),
        ("1m500ms", 60.5, "1m500ms"),
    ],
)
def test_durations_parse_and_print_canonically(text: str, seconds: float, canonical: str) -> None:
    duration = parse_duration(text)
    assert duration.seconds == seconds
    assert duration.text == text
    assert duration.canonical == canonical
    assert parse_duration(canonical) == duration  # the canonical text round-trips


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("15 minutes", "expected a duration (a number with a unit: 500ms, 90s, 15m, 2h, 1h30m)"),
        ("-5m", "expected a duration that is not negative"),
        (15, "add a unit, e.g. '15s' or '15m'"),
        ("15", "add a unit, e.g. '15s' or '15m'"),
        ("", "found an empty string"),
        (True, "found a boolean (true)"),
        ("1d", "found a string ('1d')"),
        ("m15", "found a string ('m15')"),
    ],
)
def test_bad_durations_are_rejected_with_the_accepted_forms(value: object, fragment: str) -> None:
    with pytest.raises(InvalidValue) as info:
        parse_duration(value)
    assert fragment in info.value.message


@pytest.mark.parametrize(
    ("text", "op", "value", "unit", "canonical"),
    [
        ("< 0.1%", "<", 0.1, "%", "< 0.1%"),
        ("<= 500ms", "<=", 500.0, "ms", "<= 500ms"),
        ("> 90%", ">", 90.0, "%", "> 90%"),
        ("< 1s", "<", 1.0, "s", "< 1s"),
        ("< 1000", "<", 1000.0, "", "< 1000"),
        (">=5", ">=", 5.0, "", ">= 5"),
        ("  >   1000ms ", ">", 1000.0, "ms", "> 1000ms"),
    ],
)
def test_thresholds_parse(text: str, op: str, value: float, unit: str, canonical: str) -> None:
    threshold = parse_threshold(text)
    assert (threshold.op, threshold.value, threshold.unit) == (op, value, unit)
    assert threshold.canonical == canonical
    assert parse_threshold(canonical) == threshold


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("<< 0.1", "expected a threshold (an operator (<, <=, >, >=)"),
        (
            "0.1%",
            "operator (<, <=, >, >=), found a string ('0.1%'); write e.g. '< 0.1%'",
        ),
        ("< abc", "found a string ('< abc')"),
        (
            "> 101%",
            "expected a threshold with a percentage from 0 to 100, found a string ('> 101%')",
        ),
        ("< -1%", "expected a threshold with a percentage from 0 to 100"),
        ("< -1ms", "expected a threshold with a duration that is not negative"),
        ("= 5", "expected a threshold starting with an operator"),
        (0.1, "found a number (0.1)"),
    ],
)
def test_bad_thresholds_are_rejected(value: object, fragment: str) -> None:
    with pytest.raises(InvalidValue) as info:
        parse_threshold(value)
    assert fragment in info.value.message


def test_threshold_holds_compares_with_its_operator() -> None:
    assert parse_threshold("< 0.1%").holds(0.05)
    assert not parse_threshold("< 0.1%").holds(0.1)
    assert parse_threshold("<= 0.1%").holds(0.1)
    assert parse_threshold("> 90%").holds(95)
    assert not parse_threshold("> 90%").holds(90)
    assert parse_threshold(">= 90%").holds(90)
    # a missing measurement must never count as passing
    assert not parse_threshold("< 0.1%").holds(math.nan)
    assert not parse_threshold("> 0.1%").holds(math.nan)


def test_text_does_not_take_part_in_equality() -> None:
    assert Duration(90.0, "90s") == Duration(90.0, "1m30s")
    assert Threshold("<", 0.1, "%", "<0.1%") == Threshold("<", 0.1, "%", "< 0.1%")
    assert Threshold("<", 0.1, "%") != Threshold("<=", 0.1, "%")


@pytest.mark.parametrize(("value", "number"), [(5, 5.0), (12.5, 12.5), ("25%", 25.0), (100, 100.0)])
def test_percentages(value: object, number: float) -> None:
    assert parse_percentage(value) == number


@pytest.mark.parametrize("value", [101, -5, "150%", "half", True, None])
def test_bad_percentages(value: object) -> None:
    with pytest.raises(InvalidValue) as info:
        parse_percentage(value)
    assert info.value.message.startswith("expected a percentage from 0 to 100, found")


def test_zero_percent_can_be_refused() -> None:
    with pytest.raises(InvalidValue) as info:
        parse_percentage(0, allow_zero=False)
    assert (
        info.value.message == "expected a percentage above 0 and at most 100, found an integer (0)"
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("100m", "100m"),
        ("0.5", "0.5"),
        (1, "1"),
        (0.25, "0.25"),
        ("128Mi", "128Mi"),
        ("1G", "1G"),
        ("1e3", "1e3"),
    ],
)
def test_quantities(value: object, text: str) -> None:
    assert parse_quantity(value) == text


@pytest.mark.parametrize("value", ["lots", "-1Gi", "128MB", "1 Gi", True, -1, ""])
def test_bad_quantities(value: object) -> None:
    with pytest.raises(InvalidValue) as info:
        parse_quantity(value)
    assert info.value.message.startswith(
        "expected a Kubernetes quantity such as 250m, 0.5, 1, 128Mi, 1Gi, found"
    )
