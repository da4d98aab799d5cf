"""Options shared by ``plan``, ``deploy``, ``status`` and ``rollback`` (cluster access, timing)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from ci_deploy.rollout.options import DeployOptions

F = TypeVar("F", bound=Callable[..., Any])

# Options given as a duration ("10m") on the command line and held in seconds by DeployOptions.
DURATION_OPTIONS = ("timeout", "lock_timeout", "lock_ttl", "request_timeout")


def duration_seconds(value: str, option: str) -> float:
    """``10m`` → 600.0; a bad value is bad input (exit 2) naming the option."""
    from ci_deploy.config import parse_duration
    from ci_deploy.errors import UserInputError

    try:
        return parse_duration(value).seconds
    except ValueError as exc:
        raise UserInputError(f"{option}: {exc}") from exc


def deploy_options(ctx: click.Context, **overrides: Any) -> DeployOptions:
    """The verb's parsed options (``ctx.params``) as DeployOptions; durations in seconds.

    Parameters that are not DeployOptions fields (``--json``, ``--dry-run``, ...) stay with the
    verb; ``overrides`` sets fields whose option is spelled differently (``--no-rollback``).
    """
    from ci_deploy.rollout.options import DeployOptions

    fields = {f.name for f in dataclasses.fields(DeployOptions)}
    params = {k: v for k, v in ctx.params.items() if k in fields}
    for name in DURATION_OPTIONS:
        if name in params:
            params[name] = duration_seconds(params[name], "--" + name.replace("_", "-"))
    if params.get("request_timeout") == 0:
        from ci_deploy.errors import UserInputError

        raise UserInputError("--request-timeout: expected more than 0s, found 0s")
    if "image" in ctx.params and not params.get("image"):
        # The digest `ci-deploy build --push` output, handed to later jobs (GitLab's dotenv
        # report; on GitHub a workflow passes it with `image:` or `env:`).
        params["image"] = built_image()
    params.setdefault("image", None)
    return DeployOptions(config_path=ctx.obj["config_path"], **params, **overrides)


BUILT_IMAGE_VAR = "CI_DEPLOY_DIGEST"


def built_image() -> str | None:
    """``$CI_DEPLOY_DIGEST``: the image a build job of this pipeline pushed, or None."""
    import os

    value = os.environ.get(BUILT_IMAGE_VAR, "").strip()
    return value or None


def environment_option(fn: F) -> F:
    """--env (required)."""
    return click.option("--env", "environment", required=True, help="Environment to act on.")(fn)


def timeout_option(help_text: str) -> Callable[[F], F]:
    """--timeout DURATION (default 10m), with the verb's own help text."""
    return click.option(
        "--timeout", default="10m", metavar="DURATION", show_default=True, help=help_text
    )


def lock_timeout_option(fn: F) -> F:
    """--lock-timeout DURATION (default 5m)."""
    return click.option(
        "--lock-timeout",
        default="5m",
        metavar="DURATION",
        show_default=True,
        help="Wait this long for the lock.",
    )(fn)


def lock_ttl_option(fn: F) -> F:
    """--lock-ttl DURATION (hidden): the lock's lease duration, short in tests of killed runs."""
    return click.option("--lock-ttl", default="30s", hidden=True, help="Lease duration (tests).")(
        fn
    )


def cluster_options(fn: F) -> F:
    """--kubeconfig, --context, --request-timeout and --allow-insecure-tls."""
    fn = click.option(
        "--allow-insecure-tls",
        is_flag=True,
        default=False,
        help="Use a kubeconfig whose cluster sets insecure-skip-tls-verify (refused otherwise: "
        "the API server's certificate is then not checked).",
    )(fn)
    fn = click.option(
        "--request-timeout",
        default="30s",
        metavar="DURATION",
        show_default=True,
        help="Give up a single request to the API server after.",
    )(fn)
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


def prune_option(fn: F) -> F:
    """--prune/--no-prune: delete what earlier deploys applied and this one no longer renders."""
    return click.option(
        "--prune/--no-prune",
        default=True,
        show_default=True,
        help="Once the new version is healthy, delete the objects ci-deploy applied for the app "
        "before that it no longer renders (its ApplySet); --no-prune leaves them.",
    )(fn)


def time_scale_option(fn: F) -> F:
    """--time-scale N: every duration of the plan divided by N (refused off the sandbox)."""
    return click.option(
        "--time-scale",
        default=1.0,
        type=click.FloatRange(min=1.0),
        metavar="N",
        show_default=True,
        help="Divide every stage duration by N, for rehearsals (only on the sandbox cluster: "
        "15m becomes 15s with 60).",
    )(fn)
