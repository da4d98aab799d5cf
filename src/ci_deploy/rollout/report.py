"""What a rollout verb reports: job outputs (DESIGN.md contract) and the job summary."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ci_deploy.errors import DeploymentFailed
from ci_deploy.kube.errors import ApiError, NetworkError
from ci_deploy.kube.lease import run_url
from ci_deploy.kube.state import StateError, StateRecord
from ci_deploy.lifecycle import OUTCOMES, EventKind, Events, RolloutEvent
from ci_deploy.platforms import Platform
from ci_deploy.text import markdown_code, one_line

if TYPE_CHECKING:
    from ci_deploy.config import Config
    from ci_deploy.rollout.session import RolloutContext


class JobReport:
    """The job's outputs and summary, written when a verb reaches its outcome (a listener).

    ``notes``: notifications that failed, listed in the summary (the notifiers fill it).
    """

    def __init__(
        self, platform: Platform, environment_url: str | None, notes: Sequence[str] = ()
    ) -> None:
        self.platform = platform
        self.environment_url = environment_url
        self.notes = notes

    def __call__(self, event: RolloutEvent) -> None:
        if event.kind not in OUTCOMES:
            return
        self.platform.set_outputs(outputs_of(event.record, self.environment_url))
        markdown = summary_markdown(event.record, self.environment_url)
        text = summary_text(event.record, self.environment_url)
        if self.notes:
            markdown += "\n#### Notifications that failed\n\n" + "".join(
                f"- {markdown_code(note)}\n" for note in self.notes
            )
            text += "notifications that failed:\n" + "".join(
                f"  {one_line(note)}\n" for note in self.notes
            )
        self.platform.summary(markdown, text=text)


def verb_events(
    cfg: Config, environment: str, url: str | None, platform: Platform, verb: str
) -> Events:
    """The lifecycle listeners of one verb run: the configured notifiers, then the job's
    outputs and summary (which list the notifications that failed)."""
    from ci_deploy.notify import Context, notifications_for

    events = Events()
    ctx = Context(verb, cfg.app, environment, url, run_url(os.environ), os.environ)
    notifications = notifications_for(cfg.notifications, ctx, events, platform)
    if notifications.notifiers:
        events.subscribe(notifications)
    events.subscribe(JobReport(platform, url, notifications.failed))
    return events


def tell_outcome(
    events: Events,
    kind: EventKind,
    record: StateRecord,
    ctx: RolloutContext | None,
    platform: Platform,
    what: str,
    error: BaseException | None,
) -> None:
    """Emit the outcome; keep the ids notifiers left then (best effort); report listeners'
    failures. A required notifier that failed fails a run that had not failed (exit 1)."""
    events.emit(kind, record)
    if ctx is not None and events.status_ids(ctx.record) != ctx.record.status_ids:
        try:
            ctx.save()
        except (ApiError, NetworkError, StateError) as exc:
            platform.warning(f"the ids of the posted notifications were not recorded: {exc}")
    for failure in events.failures:
        platform.warning(f"reporting the {what} failed: {failure}")
    if error is None and events.required_failures:
        raise DeploymentFailed(
            f"{what} ended {record.phase}, but {events.required_failures[0]}",
            hint="the rollout itself is as reported above; fix the notifier and re-run",
        )


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


def _rows(record: StateRecord, environment_url: str | None) -> list[tuple[str, str, bool]]:
    """(name, value, is it text from the cluster or the workspace) for both summaries."""
    rows = [
        ("phase", record.phase, False),
        ("image", record.revision, True),
        ("previous stable", record.previous_revision or "-", True),
        ("message", record.message or "-", True),
    ]
    if record.canary_weight is not None:
        rows.append(("canary weight", f"{record.canary_weight:g}%", False))
    if record.active_color:
        rows.append(("active color", record.active_color, True))
    if record.phase == "Paused":
        env = record.environment  # a DNS label of the configuration
        rows.append(
            (
                "next",
                f"`ci-deploy promote --env {env}` continues; `ci-deploy abort --env {env}`"
                " undoes it",
                False,
            )
        )
    if environment_url:
        rows.append(("environment", environment_url, True))
    if record.analysis:
        rows.append(("analysis", record.analysis, True))
    return rows


def summary_text(record: StateRecord, environment_url: str | None) -> str:
    """The job summary as aligned plain lines (GitLab's job log): the same rows, the verdicts
    as a text block."""
    lines = [f"ci-deploy: {record.app} to {record.environment}: {record.phase}"]
    rows = _rows(record, environment_url)
    lines += [f"  {name:<16} {one_line(value)}" for name, value, _ in rows]
    if record.verdicts:
        from ci_deploy.analysis.report import text_block

        lines += ["analysis verdicts:", *(f"  {line}" for line in text_block(record.verdicts))]
    return "\n".join(lines) + "\n"


def summary_markdown(record: StateRecord, environment_url: str | None) -> str:
    """A short job summary (GitHub step summary; printed or appended elsewhere)."""
    # Every value from the cluster: a code span, which renders nothing inside it.
    rows = [
        (name, markdown_code(value) if untrusted else value)
        for name, value, untrusted in _rows(record, environment_url)
    ]
    # app and environment are DNS labels of the configuration; phase is one of PHASES.
    lines = [f"### ci-deploy: {record.app} to {record.environment}: {record.phase}", ""]
    lines += ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]
    if record.verdicts:
        from ci_deploy.analysis.report import markdown_table

        lines += ["", "#### Analysis verdicts", "", markdown_table(record.verdicts)]
    if record.series:
        from ci_deploy.analysis.report import mermaid_charts

        charts = mermaid_charts(record.series)
        if charts:
            lines += ["", "#### Over the rollout", ""]
            for chart in charts:
                lines += [chart, ""]
    return "\n".join(lines) + "\n"
