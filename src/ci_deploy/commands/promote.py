"""``ci-deploy promote --env ENV [--full]``: continue a paused canary or blue-green rollout."""

from __future__ import annotations

import click

from ci_deploy.commands._rollout_options import (
    cluster_options,
    deploy_options,
    environment_option,
    lock_timeout_option,
    lock_ttl_option,
    namespace_option,
    prune_option,
    timeout_option,
)


@click.command("promote")
@environment_option
@click.option("--full", is_flag=True, help="Pass the remaining manual gates: run to the end.")
@timeout_option("Give up waiting for a step's pods after.")
@lock_timeout_option
@lock_ttl_option
@prune_option
@namespace_option
@cluster_options
@click.pass_context
def command(ctx: click.Context, /, full: bool, **_options: object) -> None:
    """Continue the paused rollout of ENV from its gate, from the state in the cluster (no
    manifests or image needed). Exit 0 at the next gate or at the end; 1 when a step fails and
    the rollout was rolled back; 2 when nothing is paused there."""
    from ci_deploy.kube.cancel import CancelToken
    from ci_deploy.platforms import detect_platform
    from ci_deploy.rollout.progressive import promote
    from ci_deploy.rollout.signals import cancel_on_signals

    opts = deploy_options(ctx)
    platform = detect_platform()
    cancel, urgent = CancelToken(), CancelToken()
    with cancel_on_signals(cancel, urgent):
        outcome = promote(opts, full, platform, cancel, urgent)
    platform.log(outcome.summary)
