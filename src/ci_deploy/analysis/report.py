"""Verdicts as people read them: log lines, a one-line summary, a Markdown table, a text block.

Everything that came from outside (rendered queries hold user text; values and errors come
from Prometheus) goes through ``one_line`` and, in Markdown, ``markdown_code``: a verdict is
data, never a workflow command or markup.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ci_deploy.analysis.model import Verdict
from ci_deploy.text import markdown_code, one_line

if TYPE_CHECKING:
    from ci_deploy.analysis.run import Point

MARK = {"pass": "✓", "fail": "✗", "inconclusive": "?"}
RECORDED_VERDICTS = 12  # verdicts kept in the state record
RECORDED_QUERY = 400  # characters of a query kept there
SERIES_POINTS = 40  # measurement rounds kept in the record for the chart (the last ones)
CHARTED_METRICS = 4  # charts in a job summary at most


def verdict_lines(verdicts: Iterable[Verdict]) -> list[str]:
    """Two lines per verdict: the result and why, then the query it rests on."""
    lines: list[str] = []
    for v in verdicts:
        lines.append(
            one_line(
                f"  {MARK[v.result]} {v.check}: {v.result} — {v.observed}, rule {v.rule},"
                f" {v.samples} sample{'s' if v.samples != 1 else ''}: {v.reason}"
            )
        )
        lines.append(one_line(f"      query: {v.query}"))
        lines.extend(one_line(f"      {d}") for d in v.detail[:5])
    return lines


def summary(subject: str, result: str, verdicts: Sequence[Verdict]) -> str:
    """``stage initial: fail — error_rate (canary) 10% (rule < 0.1%)``: the failing ones first."""
    ordered = sorted(verdicts, key=lambda v: {"fail": 0, "inconclusive": 1, "pass": 2}[v.result])
    parts = [f"{v.check} {v.observed} (rule {v.rule})" for v in ordered[:3]]
    more = f", +{len(ordered) - 3} more" if len(ordered) > 3 else ""
    return one_line(f"{subject}: {result} — {', '.join(parts)}{more}")[:300]


def recorded(verdicts: Sequence[Verdict]) -> list[dict[str, Any]]:
    """The verdicts for the state record: capped in number and query length."""
    out = []
    for v in verdicts[:RECORDED_VERDICTS]:
        doc = v.to_dict()
        doc["query"] = one_line(v.query)[:RECORDED_QUERY]
        out.append(doc)
    return out


def markdown_table(verdicts: Iterable[dict[str, Any]]) -> str:
    """The verdicts (as recorded) as a Markdown table for the GitHub job summary."""
    rows = [
        "| | check | observed | rule | samples | why | query |",
        "|---|---|---|---|---|---|---|",
    ]
    for v in verdicts:
        result = str(v.get("result", ""))
        rows.append(
            f"| {MARK.get(result, '')} {result} | {markdown_code(str(v.get('check', '')))}"
            f" | {markdown_code(str(v.get('observed', '')))}"
            f" | {markdown_code(str(v.get('rule', '')))} | {int(v.get('samples') or 0)}"
            f" | {markdown_code(str(v.get('reason', '')))}"
            f" | {markdown_code(str(v.get('query', '')))} |"
        )
    return "\n".join(rows)


def text_block(verdicts: Iterable[dict[str, Any]]) -> list[str]:
    """The verdicts (as recorded) as aligned text lines (GitLab's job log)."""
    lines = []
    for v in verdicts:
        result = str(v.get("result", ""))
        samples = int(v.get("samples") or 0)
        lines.append(
            one_line(
                f"{MARK.get(result, ' ')} {result:<12} {v.get('check', '')}:"
                f" {v.get('observed', '')}"
                f" (rule {v.get('rule', '')}, {samples} sample{'' if samples == 1 else 's'})"
                f" — {v.get('reason', '')}"
            )
        )
        lines.append(one_line(f"    query: {v.get('query', '')}"))
    return lines


def chart_series(
    series: Sequence[dict[str, Any]] | None,
    history: Sequence[Point],
    stage: str,
    track: str,
    weight: float | None,
) -> list[dict[str, Any]]:
    """The record's chart points with one stage's measurement rounds added (the last
    ``SERIES_POINTS``): ``{stage, track, at, weight, values}``, values without the gaps."""
    points = [
        {
            "stage": stage,
            "track": track,
            "at": p.at,
            "weight": weight,
            "values": {k: v for k, v in p.values.items() if v is not None},
        }
        for p in history
    ]
    return [*(series or ()), *points][-SERIES_POINTS:]


def _label(text: str) -> str:
    """A Mermaid string: names come from the configuration, still only [\\w .()%-] kept."""
    return re.sub(r"[^\w .()%-]", "", text)[:60]


def _number(value: Any) -> str:
    return f"{float(value):.4g}"


def mermaid_charts(series: Sequence[dict[str, Any]] | None) -> list[str]:
    """Mermaid ``xychart-beta`` blocks (GitHub renders them): the canary weight, then each
    judged metric, over the measurement rounds (x: stage and seconds into it). Nothing with
    fewer than two rounds."""
    points = [p for p in series or () if isinstance(p, dict)]
    if len(points) < 2:
        return []

    def chart(title: str, y: str, rounds: list[dict[str, Any]], values: list[Any]) -> str:
        def x(p: dict[str, Any]) -> str:  # "initial 12.5s": the stage, seconds into it
            return f'"{_label(str(p.get("stage", "")))} {round(float(p.get("at", 0)), 1):g}s"'

        xs = ", ".join(x(p) for p in rounds)
        return "\n".join(
            [
                "```mermaid",
                "xychart-beta",
                f'    title "{_label(title)}"',
                f"    x-axis [{xs}]",
                f'    y-axis "{_label(y)}"',
                f"    line [{', '.join(_number(v) for v in values)}]",
                "```",
            ]
        )

    out = []
    weighted = [p for p in points if p.get("weight") is not None]
    if len(weighted) >= 2:
        out.append(chart("canary weight", "percent", weighted, [p["weight"] for p in weighted]))
    names = dict.fromkeys(name for p in points for name in p.get("values") or {})
    for name in list(names)[:CHARTED_METRICS]:  # first seen first
        rounds = [p for p in points if name in (p.get("values") or {})]
        if len(rounds) < 2:
            continue
        tracks = sorted({str(p.get("track", "")) for p in rounds})
        title = f"{name} ({', '.join(tracks)})"
        values = [p["values"][name] for p in rounds]
        out.append(chart(title, f"{name} (the unit of its rules)", rounds, values))
    return out
