"""``ci-deploy config validate`` and ``ci-deploy config show --env ENV``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import click

from ci_deploy.errors import ConfigError


@click.group("config")
def command() -> None:
    """Validate the configuration or show the effective one."""


@contextmanager
def _annotated_errors() -> Iterator[None]:
    """Also report configuration problems as GitHub annotations when running in Actions.

    The plain ``error: file:line:col: …`` lines are printed by ``cli.main`` on every platform;
    on GitHub each problem additionally becomes an ``::error file=…,line=…,col=…::`` command
    so it shows on the file in the pull request.
    """
    try:
        yield
    except ConfigError as exc:
        from ci_deploy.platforms import detect_platform

        platform = detect_platform()
        if platform.name == "github":
            for problem in exc.problems:
                key = f"{problem.key_path}: " if problem.key_path else ""
                extra = f" ({problem.suggestion})" if problem.suggestion else ""
                platform.error(
                    f"{key}{problem.message}{extra}",
                    file=problem.location.file,
                    line=problem.location.line,
                    col=problem.location.column,
                )
        raise


@command.command("validate")
@click.pass_context
def validate(ctx: click.Context) -> None:
    """Check the configuration file; print every problem with file:line:col (exit 2)."""
    from ci_deploy.config import load_config

    with _annotated_errors():
        cfg = load_config(ctx.obj["config_path"])
    envs = ", ".join(f"{e.name} ({e.strategy})" for e in cfg.environments.values())
    click.echo(f"ok: {cfg.source}: app {cfg.app}; environments: {envs}")


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
    from ci_deploy.config.dump import effective_document

    with _annotated_errors():
        cfg = load_config(ctx.obj["config_path"])
    data = effective_document(cfg, environment)
    if output_format == "json":
        click.echo(json.dumps(data, indent=2))
        return
    header = f"# effective configuration of environment '{environment}' from {cfg.source}\n"
    # a wide line limit keeps long values (PromQL queries, URLs) on one line
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10_000)
    click.echo(header + text, nl=False)
