"""The platform protocol every step talks to, plus what all platforms share: redaction.

A step never asks which CI it runs in. It reads inputs, writes outputs, masks secrets, opens log
groups and reports problems through a :class:`Platform`; ``github.py``, ``gitlab.py`` and
``local.py`` translate those verbs into each CI's conventions (modelled on GitHub's
``@actions/core``: getInput, setOutput, setSecret, startGroup/endGroup, error/warning/notice,
summary).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Protocol, TextIO, runtime_checkable

from ci_deploy.text import one_line

# The rollout-state keys that job outputs mirror (DESIGN.md, "Rollout state — contract").
OUTPUT_KEYS: tuple[str, ...] = (
    "phase",
    "revision",
    "previous-revision",
    "canary-weight",
    "active-color",
    "environment-url",
    "state",
)

# The outputs of the image steps: ``build`` (what was built and pushed) and ``scan`` (the gate).
BUILD_OUTPUT_KEYS: tuple[str, ...] = ("image", "digest")
SCAN_OUTPUT_KEYS: tuple[str, ...] = ("scan-result", "scan-failing", "scan-critical", "scan-high")

MASK = "***"

# A secret (or a line of a multi-line one) shorter than this is not masked: replacing a short
# string everywhere corrupts ordinary text (the password "acme" would turn the image
# registry.example.com/acme/web-app into registry.example.com/***/web-app, and "}" every brace),
# while a few characters reveal little. Callers warn about secrets they could not mask.
MIN_SECRET_LENGTH = 8


class Redactor:
    """Remembers secret values and replaces them with ``***`` in any text."""

    min_length = MIN_SECRET_LENGTH

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def maskable(self, secret: str) -> bool:
        """Whether ``secret`` is long enough to be masked safely."""
        return len(secret.strip()) >= self.min_length

    def add(self, secret: str) -> list[str]:
        """Remember a secret; return the new values to mask (the value and its long lines)."""
        values = [secret.strip()] if self.maskable(secret) else []
        if "\n" in secret or "\r" in secret:
            for line in secret.splitlines():
                line = line.strip()
                if len(line) >= self.min_length:
                    values.append(line)
        added = [v for v in dict.fromkeys(values) if v not in self._secrets]
        self._secrets.update(added)
        return added

    def add_all(self, secrets: list[str]) -> list[str]:
        """:meth:`add` each of ``secrets``; the new values to mask."""
        return [value for secret in secrets for value in self.add(secret)]

    def redact(self, text: str) -> str:
        """Return ``text`` with every remembered secret replaced by ``***``."""
        # Longest first, so a secret that contains another is replaced whole.
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def __contains__(self, value: object) -> bool:
        return value in self._secrets

    def __len__(self) -> int:
        return len(self._secrets)


# One redactor per process, shared by every platform object detect_platform() hands out, so a
# secret masked by one step is redacted in what any other step prints.
PROCESS_REDACTOR = Redactor()


def redact(text: str) -> str:
    """Redact every secret masked so far in this process (for text printed outside a platform)."""
    return PROCESS_REDACTOR.redact(text)


@runtime_checkable
class Platform(Protocol):
    """What a step may do with the CI it runs in (contracts §4)."""

    name: str

    def get_input(self, name: str) -> str | None:
        """The value of an input of the action or template; None when unset or empty."""
        ...

    def set_outputs(self, outputs: Mapping[str, str]) -> None:
        """Publish job outputs (keys such as ``phase``, ``previous-revision``)."""
        ...

    def mask(self, secret: str) -> None:
        """Never show ``secret`` in any log from now on."""
        ...

    def group(self, title: str) -> AbstractContextManager[None]:
        """A collapsible log section around the ``with`` block."""
        ...

    def error(
        self, msg: str, file: str | None = None, line: int | None = None, col: int | None = None
    ) -> None:
        """Report an error, pointing at a file position when known."""
        ...

    def warning(
        self, msg: str, file: str | None = None, line: int | None = None, col: int | None = None
    ) -> None:
        """Report a warning, pointing at a file position when known."""
        ...

    def notice(
        self, msg: str, file: str | None = None, line: int | None = None, col: int | None = None
    ) -> None:
        """Report a notice, pointing at a file position when known."""
        ...

    def summary(self, markdown: str, text: str | None = None) -> None:
        """Append Markdown to the job summary (where the CI has one). ``text``: the same as
        plain, aligned lines, for a platform that can only print it in the job log."""
        ...

    def log(self, line: str) -> None:
        """Print one plain progress line."""
        ...

    def redact(self, text: str) -> str:
        """``text`` with every masked secret replaced by ``***``."""
        ...


def location_text(file: str | None, line: int | None, col: int | None) -> str:
    """``file:line:col`` with the known parts, or "" without a file."""
    if not file:
        return ""
    text = file
    if line is not None:
        text += f":{line}"
        if col is not None:
            text += f":{col}"
    return text


class BasePlatform:
    """Shared plumbing: a redactor and a stream, every printed line redacted and flushed."""

    name = "base"

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        stream: TextIO | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self._stream = stream
        self.redactor = PROCESS_REDACTOR if redactor is None else redactor
        self._group_depth = 0

    # -- output plumbing ---------------------------------------------------------------------
    @property
    def stream(self) -> TextIO:
        """Where log lines go; resolved late so a replaced ``sys.stdout`` is honoured."""
        return self._stream if self._stream is not None else self._default_stream()

    def _default_stream(self) -> TextIO:
        return sys.stdout

    def redact(self, text: str) -> str:
        """``text`` with every masked secret replaced by ``***``."""
        return self.redactor.redact(text)

    def _write(self, text: str) -> None:
        # Flushed at once: CI logs are pipes (block-buffered), and lines from ci-deploy must
        # interleave correctly with those of the tools it runs.
        self.stream.write(self.redact(text) + "\n")
        self.stream.flush()

    def log(self, line: str) -> None:
        """Print one plain progress line, redacted; any text in it stays one inert line."""
        self._write(one_line(line))

    def _append_markdown(self, path: str, markdown: str) -> None:
        """Append ``markdown`` (redacted, newline-terminated) to the summary file ``path``."""
        text = self.redact(markdown)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")

    # -- problems: each platform formats them in its own _report ------------------------------
    def _report(
        self, kind: str, msg: str, file: str | None, line: int | None, col: int | None
    ) -> None:
        raise NotImplementedError

    def error(
        self, msg: str, file: str | None = None, line: int | None = None, col: int | None = None
    ) -> None:
        """Report an error, pointing at ``file:line:col`` when known."""
        self._report("error", msg, file, line, col)

    def warning(
        self, msg: str, file: str | None = None, line: int | None = None, col: int | None = None
    ) -> None:
        """Report a warning, pointing at ``file:line:col`` when known."""
        self._report("warning", msg, file, line, col)

    def notice(
        self, msg: str, file: str | None = None, line: int | None = None, col: int | None = None
    ) -> None:
        """Report a notice, pointing at ``file:line:col`` when known."""
        self._report("notice", msg, file, line, col)

    # -- defaults subclasses may keep --------------------------------------------------------
    def mask(self, secret: str) -> None:
        """Remember ``secret`` so that everything printed from now on hides it."""
        self._warn_unmaskable(secret)
        self.redactor.add(secret)

    def _warn_unmaskable(self, secret: str) -> None:
        if secret.strip() and not self.redactor.maskable(secret):
            self.warning(
                f"a secret of {len(secret.strip())} characters is too short to hide from logs "
                f"without hiding ordinary text (under {self.redactor.min_length}); it is not "
                "masked: use a longer one"
            )

    def get_input(self, name: str) -> str | None:
        """No inputs outside a CI."""
        return None
