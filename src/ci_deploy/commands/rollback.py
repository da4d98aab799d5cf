"""``ci-deploy rollback --env ENV [--to-revision NUMBER|IMAGE]``: restore an earlier revision."""

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


@click.command("rollback")
@environment_option
@click.option(
    "--to-revision",
    default=None,
    metavar="NUMBER|IMAGE",
    help="Restore this revision: a NUMBER that `ci-deploy status` lists, or an image "
    "(REPOSITORY:TAG, :TAG or @sha256:DIGEST; the newest revision running it).",
)
@timeout_option("Give up waiting after.")
@lock_timeout_option
@lock_ttl_option
@namespace_option
@cluster_options
@click.pass_context
def command(ctx: click.Context, /, to_revision: str | None, **_options: object) -> None:
    """Roll ENV back to the recorded stable revision (or --to-revision) and wait for it."""
    from ci_deploy.kube.cancel import CancelToken
    from ci_deploy.platforms import detect_platform
    from ci_deploy.rollout.rollback import rollback
    from ci_deploy.rollout.signals import cancel_on_signals

    opts = deploy_options(ctx)
    platform = detect_platform()
    cancel, urgent = CancelToken(), CancelToken()
    with cancel_on_signals(cancel, urgent):
        result = rollback(opts, to_revision, platform, cancel)
    platform.log(result.summary)
