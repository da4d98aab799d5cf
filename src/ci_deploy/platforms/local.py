"""Plain local runs (a terminal, or a CI we do not know): readable text, outputs printed.

Progress, groups and problems go to stderr, so stdout carries only what a command prints on
purpose (``status --json``). Job outputs are pipeline data, not for a person at a terminal:
they are written as ``key=value`` lines to the file named by ``$CI_DEPLOY_OUTPUT`` when it is
set (for scripts and other CIs), and not printed otherwise.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping
from typing import TextIO

from ci_deploy.platforms.base import BasePlatform, location_text
from ci_deploy.text import one_line


class LocalPlatform(BasePlatform):
    """No CI: no inputs, outputs printed as ``key=value``, secrets still redacted."""

    name = "local"

    def _default_stream(self) -> TextIO:
        return sys.stderr

    def set_outputs(self, outputs: Mapping[str, str]) -> None:
        """Append ``key=value`` lines to ``$CI_DEPLOY_OUTPUT`` (newlines as ``\\n``), if set."""
        target = self.environ.get("CI_DEPLOY_OUTPUT")
        if not target:
            return
        lines = []
        for name, value in outputs.items():
            text = self.redact(value).replace("\r", "\\r").replace("\n", "\\n")
            lines.append(f"{name}={text}\n")
        with open(target, "a", encoding="utf-8") as fh:
            fh.write("".join(lines))

    @contextlib.contextmanager
    def group(self, title: str) -> Iterator[None]:
        """A plain ``== title`` header line."""
        self._write(f"{'  ' * self._group_depth}== {one_line(title)}")
        self._group_depth += 1
        try:
            yield
        finally:
            self._group_depth -= 1

    def _report(
        self, kind: str, msg: str, file: str | None, line: int | None, col: int | None
    ) -> None:
        # ``error: file:line:col: msg``
        where = one_line(location_text(file, line, col))
        msg = one_line(msg)
        self._write(f"{kind}: {where + ': ' if where else ''}{msg}")

    def summary(self, markdown: str, text: str | None = None) -> None:
        """Append to ``$CI_DEPLOY_SUMMARY`` when set; otherwise nothing (progress was shown)."""
        target = self.environ.get("CI_DEPLOY_SUMMARY")
        if target:
            self._append_markdown(target, markdown)
