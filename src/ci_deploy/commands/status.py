"""``ci-deploy status --env ENV [--json]``: the rollout state recorded in the cluster."""

from __future__ import annotations

import json

import click

from ci_deploy.commands._rollout_options import (
    cluster_options,
    environment_option,
    namespace_option,
)


@click.command("status")
@environment_option
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON (for machines).")
@namespace_option
@cluster_options
@click.pass_context
def command(
    ctx: click.Context,
    environment: str,
    as_json: bool,
    namespace: str | None,
    kubeconfig: str | None,
    context: str | None,
) -> None:
    """Show the recorded rollout state of ENV (a table, or JSON with --json)."""
    from ci_deploy.rollout.options import DeployOptions
    from ci_deploy.rollout.status import read_status, status_table

    opts = DeployOptions(
        config_path=ctx.obj["config_path"],
        environment=environment,
        image=None,
        kubeconfig=kubeconfig,
        context=context,
        namespace=namespace,
    )
    status = read_status(opts)
    if as_json:
        click.echo(json.dumps(status.as_dict(), indent=2, sort_keys=False))
    else:
        click.echo(status_table(status))
