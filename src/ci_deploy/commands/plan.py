"""``ci-deploy plan --env ENV [--image IMG | --rollback [--to-revision R]]``: print a plan."""

from __future__ import annotations

import click

from ci_deploy.commands._rollout_options import (
    cluster_options,
    deploy_options,
    environment_option,
    override_options,
    prune_option,
    time_scale_option,
    timeout_option,
)


@click.command("plan")
@environment_option
@click.option(
    "--image",
    default=None,
    help="Image to plan for, as deploy takes it [default: $CI_DEPLOY_DIGEST, else the image "
    "live now].",
)
@click.option(
    "--rollback",
    "rollback",
    is_flag=True,
    help="Print the plan of `ci-deploy rollback` instead (with --to-revision as it takes it).",
)
@click.option(
    "--to-revision",
    default=None,
    metavar="NUMBER|IMAGE",
    help="With --rollback: the revision to restore, as `ci-deploy rollback` takes it.",
)
@prune_option
@timeout_option("Rollout timeout.")
@time_scale_option
@override_options
@cluster_options
@click.pass_context
def command(
    ctx: click.Context, /, rollback: bool, to_revision: str | None, **_options: object
) -> None:
    """Print the plan of a deploy (or of a rollback): the same function that runs it; changes
    nothing."""
    if to_revision is not None and not rollback:
        raise click.UsageError("--to-revision goes with --rollback")
    if rollback:
        if ctx.params.get("image") is not None:
            raise click.UsageError("--image is for a deploy's plan; a rollback restores a revision")
        from ci_deploy.rollout.rollback import NothingToDo, build_rollback_plan

        made = build_rollback_plan(deploy_options(ctx), to_revision)
        click.echo(
            f"nothing to do: {made.reason}" if isinstance(made, NothingToDo) else made.render()
        )
        return
    from ci_deploy.rollout.deploy import build_plan

    plan, _ = build_plan(deploy_options(ctx))
    click.echo(plan.render())
