"""``ci-deploy rollback --env ENV [--to-revision N]``: restore the stable (or a chosen) revision."""

from __future__ import annotations

import click

from ci_deploy.commands._rollout_options import (
    cluster_options,
    duration_seconds,
    environment_option,
    namespace_option,
)


@click.command("rollback")
@environment_option
@click.option("--to-revision", type=int, default=None, help="Deployment revision to restore.")
@click.option(
    "--timeout", default="10m", metavar="DURATION", show_default=True, help="Give up waiting after."
)
@click.option(
    "--lock-timeout",
    default="5m",
    metavar="DURATION",
    show_default=True,
    help="Wait this long for the lock.",
)
@namespace_option
@cluster_options
@click.pass_context
def command(
    ctx: click.Context,
    environment: str,
    to_revision: int | None,
    timeout: str,
    lock_timeout: str,
    namespace: str | None,
    kubeconfig: str | None,
    context: str | None,
) -> None:
    """Roll ENV back to the recorded stable revision (or --to-revision N) and wait for it."""
    from ci_deploy.kube.cancel import CancelToken
    from ci_deploy.platforms import detect_platform
    from ci_deploy.rollout.options import DeployOptions
    from ci_deploy.rollout.rollback import rollback
    from ci_deploy.rollout.signals import cancel_on_signals

    opts = DeployOptions(
        config_path=ctx.obj["config_path"],
        environment=environment,
        image=None,
        timeout=duration_seconds(timeout, "--timeout"),
        kubeconfig=kubeconfig,
        context=context,
        lock_timeout=duration_seconds(lock_timeout, "--lock-timeout"),
        namespace=namespace,
    )
    platform = detect_platform()
    cancel, urgent = CancelToken(), CancelToken()
    with cancel_on_signals(cancel, urgent):
        record = rollback(opts, to_revision, platform, cancel)
    if record is not None:
        platform.log(f"{record.phase}: {record.previous_revision} in {record.environment}")
