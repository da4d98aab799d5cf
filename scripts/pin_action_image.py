#!/usr/bin/env python3
"""Point action.yml, the GitLab template and the GitLab component at a published image: the
release step of .github/workflows/release.yml (scripts/release.sh).

On the default branch ``runs.image`` is ``Dockerfile`` (every job builds the image: development,
act runs). A release rewrites that one line to ``docker://REGISTRY/IMAGE:vX.Y.Z@sha256:…`` so
that ``uses: owner/ci-deploy@vX`` pulls the image the release pipeline built, scanned and
signed, by digest, and builds nothing. Only that line changes (comments and the rest stay).

    python3 scripts/pin_action_image.py action.yml ghcr.io/owner/ci-deploy:v1.2.3@sha256:<64 hex>
    python3 scripts/pin_action_image.py --check action.yml    # which form it is in

The GitLab files get the same reference, without ``docker://``, as the image their jobs run in
(on the default branch a placeholder, ``ghcr.io/org/ci-deploy:v1``, that no registry serves):
``CI_DEPLOY_TOOL_IMAGE`` of ``.gitlab-ci-template.yml`` and the ``tool-image`` input's default
of ``templates/ci-deploy/template.yml``; a file is told apart by its name. With ``--tools``,
the image of their build and scan jobs (``CI_DEPLOY_TOOLS_IMAGE``, the ``tools-image`` input;
placeholder ``ghcr.io/org/ci-deploy:v1-tools``) gets ``NAME:vX.Y.Z-tools@sha256:…``.

    python3 scripts/pin_action_image.py --tools .gitlab-ci-template.yml \
        ghcr.io/owner/ci-deploy:v1.2.3-tools@sha256:<64 hex>

Exit 0 when done (or, with --check, always, printing ``development`` or the image), 2 for a
reference that is not ``NAME:vX.Y.Z@sha256:<64 hex>`` or an action.yml that is not in the
development form (already pinned: a release is made from the default branch's file).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DEVELOPMENT = "  image: Dockerfile"
REFERENCE = re.compile(
    r"^(?P<name>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)+)"
    r":(?P<tag>v[0-9]+\.[0-9]+\.[0-9]+)@(?P<digest>sha256:[0-9a-f]{64})$"
)
IMAGE_LINE = re.compile(r"^  image: (?P<value>\S+)\s*$", re.M)


def pinned(text: str, reference: str) -> str:
    """``text`` (action.yml) with ``runs.image`` set to ``docker://reference``."""
    if REFERENCE.match(reference) is None:
        raise ValueError(
            f"expected REGISTRY/NAME:vX.Y.Z@sha256:<64 hex digits>, found {reference!r}"
        )
    lines = text.splitlines(keepends=True)
    runs = next((i for i, line in enumerate(lines) if line.rstrip() == "runs:"), None)
    if runs is None:
        raise ValueError("action.yml has no top-level runs: block")
    for i in range(runs + 1, len(lines)):
        line = lines[i]
        if line.strip() and not line.startswith(" "):
            break  # the next top-level key: runs has no image line
        if line.rstrip("\n") == DEVELOPMENT:
            lines[i] = f"  image: docker://{reference}\n"
            return "".join(lines)
        if line.startswith("  image:"):
            raise ValueError(
                f"runs.image is {line.split(':', 1)[1].strip()!r}, not Dockerfile: make a "
                "release from the default branch's action.yml"
            )
    raise ValueError("runs: has no `image: Dockerfile` line")


# The development line of each GitLab file and its released form: the deploy jobs' image, and
# with --tools the build and scan jobs' image (the Dockerfile's tools target, tagged vX.Y.Z-tools).
GITLAB_LINES = {
    ".gitlab-ci-template.yml": "  CI_DEPLOY_TOOL_IMAGE: {}",
    "template.yml": "      default: {}",  # the tool-image input's default
}
GITLAB_TOOLS_LINES = {
    ".gitlab-ci-template.yml": "  CI_DEPLOY_TOOLS_IMAGE: {}",
    "template.yml": "      default: {}",  # the tools-image input's default
}
PLACEHOLDER = "ghcr.io/org/ci-deploy:v1"
TOOLS_PLACEHOLDER = "ghcr.io/org/ci-deploy:v1-tools"
TOOLS_REFERENCE = re.compile(REFERENCE.pattern.replace(r"[0-9]+)@", r"[0-9]+-tools)@"))


def pinned_gitlab(text: str, reference: str, name: str, tools: bool = False) -> str:
    """``text`` (the GitLab template or component, by file ``name``) with its jobs' image (with
    ``tools``, its build and scan jobs' image) set to ``reference``."""
    pattern, suffix = (TOOLS_REFERENCE, "-tools") if tools else (REFERENCE, "")
    if pattern.match(reference) is None:
        raise ValueError(
            f"expected REGISTRY/NAME:vX.Y.Z{suffix}@sha256:<64 hex digits>, found {reference!r}"
        )
    line = (GITLAB_TOOLS_LINES if tools else GITLAB_LINES)[name]
    development = line.format(TOOLS_PLACEHOLDER if tools else PLACEHOLDER)
    lines = text.splitlines(keepends=True)
    at = [i for i, each in enumerate(lines) if each.rstrip("\n") == development]
    if len(at) != 1:
        raise ValueError(
            f"expected one line {development.strip()!r}, found {len(at)}: make a release "
            "from the default branch's file"
        )
    lines[at[0]] = line.format(reference) + "\n"
    return "".join(lines)


def form(text: str) -> str:
    """``development`` (builds Dockerfile) or the ``docker://`` image the action runs."""
    runs = text.split("\nruns:\n", 1)
    match = IMAGE_LINE.search(runs[1]) if len(runs) == 2 else None
    if match is None:
        return "unknown"
    value = match.group("value")
    return "development" if value == "Dockerfile" else value


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--check":
        print(form(Path(argv[1]).read_text(encoding="utf-8")))
        return 0
    tools = bool(argv) and argv[0] == "--tools"
    if tools:
        argv = argv[1:]
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print(
            "usage: pin_action_image.py [--check] ACTION_YML [REFERENCE]\n"
            "       pin_action_image.py [--tools] GITLAB_FILE REFERENCE",
            file=sys.stderr,
        )
        return 2
    path = Path(argv[0])
    known = list(GITLAB_LINES) if tools else ["action.yml", *GITLAB_LINES]
    if path.name not in known:
        print(
            f"error: {path}: not a file this pins{' with --tools' if tools else ''} "
            f"(expected one of {', '.join(known)})",
            file=sys.stderr,
        )
        return 2
    try:
        original = path.read_text(encoding="utf-8")
        if path.name == "action.yml":
            text = pinned(original, argv[1])
        else:
            text = pinned_gitlab(original, argv[1], path.name, tools)
    except (OSError, ValueError) as exc:
        print(f"error: {path}: {exc}", file=sys.stderr)
        return 2
    path.write_text(text, encoding="utf-8")
    prefix = "runs.image is docker://" if path.name == "action.yml" else "the jobs' image is "
    if tools:
        prefix = "the build and scan jobs' image is "
    print(f"{path}: {prefix}{argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
