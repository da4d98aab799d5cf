"""``ci-deploy config validate`` and ``ci-deploy config show --env ENV``."""

from __future__ import annotations

import json

import click


@click.group("config")
def command() -> None:
    """Validate the configuration or show the effective one."""


@command.command("validate")
@click.option(
    "--no-render",
    is_flag=True,
    help="Check only the configuration file; do not render the environments' manifests.",
)
@click.pass_context
def validate(ctx: click.Context, no_render: bool) -> None:
    """Check the configuration and render every environment offline, as deploy would.

    Every problem (of the file and of every environment's templates and objects) is printed
    with file:line; exit 2.
    """
    from ci_deploy.config import load_config

    cfg = load_config(ctx.obj["config_path"])
    if no_render:
        envs = ", ".join(f"{e.name} ({e.strategy})" for e in cfg.environments.values())
        click.echo(f"ok: {cfg.source}: app {cfg.app}; environments: {envs}")
        click.echo("manifests not rendered (--no-render)")
        return
    from ci_deploy.render.check import placeholder_image, render_every_environment
    from ci_deploy.render.validate import DEFAULT_KUBE_VERSION

    image = placeholder_image(cfg)
    rendered = render_every_environment(cfg, image)
    envs = ", ".join(f"{e.name} ({e.strategy}, {_objects(e.objects)})" for e in rendered)
    click.echo(f"ok: {cfg.source}: app {cfg.app}; environments: {envs}")
    click.echo(
        f"rendered every environment offline with the placeholder image {image}, "
        f"objects checked against the Kubernetes {DEFAULT_KUBE_VERSION} schemas"
    )


def _objects(count: int) -> str:
    return "1 object" if count == 1 else f"{count} objects"


@command.command("show")
@click.option("--env", "environment", required=True, help="Environment to show.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["yaml", "json"]),
    default="yaml",
    show_default=True,
    help="Output format.",
)
@click.pass_context
def show(ctx: click.Context, environment: str, output_format: str) -> None:
    """Print the effective configuration of one environment (defaults merged in)."""
    import yaml

    from ci_deploy.config import load_config
    from ci_deploy.config.dump import effective_document, host_notes

    cfg = load_config(ctx.obj["config_path"])
    data = effective_document(cfg, environment)
    if output_format == "json":
        click.echo(json.dumps(data, indent=2))
        return
    notes = [f"# effective configuration of environment '{environment}' from {cfg.source}"]
    notes += [f"# {note}" for note in host_notes(cfg, environment)]
    header = "\n".join(notes) + "\n"
    # a wide line limit keeps long values (PromQL queries, URLs) on one line
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10_000)
    click.echo(header + text, nl=False)
