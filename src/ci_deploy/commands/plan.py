"""``ci-deploy plan --env ENV [--image IMG]``: print the steps a deploy would execute."""

from __future__ import annotations

import click

from ci_deploy.commands._rollout_options import (
    cluster_options,
    deploy_options,
    environment_option,
    override_options,
    timeout_option,
)


@click.command("plan")
@environment_option
@click.option(
    "--image",
    default=None,
    help="Image to plan for, as deploy takes it [default: the image live now].",
)
@timeout_option("Rollout timeout.")
@override_options
@cluster_options
@click.pass_context
def command(ctx: click.Context, /, **_options: object) -> None:
    """Print the plan of a deploy: the same function `deploy` executes; changes nothing."""
    from ci_deploy.rollout.deploy import build_plan

    plan, _ = build_plan(deploy_options(ctx))
    click.echo(plan.render())
