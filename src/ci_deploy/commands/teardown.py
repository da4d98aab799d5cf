"""``ci-deploy teardown --env ENV --confirm ENV``: delete what ci-deploy applied there."""

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


@click.command("teardown")
@environment_option
@click.option(
    "--confirm",
    default=None,
    metavar="ENV",
    help="The environment's name again: nothing is deleted without it (the verb then lists "
    "what it would delete and exits 2).",
)
@timeout_option("Give up waiting for the deleted objects to go after.")
@lock_timeout_option
@lock_ttl_option
@namespace_option
@cluster_options
@click.pass_context
def command(ctx: click.Context, /, confirm: str | None, **_options: object) -> None:
    """Delete every object ci-deploy applied for the app in ENV (its ApplySet: the rendered
    objects, a canary or blue-green colour) and with the Deployment its rollout record.
    Objects ci-deploy did not apply, hook Jobs and the namespace stay. Exit 0 once none is
    left (or there was nothing); 2 without --confirm ENV; 3 when only part was deleted."""
    from ci_deploy.kube.cancel import CancelToken
    from ci_deploy.platforms import detect_platform
    from ci_deploy.rollout.signals import cancel_on_signals
    from ci_deploy.rollout.teardown import teardown

    opts = deploy_options(ctx)
    platform = detect_platform()
    cancel, urgent = CancelToken(), CancelToken()
    with cancel_on_signals(cancel, urgent):
        result = teardown(opts, confirm, platform, cancel)
    platform.log(result.summary)
