"""``ci-deploy render pipeline --platform github|gitlab``: a CI pipeline for this configuration.

Attached to the ``render`` group by ``commands/render.py`` when this module exists.
"""

from __future__ import annotations

from pathlib import Path

import click

from ci_deploy import fileio
from ci_deploy.errors import UserInputError


def _split_names(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise click.BadParameter("expected comma-separated environment names")
    return names


@click.command("pipeline")
@click.option(
    "--platform",
    type=click.Choice(["github", "gitlab"]),
    required=True,
    help="github: a workflow using the action; gitlab: a .gitlab-ci.yml using the template.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the pipeline here (e.g. .github/workflows/deploy.yml) instead of stdout.",
)
@click.option(
    "--environments",
    callback=_split_names,
    help="Environments to deploy to, in order, comma-separated [default: all, file order]. "
    "The last one is gated when there are several.",
)
@click.option("--branch", default="main", show_default=True, help="Branch that deploys.")
@click.option(
    "--action-ref",
    "--action",
    "action_ref",
    metavar="OWNER/REPO@REF",
    help="GitHub: the ci-deploy action the jobs use [default: this release's, e.g. "
    "owner/ci-deploy@v1.2.3].",
)
@click.option(
    "--gitlab-template",
    metavar="INCLUDE",
    help="GitLab: how to include the template: project:GROUP/NAME@REF, local[:PATH] or "
    "remote:https://URL [default: this release's].",
)
@click.option(
    "--image",
    "--tool-image",
    "image",
    metavar="REF",
    help="GitLab: the ci-deploy image of the jobs [default: the one the template pins].",
)
@click.pass_context
def pipeline(
    ctx: click.Context,
    platform: str,
    output: Path | None,
    environments: list[str] | None,
    branch: str,
    action_ref: str | None,
    gitlab_template: str | None,
    image: str | None,
) -> None:
    """Render a complete CI pipeline (workflow or .gitlab-ci.yml) for the configuration.

    It names this release of ci-deploy (its action, or its GitLab template) unless told
    otherwise; a development install needs --action-ref or --gitlab-template. What the
    platform's settings must still provide is printed and written at the top of the file.
    Stages whose ci-deploy verb does not exist yet (build, scan, verify) are left out.
    """
    from ci_deploy.config import load_config
    from ci_deploy.pipelines import plan_pipeline, render_pipeline
    from ci_deploy.release import installed_release

    cfg = load_config(ctx.find_root().obj["config_path"])
    given = action_ref if platform == "github" else gitlab_template
    plan = plan_pipeline(
        cfg,
        platform,
        environments=environments,
        branch=branch,
        release=installed_release() if given is None else None,  # explicit values win
        action_ref=action_ref,
        gitlab_template=gitlab_template,
        tool_image=image,
    )
    text = render_pipeline(plan)
    for note in plan.notes:
        click.echo(f"note: {note}", err=True)
    if output is None:
        click.echo(text, nl=False)
    else:
        write_atomically(output, text)
        click.echo(f"wrote {output}", err=True)
    for item in plan.by_hand:  # also the comment at the top of the file
        click.echo(f"configure by hand: {item}", err=True)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file beside it (no half-written file)."""
    if path.is_dir():
        raise UserInputError(f"-o {path}: is a directory")
    fileio.write_atomically(path, text)
