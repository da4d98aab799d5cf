"""What a rollout verb reports: job outputs (DESIGN.md contract) and the job summary."""

from __future__ import annotations

from ci_deploy.kube.state import StateRecord


def outputs_of(record: StateRecord, environment_url: str | None) -> dict[str, str]:
    """Job outputs (DESIGN.md contract): the same keys on every platform."""
    return {
        "phase": record.phase,
        "revision": record.revision,
        "previous-revision": record.previous_revision or "",
        "canary-weight": "" if record.canary_weight is None else str(record.canary_weight),
        "active-color": record.active_color or "",
        "environment-url": environment_url or "",
        "state": record.to_json(with_template=False),
    }


def summary_markdown(record: StateRecord, environment_url: str | None) -> str:
    """A short job summary (GitHub step summary; printed or appended elsewhere)."""
    rows = [
        ("phase", record.phase),
        ("image", f"`{record.revision}`"),
        ("previous stable", f"`{record.previous_revision}`" if record.previous_revision else "-"),
        ("message", record.message.replace("|", "\\|") or "-"),
    ]
    if environment_url:
        rows.append(("environment", environment_url))
    lines = [f"### ci-deploy: {record.app} to {record.environment}: {record.phase}", ""]
    lines += ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]
    return "\n".join(lines) + "\n"
