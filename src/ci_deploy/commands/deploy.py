"""``ci-deploy deploy --env ENV --image IMG``: apply, watch, roll back on failure.

Exit codes: 0 deployed and verified (or already deployed), 1 failed and what it changed was
restored, 2 bad input (nothing changed), 3 a human must act, 4 failed before changing anything.
"""

from __future__ import annotations

import click

from ci_deploy.commands._rollout_options import (
    cluster_options,
    deploy_options,
    environment_option,
    lock_timeout_option,
    lock_ttl_option,
    override_options,
    prune_option,
    time_scale_option,
    timeout_option,
)


@click.command("deploy")
@environment_option
@click.option(
    "--image",
    default=None,
    help="Image to deploy: REPO:TAG, REPO@DIGEST, or :TAG / @DIGEST of the configured "
    "repository [default: $CI_DEPLOY_DIGEST, the digest a build job pushed; else the image "
    "live now, i.e. a redeploy with the current configuration].",
)
@timeout_option("Give up the rollout after.")
@lock_timeout_option
@click.option("--no-rollback", is_flag=True, help="On failure, leave the failed rollout in place.")
@click.option(
    "--no-rollback-on-cancel", is_flag=True, help="On SIGTERM/SIGINT, stop without rolling back."
)
@click.option(
    "--dry-run", is_flag=True, help="Print the plan, let the API server validate; change nothing."
)
@click.option(
    "--no-pause",
    is_flag=True,
    help="Pass every manual gate of a canary or blue-green rollout (run it to the end).",
)
@prune_option
@lock_ttl_option
@time_scale_option
@override_options
@cluster_options
@click.pass_context
def command(
    ctx: click.Context,
    /,
    no_rollback: bool,
    no_rollback_on_cancel: bool,
    dry_run: bool,
    **_options: object,
) -> None:
    """Deploy IMAGE to ENV: apply, watch the rollout, roll back automatically on failure."""
    from ci_deploy.kube.cancel import CancelToken
    from ci_deploy.platforms import detect_platform
    from ci_deploy.rollout import deploy as engine
    from ci_deploy.rollout.signals import cancel_on_signals

    opts = deploy_options(
        ctx, rollback=not no_rollback, rollback_on_cancel=not no_rollback_on_cancel
    )
    platform = detect_platform()
    if dry_run:
        engine.dry_run(opts, platform)
        return
    cancel, urgent = CancelToken(), CancelToken()
    with cancel_on_signals(cancel, urgent):
        record = engine.deploy(opts, platform, cancel, urgent)
    platform.log(f"{record.phase}: {record.revision} in {record.environment}")
