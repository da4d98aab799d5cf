"""``ci-deploy diff --env ENV [--image IMG]``: what a deploy would change, as ``kubectl diff``."""

from __future__ import annotations

import click

from ci_deploy.commands._rollout_options import (
    cluster_options,
    deploy_options,
    environment_option,
    override_options,
    prune_option,
)


@click.command("diff")
@environment_option
@click.option(
    "--image",
    default=None,
    help="Image to diff for, as deploy takes it [default: $CI_DEPLOY_DIGEST, else the image "
    "live now].",
)
@prune_option
@override_options
@cluster_options
@click.pass_context
def command(ctx: click.Context, /, **_options: object) -> None:
    """Show the server-side dry-run diff of every object a deploy would apply, and of what it
    would prune, on stdout (the summary on stderr); changes nothing. Exit 0: no changes;
    1: changes; 2: bad input; 4: the API server refused an object in the dry run, or could not
    be reached.

    Secret values are never shown (``***``; ``*** (before)`` / ``*** (after)`` where they
    change).
    """
    from ci_deploy.errors import NothingChanged
    from ci_deploy.platforms import detect_platform
    from ci_deploy.rollout.deploy import build_diff
    from ci_deploy.text import one_line

    opts = deploy_options(ctx)
    plan, _, changes = build_diff(opts)
    if changes.refused:
        raise NothingChanged(f"the API server refused in a dry run: {changes.refused}")
    platform = detect_platform()

    def out(line: str) -> None:  # the diff itself on stdout (for a file or a pager), inert
        click.echo(platform.redact(one_line(line)))

    for diff in changes.diffs:
        if diff.change == "unchanged":
            continue
        out(f"diff {diff.ref} ({diff.change})")
        for line in diff.text.splitlines():
            out(line)
    for note in changes.notes:
        platform.log(f"note: {note}")
    platform.log(f"{plan.target.app} in {plan.target.environment}: {changes.summary()}")
    ctx.exit(1 if changes.changed else 0)
