"""``ci-deploy verify --env ENV``: run the configured checks against what is live."""

from __future__ import annotations

import click

from ci_deploy.commands._rollout_options import (
    cluster_options,
    deploy_options,
    environment_option,
    namespace_option,
)


@click.command("verify")
@environment_option
@namespace_option
@cluster_options
@click.pass_context
def command(ctx: click.Context, /, **_options: object) -> None:
    """Check ENV now: the live Deployment is ready, the smoke checks (analysis.smoke) pass
    and the metric rules (canary.rollback_triggers on the stable track;
    blue_green.rollback_triggers on the serving colour) hold. Reads only. Exit 0
    when everything passes; 1 when a check fails or cannot be judged (inconclusive); 2 for
    bad input or nothing configured to verify."""
    from ci_deploy.errors import EXIT_FAILED
    from ci_deploy.platforms import detect_platform
    from ci_deploy.rollout.verification import verify

    platform = detect_platform()
    outcome = verify(deploy_options(ctx), platform)
    platform.log(outcome.summary)
    if outcome.result != "pass":
        ctx.exit(EXIT_FAILED)
