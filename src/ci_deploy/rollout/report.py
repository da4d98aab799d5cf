"""What a rollout verb reports: job outputs (DESIGN.md contract) and the job summary."""

from __future__ import annotations

from ci_deploy.kube.state import StateRecord
from ci_deploy.platforms import Platform
from ci_deploy.rollout.events import OUTCOMES, RolloutEvent
from ci_deploy.text import markdown_code, one_line


class JobReport:
    """The job's outputs and summary, written when a verb reaches its outcome (a listener)."""

    def __init__(self, platform: Platform, environment_url: str | None) -> None:
        self.platform = platform
        self.environment_url = environment_url

    def __call__(self, event: RolloutEvent) -> None:
        if event.kind not in OUTCOMES:
            return
        self.platform.set_outputs(outputs_of(event.record, self.environment_url))
        self.platform.summary(summary_markdown(event.record, self.environment_url))


def outputs_of(record: StateRecord, environment_url: str | None) -> dict[str, str]:
    """Job outputs (DESIGN.md contract): the same keys on every platform, each one line."""
    outputs = {
        "phase": record.phase,
        "revision": record.revision,
        "previous-revision": record.previous_revision or "",
        "canary-weight": "" if record.canary_weight is None else f"{record.canary_weight:g}",
        "active-color": record.active_color or "",
        "environment-url": environment_url or "",
        "state": record.to_json(with_template=False),
    }
    return {key: one_line(value) for key, value in outputs.items()}


def summary_markdown(record: StateRecord, environment_url: str | None) -> str:
    """A short job summary (GitHub step summary; printed or appended elsewhere)."""
    # Every value may come from the cluster: code spans, which render nothing inside them.
    rows = [
        ("phase", record.phase),
        ("image", markdown_code(record.revision)),
        ("previous stable", markdown_code(record.previous_revision or "-")),
        ("message", markdown_code(record.message or "-")),
    ]
    if record.canary_weight is not None:
        rows.append(("canary weight", f"{record.canary_weight:g}%"))
    if record.active_color:
        rows.append(("active color", markdown_code(record.active_color)))
    if record.phase == "Paused":
        env = record.environment  # a DNS label of the configuration
        rows.append(
            (
                "next",
                f"`ci-deploy promote --env {env}` continues; `ci-deploy abort --env {env}`"
                " undoes it",
            )
        )
    if environment_url:
        rows.append(("environment", markdown_code(environment_url)))
    if record.analysis:
        rows.append(("analysis", markdown_code(record.analysis)))
    # app and environment are DNS labels of the configuration; phase is one of PHASES.
    lines = [f"### ci-deploy: {record.app} to {record.environment}: {record.phase}", ""]
    lines += ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]
    if record.verdicts:
        from ci_deploy.analysis.report import markdown_table

        lines += ["", "#### Analysis verdicts", "", markdown_table(record.verdicts)]
    return "\n".join(lines) + "\n"
