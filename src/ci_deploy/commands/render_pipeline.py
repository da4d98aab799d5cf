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
    "--action",
    default="org/ci-deploy@v1",
    show_default=True,
    help="GitHub: the ci-deploy action to use (OWNER/REPO@REF).",
)
@click.option(
    "--gitlab-template",
    default="project:org/ci-deploy@v1",
    show_default=True,
    help="GitLab: how to include the template: project:GROUP/NAME@REF, local[:PATH] "
    "or remote:https://URL.",
)
@click.option("--tool-image", default=None, help="GitLab: the ci-deploy image for the jobs.")
@click.pass_context
def pipeline(
    ctx: click.Context,
    platform: str,
    output: Path | None,
    environments: list[str] | None,
    branch: str,
    action: str,
    gitlab_template: str,
    tool_image: str | None,
) -> None:
    """Render a complete CI pipeline (workflow or .gitlab-ci.yml) for the configuration.

    Stages whose ci-deploy verb does not exist yet (build, scan, verify) are left out.
    """
    from ci_deploy.config import load_config
    from ci_deploy.pipelines import plan_pipeline, render_pipeline

    cfg = load_config(ctx.find_root().obj["config_path"])
    plan = plan_pipeline(
        cfg,
        platform,
        environments=environments,
        branch=branch,
        action=action,
        gitlab_template=gitlab_template,
        tool_image=tool_image,
    )
    text = render_pipeline(plan)
    for note in plan.notes:
        click.echo(f"note: {note}", err=True)
    if output is None:
        click.echo(text, nl=False)
        return
    write_atomically(output, text)
    click.echo(f"wrote {output}", err=True)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file beside it (no half-written file)."""
    if path.is_dir():
        raise UserInputError(f"-o {path}: is a directory")
    fileio.write_atomically(path, text)
