"""GitLab CI: collapsible log sections, outputs as a dotenv report, masking by redaction.

Outputs go to the dotenv file named by ``$CI_DEPLOY_DOTENV`` (default ``ci-deploy.env`` in the
working directory), which the templates publish with ``artifacts: reports: dotenv``. GitLab's
parser takes one ``KEY=value`` per line (no quotes, no comments, no blank lines, values
stripped), at most 20 variables (self-managed default) and a file under 5 KB; every line here
obeys that. When the ``state`` value would push the file over the size limit it is shortened
(see :func:`compact_state`): the full record always stays in the cluster (``ci-deploy status``).

GitLab cannot mask a value at run time (only CI/CD variables defined in the project settings
are masked), so :meth:`GitLabPlatform.mask` redacts the value from everything ci-deploy prints.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ci_deploy.errors import CiDeployError
from ci_deploy.fileio import write_atomically
from ci_deploy.platforms.base import BasePlatform, location_text
from ci_deploy.text import one_line

DOTENV_MAX_BYTES = 5 * 1024 - 1  # GitLab: file.size < 5 KB
DOTENV_MAX_VARIABLES = 20  # GitLab self-managed default (dotenv_variables limit)
PREFIX = "CI_DEPLOY_"
_ESC = "\x1b[0K"
_KEY_RE = re.compile(r"^[A-Z0-9_]+$")
# Section names must be unique within a job log, whichever platform object opens them.
_SECTION_IDS = itertools.count(1)


class DotenvLimitError(CiDeployError):
    """The outputs cannot fit GitLab's dotenv limits even after shortening ``state``."""


def dotenv_key(name: str) -> str:
    """``previous-revision`` → ``CI_DEPLOY_PREVIOUS_REVISION``."""
    key = PREFIX + re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper()
    if not _KEY_RE.match(key) or key == PREFIX:
        raise ValueError(f"invalid output name {name!r}")
    return key


def compact_state(state: str, budget: int) -> str:
    """Shorten the ``state`` JSON to at most ``budget`` bytes, keeping what jobs branch on.

    First nested values (step history, analysis details) are dropped and only top-level scalars
    kept; if that is still too long, only ``phase`` and the revisions. Either way the result
    carries ``"truncated": true`` so no job mistakes it for the whole record.
    """
    if len(state.encode()) <= budget:
        return state
    try:
        record = json.loads(state)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        return json.dumps({"truncated": True}, separators=(",", ":"))
    scalars = {k: v for k, v in record.items() if not isinstance(v, (dict, list))}
    scalars["truncated"] = True
    text = json.dumps(scalars, separators=(",", ":"))
    if len(text.encode()) <= budget:
        return text
    keep = ("apiVersion", "app", "environment", "phase", "revision", "previousRevision")
    minimal = {k: record[k] for k in keep if k in record and not isinstance(record[k], dict)}
    minimal["truncated"] = True
    return json.dumps(minimal, separators=(",", ":"))


def format_dotenv(variables: Mapping[str, str]) -> str:
    """Render ``variables`` as a GitLab dotenv file, enforcing its limits.

    Raises :class:`DotenvLimitError` when there are too many variables or the file is too big
    (after shortening ``CI_DEPLOY_STATE`` with :func:`compact_state`).
    """
    if len(variables) > DOTENV_MAX_VARIABLES:
        raise DotenvLimitError(
            f"{len(variables)} dotenv variables; GitLab accepts at most {DOTENV_MAX_VARIABLES}"
        )
    values = dict(variables)
    for key, value in values.items():
        if "\n" in value or "\r" in value:
            raise DotenvLimitError(f"{key}: GitLab dotenv values must be single-line")
    state_key = PREFIX + "STATE"

    def render() -> str:
        return "".join(f"{k}={v}\n" for k, v in values.items())

    text = render()
    size = len(text.encode())
    if size > DOTENV_MAX_BYTES and state_key in values:
        budget = DOTENV_MAX_BYTES - (size - len(values[state_key].encode()))
        values[state_key] = compact_state(values[state_key], max(budget, 0))
        text = render()
        size = len(text.encode())
    if size > DOTENV_MAX_BYTES:
        raise DotenvLimitError(
            f"dotenv outputs are {size} bytes; GitLab accepts less than 5 KB",
            hint="the full rollout state stays in the cluster: `ci-deploy status --json`",
        )
    return text


def section_name(title: str, counter: int) -> str:
    """A GitLab section name (letters, digits, ``_.-``), unique within the job."""
    slug = re.sub(r"[^a-z0-9_.-]+", "_", title.lower()).strip("_")[:40] or "section"
    return f"ci_deploy_{counter}_{slug}"


class GitLabPlatform(BasePlatform):
    """The platform of a GitLab CI job (``GITLAB_CI=true``)."""

    name = "gitlab"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._outputs: dict[str, str] = {}  # what this process wrote to the dotenv report

    def get_input(self, name: str) -> str | None:
        """``CI_DEPLOY_<UPPER_SNAKE>`` (the template's variables); None when unset or empty."""
        value = self.environ.get(dotenv_key(name))
        if value is None or not value.strip():
            return None
        return value.strip()

    @property
    def dotenv_path(self) -> Path:
        """The dotenv report file: ``$CI_DEPLOY_DOTENV`` or ``ci-deploy.env``."""
        return Path(self.environ.get("CI_DEPLOY_DOTENV") or "ci-deploy.env")

    def set_outputs(self, outputs: Mapping[str, str]) -> None:
        """Write the dotenv report afresh: this process's outputs only (later values win).

        A file already there (committed to the repository, left by another tool) is replaced,
        never merged: GitLab gives dotenv variables priority over job variables, so a foreign
        ``KUBECONFIG=`` in it would redirect every later job.
        """
        for name, value in outputs.items():
            self._outputs[dotenv_key(name)] = self.redact(value).strip()
        write_atomically(self.dotenv_path, format_dotenv(self._outputs))

    @contextlib.contextmanager
    def group(self, title: str) -> Iterator[None]:
        """A collapsible section (collapsed when nested or ``$CI_DEPLOY_COLLAPSE=true``)."""
        title = one_line(title)
        name = section_name(title, next(_SECTION_IDS))
        collapsed = "[collapsed=true]" if self._collapse() else ""
        self._write(f"{_ESC}section_start:{int(time.time())}:{name}{collapsed}\r{_ESC}{title}")
        self._group_depth += 1
        try:
            yield
        finally:
            self._group_depth -= 1
            self._write(f"{_ESC}section_end:{int(time.time())}:{name}\r{_ESC}")

    def _collapse(self) -> bool:
        return bool(self._group_depth) or self.environ.get("CI_DEPLOY_COLLAPSE") == "true"

    def _report(
        self, kind: str, msg: str, file: str | None, line: int | None, col: int | None
    ) -> None:
        # GitLab has no annotations: a plain, greppable ``error: file:line:col: msg`` line;
        # red for errors, yellow for warnings.
        where = one_line(location_text(file, line, col))
        msg = one_line(msg)  # a newline in it must not start a line (or a section marker)
        colour = {"error": "\x1b[31;1m", "warning": "\x1b[33;1m"}.get(kind, "")
        reset = "\x1b[0m" if colour else ""
        self._write(f"{colour}{kind}:{reset} {where + ': ' if where else ''}{msg}")

    def summary(self, markdown: str, text: str | None = None) -> None:
        """GitLab has no job summary: append to ``$CI_DEPLOY_SUMMARY`` if set, else log it (as
        ``text`` when given: the job log shows Markdown tables as raw pipes)."""
        target = self.environ.get("CI_DEPLOY_SUMMARY")
        if target:
            self._append_markdown(target, markdown)
            return
        with self.group("Summary"):
            for line in self.redact(text if text is not None else markdown).splitlines():
                self._write(line)
