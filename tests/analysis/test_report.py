"""The verdicts and measurements as people read them: the Mermaid charts of the job summary."""

from __future__ import annotations

from ci_deploy.analysis.report import SERIES_POINTS, chart_series, mermaid_charts
from ci_deploy.analysis.run import Point


def test_chart_series_adds_a_stage_and_keeps_the_last_points() -> None:
    history = [Point(0.0, {"error_rate": 0.0}), Point(1.0, {"error_rate": None})]
    series = chart_series(None, history, "initial", "canary", 20.0)
    assert series == [
        {
            "stage": "initial",
            "track": "canary",
            "at": 0.0,
            "weight": 20.0,
            "values": {"error_rate": 0.0},
        },
        {"stage": "initial", "track": "canary", "at": 1.0, "weight": 20.0, "values": {}},
    ]  # a round without a value keeps its place, without the gap
    many = [Point(float(i), {"error_rate": 1.0}) for i in range(SERIES_POINTS + 5)]
    longer = chart_series(series, many, "expanded", "canary", 50.0)
    assert len(longer) == SERIES_POINTS
    assert longer[-1]["at"] == SERIES_POINTS + 4  # the newest kept, the oldest dropped


def test_mermaid_charts_draw_the_weight_and_each_metric() -> None:
    series = chart_series(
        None,
        [Point(0.0, {"error_rate": 0.0}), Point(1.0, {"error_rate": 10.0})],
        "initial",
        "canary",
        20.0,
    )
    series = chart_series(series, [Point(0.5, {"error_rate": 12.5})], "expanded", "canary", 50.0)
    weight, errors = mermaid_charts(series)
    assert weight.splitlines() == [
        "```mermaid",
        "xychart-beta",
        '    title "canary weight"',
        '    x-axis ["initial 0s", "initial 1s", "expanded 0.5s"]',
        '    y-axis "percent"',
        "    line [20, 20, 50]",
        "```",
    ]
    assert '    title "error_rate (canary)"' in errors
    assert "    line [0, 10, 12.5]" in errors


def test_mermaid_charts_need_two_rounds_and_keep_names_plain() -> None:
    assert mermaid_charts(None) == []
    assert mermaid_charts(chart_series(None, [Point(0.0, {"x": 1.0})], "s", "canary", 5.0)) == []
    hostile = chart_series(
        None,
        [Point(0.0, {'x"]\n```': 1.0}), Point(1.0, {'x"]\n```': 2.0})],
        'st"age`',
        "canary",
        None,
    )
    charts = mermaid_charts(hostile)
    assert len(charts) == 1  # no weight: a blue-green or stable track's rounds
    body = charts[0].splitlines()[1:-1]
    assert not any("```" in line for line in body)
    assert '"stage 0s"' in charts[0] and '"x (canary)"' in charts[0]


def test_chart_x_labels_are_rounded_to_a_tenth_of_a_second() -> None:
    series = chart_series(
        None, [Point(0.007, {"m": 1.0}), Point(1.26, {"m": 2.0})], "initial", "canary", 20.0
    )
    assert '    x-axis ["initial 0s", "initial 1.3s"]' in mermaid_charts(series)[0]
