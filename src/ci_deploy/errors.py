"""Errors ci-deploy raises on purpose, each mapped to a documented exit code.

Exit codes (README, "Exit codes"):
  0  success
  1  the deployment or verification failed; what it changed was restored (rolled back)
  2  bad input: configuration, template, arguments; nothing was changed
  3  manual intervention needed: the rollback failed, or the cluster is not in a known-good state
  4  failed before changing anything (refused, unreachable, lock not obtained, cancelled)
"""

from __future__ import annotations

from dataclasses import dataclass

from ci_deploy.text import one_line

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_ROLLBACK_FAILED = 3
EXIT_NOTHING_CHANGED = 4


@dataclass(frozen=True)
class Location:
    """Where in a user's file something is: 1-based line and column."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.file
        if self.column is None:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.column}"


class CiDeployError(Exception):
    """Base class: an error with a message meant for the user and an exit code."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        """``error: MESSAGE`` (and ``  hint: HINT``): each one inert line, whatever it quotes."""
        text = f"error: {one_line(self.message)}"
        if self.hint:
            text += f"\n  hint: {one_line(self.hint)}"
        return text


class UserInputError(CiDeployError):
    """Bad input (arguments, files): exit 2, nothing was changed."""

    exit_code = EXIT_BAD_INPUT


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a user's file."""

    location: Location
    key_path: str  # dotted path such as "environments.staging.replicas"; "" for the document
    message: str  # what was expected and what was found
    suggestion: str | None = None  # e.g. "did you mean 'replicas'?"

    def render(self) -> str:
        where = str(self.location)
        key = f" {self.key_path}:" if self.key_path else ""
        text = f"{where}:{key} {self.message}"
        if self.suggestion:
            text += f" ({self.suggestion})"
        return text


class ConfigError(UserInputError):
    """One or more problems in a configuration or template file."""

    def __init__(self, problems: list[Problem], *, hint: str | None = None) -> None:
        self.problems = problems
        super().__init__("\n".join(p.render() for p in problems), hint=hint)

    def render(self) -> str:
        lines = [f"error: {one_line(p.render())}" for p in self.problems]
        if self.hint:
            lines.append(f"  hint: {one_line(self.hint)}")
        return "\n".join(lines)


class DeploymentFailed(CiDeployError):
    """The deployment or verification failed and was rolled back: exit 1."""

    exit_code = EXIT_FAILED


class RollbackFailed(CiDeployError):
    """The automatic rollback failed too: exit 3, a human must act."""

    exit_code = EXIT_ROLLBACK_FAILED


class NothingChanged(CiDeployError):
    """It failed before anything in the cluster was changed: exit 4 (safe to retry)."""

    exit_code = EXIT_NOTHING_CHANGED
