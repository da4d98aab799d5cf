"""``ci-deploy build [--push]``: build the image, tag it with the commit, push, output the digest.

Exit codes: 0 built (and pushed), 1 the build or push failed, 2 bad input, 4 no Docker CLI or
engine (nothing was built).
"""

from __future__ import annotations

import click

from ci_deploy.commands._rollout_options import duration_seconds


@click.command("build")
@click.option(
    "--context-dir",
    "context",
    default=None,
    metavar="DIR",
    help="Build context, relative to the configuration file [default: build.context or .].",
)
@click.option(
    "--file",
    "file",
    default=None,
    metavar="PATH",
    help="Dockerfile, relative to the context [default: build.file or Dockerfile].",
)
@click.option(
    "--repository",
    default=None,
    metavar="REPO",
    help="Image repository to tag and push [default: image.repository].",
)
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="TAG",
    help="Another tag besides the commit SHA (repeatable; adds to build.tags).",
)
@click.option("--build-arg", "build_args", multiple=True, metavar="NAME=VALUE", help="Repeatable.")
@click.option("--label", "labels", multiple=True, metavar="NAME=VALUE", help="Repeatable.")
@click.option("--target", default=None, help="Build stage to build.")
@click.option("--network", default=None, help="Network of RUN steps (e.g. host).")
@click.option(
    "--push/--no-push",
    default=False,
    show_default=True,
    help="Push every tag and output the digest the registry recorded.",
)
@click.option(
    "--timeout",
    default="30m",
    metavar="DURATION",
    show_default=True,
    help="Give up the build (and each push) after.",
)
@click.pass_context
def command(ctx: click.Context, /, **options: object) -> None:
    """Build the application image with the Docker CLI (BuildKit when available), tagged
    REPO:<commit SHA> plus any other tags, with OCI labels (source, revision, created).
    With --push, push it and output `digest` (REPO@sha256:…), which deploy and scan take
    by default in later jobs; `image` is REPO:<commit SHA>."""
    from ci_deploy.build.steps import build_and_report
    from ci_deploy.platforms import detect_platform

    options["timeout"] = duration_seconds(str(options["timeout"]), "--timeout")
    build_and_report(ctx.obj["config_path"], options, detect_platform())
