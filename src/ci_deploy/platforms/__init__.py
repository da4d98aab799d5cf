"""CI platforms: GitHub Actions, GitLab CI, and plain local runs, behind one protocol.

    from ci_deploy.platforms import detect_platform
    p = detect_platform()   # GITHUB_ACTIONS=true → github; GITLAB_CI=true → gitlab; else local
    p.mask(token); p.log("applying 5 objects")
    with p.group("Rollout"):
        ...
    p.set_outputs({"phase": "Succeeded", "revision": "sha256:…"})

Adding a CI means one module implementing :class:`Platform` and one line in
:func:`detect_platform`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TextIO

from ci_deploy.platforms.base import (
    BUILD_OUTPUT_KEYS,
    OUTPUT_KEYS,
    PROCESS_REDACTOR,
    SCAN_OUTPUT_KEYS,
    Platform,
    Redactor,
    redact,
)

__all__ = [
    "BUILD_OUTPUT_KEYS",
    "OUTPUT_KEYS",
    "PROCESS_REDACTOR",
    "SCAN_OUTPUT_KEYS",
    "Platform",
    "Redactor",
    "detect_platform",
    "platform_named",
    "redact",
]

PLATFORM_NAMES = ("github", "gitlab", "local")


def platform_named(
    name: str,
    environ: Mapping[str, str] | None = None,
    *,
    stream: TextIO | None = None,
    redactor: Redactor | None = None,
) -> Platform:
    """The platform called ``name`` (``github``, ``gitlab`` or ``local``)."""
    if name == "github":
        from ci_deploy.platforms.github import GitHubPlatform

        return GitHubPlatform(environ, stream=stream, redactor=redactor)
    if name == "gitlab":
        from ci_deploy.platforms.gitlab import GitLabPlatform

        return GitLabPlatform(environ, stream=stream, redactor=redactor)
    if name == "local":
        from ci_deploy.platforms.local import LocalPlatform

        return LocalPlatform(environ, stream=stream, redactor=redactor)
    raise ValueError(f"unknown platform {name!r}; expected one of {', '.join(PLATFORM_NAMES)}")


def detect_platform(
    environ: Mapping[str, str] | None = None,
    *,
    stream: TextIO | None = None,
    redactor: Redactor | None = None,
) -> Platform:
    """The platform this process runs on, from the environment.

    ``CI_DEPLOY_PLATFORM`` (github|gitlab|local) overrides detection; else
    ``GITHUB_ACTIONS=true`` → GitHub, ``GITLAB_CI=true`` → GitLab, anything else → local.
    Every object returned shares the process-wide redactor unless one is passed.
    """
    env = os.environ if environ is None else environ
    forced = env.get("CI_DEPLOY_PLATFORM", "").strip().lower()
    if forced:
        name = forced
    elif env.get("GITHUB_ACTIONS") == "true":
        name = "github"
    elif env.get("GITLAB_CI") == "true":
        name = "gitlab"
    else:
        name = "local"
    return platform_named(name, env, stream=stream, redactor=redactor)
