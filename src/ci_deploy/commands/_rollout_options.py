"""Options shared by ``plan``, ``deploy``, ``status`` and ``rollback`` (cluster access, timing)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def duration_seconds(value: str, option: str) -> float:
    """``10m`` → 600.0; a bad value is bad input (exit 2) naming the option."""
    from ci_deploy.config import parse_duration
    from ci_deploy.errors import UserInputError

    try:
        return parse_duration(value).seconds
    except ValueError as exc:
        raise UserInputError(f"{option}: {exc}") from exc


def environment_option(fn: F) -> F:
    """--env (required)."""
    return click.option("--env", "environment", required=True, help="Environment to act on.")(fn)


def cluster_options(fn: F) -> F:
    """--kubeconfig and --context."""
    fn = click.option(
        "--context", default=None, help="Kubeconfig context (default: the environment's cluster)."
    )(fn)
    return click.option(
        "--kubeconfig",
        default=None,
        envvar="KUBECONFIG",
        help="Kubeconfig file (default: $KUBECONFIG or ~/.kube/config).",
    )(fn)


def override_options(fn: F) -> F:
    """--namespace and --strategy: override the environment's settings for this run."""
    fn = click.option(
        "--strategy", default=None, help="Override the environment's strategy for this run."
    )(fn)
    return namespace_option(fn)


def namespace_option(fn: F) -> F:
    """--namespace."""
    return click.option(
        "--namespace", default=None, help="Override the environment's namespace for this run."
    )(fn)
