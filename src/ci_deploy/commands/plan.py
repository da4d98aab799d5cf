"""``ci-deploy plan --env ENV [--image IMG]``: print the steps a deploy would execute."""

from __future__ import annotations

import click

from ci_deploy.commands._rollout_options import (
    cluster_options,
    duration_seconds,
    environment_option,
    override_options,
)


@click.command("plan")
@environment_option
@click.option("--image", default=None, help="Image to plan for (default: the live one).")
@click.option(
    "--timeout", default="10m", metavar="DURATION", show_default=True, help="Rollout timeout."
)
@override_options
@cluster_options
@click.pass_context
def command(
    ctx: click.Context,
    environment: str,
    image: str | None,
    timeout: str,
    namespace: str | None,
    strategy: str | None,
    kubeconfig: str | None,
    context: str | None,
) -> None:
    """Print the plan of a deploy: the same function `deploy` executes; changes nothing."""
    from ci_deploy.rollout.deploy import build_plan
    from ci_deploy.rollout.options import DeployOptions

    opts = DeployOptions(
        config_path=ctx.obj["config_path"],
        environment=environment,
        image=image,
        timeout=duration_seconds(timeout, "--timeout"),
        kubeconfig=kubeconfig,
        context=context,
        namespace=namespace,
        strategy=strategy,
    )
    plan, _ = build_plan(opts)
    click.echo(plan.render())
