"""Progress output: one live line on a terminal, plain lines (only on change) in CI logs."""

from __future__ import annotations

import io

from ci_deploy.platforms import platform_named
from ci_deploy.rollout.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_gets_one_rewritten_line() -> None:
    tty = Terminal()
    platform = platform_named("local", {}, stream=tty)
    progress = Progress(platform, stream=tty)
    progress.update("1 of 2 new replicas updated")
    progress.update("2 of 2 replicas available")
    progress.line("rollout complete")
    text = tty.getvalue()
    assert text.count("\r\x1b[2K") == 2  # the status line was rewritten in place
    assert text.count("\n") == 2  # ...and ended once before the permanent line
    assert text.endswith("rollout complete\n")


def test_ci_log_gets_plain_lines_only_when_the_status_changes() -> None:
    log = io.StringIO()
    platform = platform_named("github", {"GITHUB_ACTIONS": "true"}, stream=log)
    progress = Progress(platform, stream=log)
    for text in ["waiting", "waiting", "1 of 2 ready", "1 of 2 ready", "2 of 2 ready"]:
        progress.update(text)
    lines = log.getvalue().splitlines()
    assert len(lines) == 3
    assert "\r" not in log.getvalue() and "\x1b" not in log.getvalue()
    assert lines[0].endswith("waiting") and lines[2].endswith("2 of 2 ready")


def test_progress_lines_are_redacted() -> None:
    log = io.StringIO()
    platform = platform_named("gitlab", {"GITLAB_CI": "true"}, stream=log)
    platform.mask("s3cr3t-token")
    Progress(platform, stream=log).line("pulling with s3cr3t-token")
    assert "s3cr3t-token" not in log.getvalue()
