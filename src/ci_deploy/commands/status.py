"""``ci-deploy status --env ENV [--json]``: what is live, the last attempt, the revisions."""

from __future__ import annotations

import json

import click

from ci_deploy.commands._rollout_options import (
    cluster_options,
    deploy_options,
    environment_option,
    namespace_option,
)


@click.command("status")
@environment_option
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print JSON for machines (schema: docs/status.schema.json).",
)
@namespace_option
@cluster_options
@click.pass_context
def command(ctx: click.Context, /, as_json: bool, **_options: object) -> None:
    """Show what is live in ENV, what was last attempted, and the revisions to roll back to."""
    from ci_deploy.rollout.status import read_status, status_table

    status = read_status(deploy_options(ctx))
    if as_json:
        click.echo(json.dumps(status.as_dict(), indent=2, sort_keys=False))
    else:
        click.echo(status_table(status))
