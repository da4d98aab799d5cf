"""GitHub Actions: workflow commands on stdout, outputs and summary in the runner's files.

Conventions follow GitHub's documentation of workflow commands and ``@actions/core``:
``::add-mask::``, ``::group::``/``::endgroup::``, ``::error file=…,line=…,col=…::message``,
``$GITHUB_OUTPUT`` (``name<<DELIMITER`` blocks for multi-line values) and
``$GITHUB_STEP_SUMMARY`` (Markdown, appended).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator, Mapping

from ci_deploy.platforms.base import BasePlatform
from ci_deploy.text import one_line


def escape_data(text: str) -> str:
    """Escape a workflow command's message (after ``::``)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command property value (``file=…``, ``title=…``)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, properties: Mapping[str, object] | None = None) -> str:
    """One workflow command line, e.g. ``::error file=a.yml,line=3::bad``."""
    props = ",".join(
        f"{key}={escape_property(str(value))}"
        for key, value in (properties or {}).items()
        if value is not None and value != ""
    )
    head = f"::{name} {props}" if props else f"::{name}"
    return f"{head}::{escape_data(message)}"


def output_block(name: str, value: str) -> str:
    """The text appended to ``$GITHUB_OUTPUT`` for one output (multi-line safe)."""
    if "\n" not in value and "\r" not in value:
        return f"{name}={value}\n"
    delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
    while delimiter in value:  # practically never; the contract is "not in the value"
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def _check_output_name(name: str) -> None:
    if not name or any(ch in name for ch in "=\n\r<"):
        raise ValueError(f"invalid output name {name!r}")


class GitHubPlatform(BasePlatform):
    """The platform of a GitHub Actions job (``GITHUB_ACTIONS=true``)."""

    name = "github"

    def get_input(self, name: str) -> str | None:
        """``INPUT_<NAME>`` as the runner sets it (spaces → ``_``, upper case, ``-`` kept)."""
        value = self.environ.get(f"INPUT_{name.replace(' ', '_').upper()}")
        if value is None or not value.strip():
            return None
        return value.strip()

    def set_outputs(self, outputs: Mapping[str, str]) -> None:
        """Append the outputs to ``$GITHUB_OUTPUT``; later values of a name win."""
        path = self.environ.get("GITHUB_OUTPUT")
        text = ""
        for name, value in outputs.items():
            _check_output_name(name)
            # Outputs are shown in the UI and passed to other jobs: never carry a secret.
            text += output_block(name, self.redact(value))
        if not path:
            self.warning("GITHUB_OUTPUT is not set; outputs are only printed")
            for line in text.splitlines():
                self._write(line)
            return
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)

    def mask(self, secret: str) -> None:
        """``::add-mask::`` each new value, and redact it from our own output too."""
        self._warn_unmaskable(secret)
        for value in self.redactor.add(secret):
            # Written raw: redacting it would register "***" as the secret.
            self.stream.write(command("add-mask", value) + "\n")
        self.stream.flush()

    @contextlib.contextmanager
    def group(self, title: str) -> Iterator[None]:
        """``::group::``/``::endgroup::``; GitHub cannot nest groups, so inner ones are plain."""
        title = one_line(title)
        if self._group_depth:
            self._write(f"== {title}")
            yield
            return
        self._write(command("group", title))
        self._group_depth += 1
        try:
            yield
        finally:
            self._group_depth -= 1
            self._write("::endgroup::")

    def _report(
        self, kind: str, msg: str, file: str | None, line: int | None, col: int | None
    ) -> None:
        # ``::error file=…,line=…,col=…::msg``: an annotation on the run and on the file.
        # One line, no control characters: whatever ``msg`` quotes shows as text.
        msg = one_line(msg)
        props: dict[str, object] = {"file": file and one_line(file)}
        if file:
            props.update(line=line, col=col if line is not None else None)
        self._write(command(kind, msg, props))

    def summary(self, markdown: str, text: str | None = None) -> None:
        """Append Markdown to ``$GITHUB_STEP_SUMMARY`` (ignored when the runner sets none)."""
        path = self.environ.get("GITHUB_STEP_SUMMARY")
        if path:
            self._append_markdown(path, markdown)
