"""``ci-deploy abort --env ENV``: undo a canary or blue-green rollout in progress."""

from __future__ import annotations

import click

from ci_deploy.commands._rollout_options import (
    cluster_options,
    deploy_options,
    environment_option,
    lock_timeout_option,
    lock_ttl_option,
    namespace_option,
    timeout_option,
)


@click.command("abort")
@environment_option
@timeout_option("Give up waiting for the stable version after.")
@lock_timeout_option
@lock_ttl_option
@namespace_option
@cluster_options
@click.pass_context
def command(ctx: click.Context, /, **_options: object) -> None:
    """Send all traffic of ENV back to the stable version and remove the new one (paused or
    interrupted rollouts), from the state in the cluster. Exit 0 once aborted; 2 when nothing
    is in progress; 3 when the abort itself failed (a human must act)."""
    from ci_deploy.kube.cancel import CancelToken
    from ci_deploy.platforms import detect_platform
    from ci_deploy.rollout.progressive import abort
    from ci_deploy.rollout.signals import cancel_on_signals

    opts = deploy_options(ctx)
    platform = detect_platform()
    cancel, urgent = CancelToken(), CancelToken()
    with cancel_on_signals(cancel, urgent):
        outcome = abort(opts, platform, cancel, urgent)
    platform.log(outcome.summary)
