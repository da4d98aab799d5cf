"""What the sources that run a tool (Kustomize, Helm) share: the repository bound of their
paths, and one run of the tool with a reduced environment and its stderr kept short."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from ci_deploy.config.load import repository_root
from ci_deploy.render.jinja import display_path

TIMEOUT = 120.0
_TAIL_LINES = 8


def outside_repository(config_file: str, path: Path) -> str | None:
    """Why ``path`` (symlinks followed) is not inside the repository, or None when it is."""
    root, what = repository_root(config_file)
    real = Path(os.path.realpath(path))
    if real.is_relative_to(Path(os.path.realpath(root))):
        return None
    return f"{display_path(path)} resolves to {real}, outside the repository ({root}, {what})"


def passed_environment(names: tuple[str, ...]) -> dict[str, str]:
    """The variables of this process named in ``names`` (none of the job's tokens)."""
    return {k: v for k, v in os.environ.items() if k in names}


def run_tool(argv: list[str], env: Mapping[str, str]) -> tuple[str, str | None]:
    """(the last lines of stderr, stdout — None when the tool failed or timed out)."""
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=TIMEOUT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"{argv[0]} did not finish within {TIMEOUT:g}s", None
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    said = " | ".join(lines[-_TAIL_LINES:]) or "no output"
    return said, done.stdout if done.returncode == 0 else None
