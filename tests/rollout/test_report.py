"""The job summary of a rollout: Markdown (GitHub) and plain text (GitLab's job log)."""

from __future__ import annotations

from ci_deploy.kube.state import StateRecord
from ci_deploy.rollout.report import summary_markdown, summary_text

VERDICT = {
    "check": "error_rate (canary)",
    "query": 'sum(rate(http_requests_total{code=~"5.."}[1m]))',
    "observed": "10%",
    "rule": "not > 5%",
    "result": "fail",
    "samples": 1,
    "reason": "10% is > 5%",
}


def record() -> StateRecord:
    return StateRecord(
        app="web-app",
        environment="production",
        strategy="canary",
        phase="RolledBack",
        revision="registry.example.com/acme/web-app:1.1.0",
        previous_revision="registry.example.com/acme/web-app:1.0.0",
        canary_weight=0,
        analysis="stage initial: fail — error_rate (canary) 10% (rule not > 5%)",
        message="stage initial: rollback trigger error_rate (canary) breached",
        verdicts=[VERDICT],
    )


def test_text_summary_has_the_rows_and_the_verdicts_aligned() -> None:
    text = summary_text(record(), "https://app.example.com")
    lines = text.splitlines()
    assert lines[0] == "ci-deploy: web-app to production: RolledBack"
    assert "  image            registry.example.com/acme/web-app:1.1.0" in lines
    assert "  canary weight    0%" in lines
    assert "  environment      https://app.example.com" in lines
    assert "analysis verdicts:" in lines
    verdict = next(line for line in lines if "error_rate (canary):" in line)
    assert verdict.startswith("  ✗ fail")
    assert "10% (rule not > 5%, 1 sample) — 10% is > 5%" in verdict
    assert "|" not in text.replace('code=~"5.."', "")  # no Markdown table


def test_markdown_summary_keeps_cluster_text_in_code_spans() -> None:
    rec = record()
    rec.message = "**bold** [link](https://evil.example)"
    markdown = summary_markdown(rec, None)
    assert "| message | `**bold** [link](https://evil.example)` |" in markdown
    assert "| phase | RolledBack |" in markdown
    assert "#### Analysis verdicts" in markdown
    assert "**bold**" in summary_text(rec, None)  # plain text: printed as it is, one line


def test_markdown_summary_charts_the_recorded_rounds() -> None:
    rec = record()
    rec.series = [
        {"stage": "initial", "track": "canary", "at": a, "weight": 20, "values": {"error_rate": v}}
        for a, v in ((0.0, 0.0), (1.0, 10.0))
    ]
    markdown = summary_markdown(rec, None)
    assert "#### Over the rollout" in markdown
    assert markdown.count("```mermaid") == 2  # the weight and error_rate
    assert "    line [0, 10]" in markdown
    assert "```mermaid" not in summary_markdown(record(), None)  # nothing measured, no chart
    assert "series" not in rec.to_dict(with_template=False)  # never in the job outputs
