"""Verdicts as people read them: log lines, a one-line summary, a Markdown table, a text block.

Everything that came from outside (rendered queries hold user text; values and errors come
from Prometheus) goes through ``one_line`` and, in Markdown, ``markdown_code``: a verdict is
data, never a workflow command or markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ci_deploy.analysis.model import Verdict
from ci_deploy.text import markdown_code, one_line

MARK = {"pass": "✓", "fail": "✗", "inconclusive": "?"}
RECORDED_VERDICTS = 12  # verdicts kept in the state record
RECORDED_QUERY = 400  # characters of a query kept there


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
        lines.append(
            one_line(
                f"{MARK.get(result, ' ')} {result:<12} {v.get('check', '')}:"
                f" {v.get('observed', '')}"
                f" (rule {v.get('rule', '')}, {int(v.get('samples') or 0)} samples)"
                f" — {v.get('reason', '')}"
            )
        )
        lines.append(one_line(f"    query: {v.get('query', '')}"))
    return lines
