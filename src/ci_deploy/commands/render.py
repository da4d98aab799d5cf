"""``ci-deploy render``: manifests (here) and CI pipelines (``render_pipeline``, when present)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import click

from ci_deploy.errors import UserInputError
from ci_deploy.render.validate import DEFAULT_KUBE_VERSION


@click.group("render")
def command() -> None:
    """Render manifests or CI pipelines from the configuration."""


@command.command("manifests")
@click.option("--env", "env_name", required=True, help="Environment to render (e.g. staging).")
@click.option(
    "--image",
    help="Image to run: REPOSITORY:TAG, REPOSITORY@DIGEST, or :TAG / @DIGEST of the configured "
    "repository. Required: render does not ask the cluster which image is live.",
)
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write one file per object (NN-kind-name.yaml) here instead of YAML to stdout.",
)
@click.option(
    "--kube-version",
    default=DEFAULT_KUBE_VERSION,
    show_default=True,
    help="Kubernetes version whose schemas the objects are validated against.",
)
@click.option(
    "--allow-unknown-kinds",
    is_flag=True,
    help="Render kinds that have no schema (custom resources) without validating them.",
)
@click.pass_context
def manifests(
    ctx: click.Context,
    env_name: str,
    image: str | None,
    output_dir: Path | None,
    kube_version: str,
    allow_unknown_kinds: bool,
) -> None:
    """Render and validate the Kubernetes objects of one environment."""
    from ci_deploy.config import load_config
    from ci_deploy.render import render_objects, to_yaml
    from ci_deploy.render.context import choose_image
    from ci_deploy.text import one_line

    cfg = load_config(ctx.find_root().obj["config_path"])
    chosen = choose_image(cfg, cfg.environment(env_name), image, live=None, offline=True)
    if chosen.warning:
        click.echo(f"warning: {chosen.warning}", err=True)
    rendered = render_objects(
        cfg,
        env_name,
        chosen.image,
        kube_version=kube_version,
        allow_unknown_kinds=allow_unknown_kinds,
    )
    for item in rendered:  # on stderr: stdout is the YAML
        for done in item.substitutions:
            click.echo(one_line(f"image set in {done.describe()}"), err=True)
    objects = [item.obj for item in rendered]
    if output_dir is None:
        click.echo(to_yaml(objects), nl=False)
        return
    written = write_output_dir(objects, output_dir)
    click.echo(f"wrote {len(written)} objects to {output_dir}", err=True)


_RENDERED_FILE = re.compile(r"^\d{2,}-[a-z0-9]+-.+\.yaml$")


def output_file_names(objects: list[dict[str, Any]]) -> list[str]:
    """``01-deployment-web-app.yaml`` …: apply order, kind, name."""
    width = max(2, len(str(len(objects))))
    return [
        f"{i:0{width}d}-{str(obj['kind']).lower()}-{obj['metadata']['name']}.yaml"
        for i, obj in enumerate(objects, start=1)
    ]


def write_output_dir(objects: list[dict[str, Any]], output_dir: Path) -> list[Path]:
    """Write one file per object; files of an earlier render that are no longer produced go.

    Files are written to a temporary folder beside ``output_dir`` first, so a failure leaves
    the folder as it was; other files in ``output_dir`` are left alone.
    """
    from ci_deploy.render import to_yaml

    if output_dir.exists() and not output_dir.is_dir():
        raise UserInputError(f"-o {output_dir}: exists and is not a directory")
    parent = output_dir.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    names = output_file_names(objects)
    with tempfile.TemporaryDirectory(dir=parent, prefix=".ci-deploy-render-") as staging:
        for name, obj in zip(names, objects, strict=True):
            (Path(staging) / name).write_text(to_yaml([obj]), encoding="utf-8")
        output_dir.mkdir(exist_ok=True)
        for stale in output_dir.iterdir():
            if _RENDERED_FILE.match(stale.name) and stale.name not in names and stale.is_file():
                stale.unlink()
        for name in names:
            os.replace(Path(staging) / name, output_dir / name)
    return [output_dir / name for name in names]


def _attach_pipeline_verb() -> None:
    # ``render pipeline`` lives in its own module (another part of the project); attach it
    # when it exists. find_spec, not try/except, so a broken module still fails loudly.
    name = "ci_deploy.commands.render_pipeline"
    if importlib.util.find_spec(name) is None:
        return
    pipeline = getattr(importlib.import_module(name), "pipeline", None)
    if not isinstance(pipeline, click.Command):
        raise RuntimeError(f"{name} defines no click command named 'pipeline'")
    command.add_command(pipeline, "pipeline")


_attach_pipeline_verb()
