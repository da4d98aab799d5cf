"""Rollout progress for people: one live line on a terminal, plain lines in CI logs.

On a TTY the current status rewrites one line in place. Anywhere else (CI logs, pipes) a line
is printed only when the status text changes, through the platform (redacted, grouped).
"""

from __future__ import annotations

import sys
import time
from contextlib import AbstractContextManager
from typing import TextIO

from ci_deploy.platforms import Platform
from ci_deploy.text import one_line


class Progress:
    """Status updates of one rollout."""

    def __init__(self, platform: Platform, *, stream: TextIO | None = None) -> None:
        self.platform = platform
        self.stream = stream if stream is not None else sys.stderr
        self.live = platform.name == "local" and self.stream.isatty()
        self._last = ""
        self._started = time.monotonic()
        self._live_open = False

    def line(self, text: str) -> None:
        """A permanent line (a step starting, a result)."""
        self._end_live()
        self.platform.log(text)

    def group(self, title: str) -> AbstractContextManager[None]:
        """The platform's log group, after ending a live line (so the header starts a line)."""
        self._end_live()
        return self.platform.group(title)

    def update(self, text: str) -> None:
        """The current status; repeated identical texts are not printed again."""
        if text == self._last:
            return
        self._last = text
        elapsed = time.monotonic() - self._started
        shown = f"[{elapsed:5.1f}s] {one_line(text)}"
        if self.live:
            width = 119
            self.stream.write("\r\x1b[2K" + self.platform.redact(shown)[:width])
            self.stream.flush()
            self._live_open = True
        else:
            self.platform.log(shown)

    def _end_live(self) -> None:
        if self._live_open:
            self.stream.write("\n")
            self.stream.flush()
            self._live_open = False

    def close(self) -> None:
        """End a live line, if one is open."""
        self._end_live()
