"""The build step as the CLI runs it: plan, build, publish outputs and the job summary."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ci_deploy.build import BuildOptions, BuildResult, plan_build, run_build
from ci_deploy.build.docker import Docker
from ci_deploy.config import load_config
from ci_deploy.platforms import Platform
from ci_deploy.text import markdown_code


def build_and_report(
    config_path: str, options: Mapping[str, Any], platform: Platform
) -> BuildResult:
    """Build (and push) as ``options`` say; outputs ``image`` and ``digest``."""
    cfg = load_config(config_path)
    opts = BuildOptions(
        context=options.get("context"),
        file=options.get("file"),
        repository=options.get("repository"),
        tags=tuple(options.get("tags") or ()),
        build_args=tuple(options.get("build_args") or ()),
        labels=tuple(options.get("labels") or ()),
        target=options.get("target"),
        network=options.get("network"),
        push=bool(options.get("push")),
        timeout=float(options.get("timeout") or 1800.0),
    )
    env = dict(os.environ)
    request = plan_build(cfg, opts, env)
    if request.login is not None:
        password = env.get(request.login.password_env, "")
        if password:
            platform.mask(password)
    docker = Docker.find(env, platform.log)
    with platform.group(f"docker build {request.references[0]}"):
        result = run_build(request, docker)
    platform.set_outputs(result.outputs())
    platform.summary(_markdown(result), _text(result))
    if result.digest:
        platform.log(f"image {result.digest} (deploy and scan take it as --image)")
    else:
        platform.log(
            f"image {result.image} built, not pushed (--push pushes it and outputs its digest)"
        )
    return result


def _markdown(result: BuildResult) -> str:
    rows = [
        ("Image", result.image),
        ("Digest", result.digest or "not pushed"),
        ("Tags", ", ".join(result.references)),
        ("Built", f"{result.build_seconds:.1f}s ({result.builder})"),
    ]
    if result.digest:
        rows.append(("Pushed", f"{result.push_seconds:.1f}s"))
    lines = ["### ci-deploy build", "", "| | |", "| --- | --- |"]
    lines += [f"| {name} | {markdown_code(value)} |" for name, value in rows]
    return "\n".join(lines) + "\n"


def _text(result: BuildResult) -> str:
    lines = [f"image:  {result.image}", f"digest: {result.digest or 'not pushed'}"]
    return "\n".join(lines)
