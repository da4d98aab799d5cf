"""Which release of ci-deploy this is: the package resource ``ci_deploy/release.json``.

``scripts/release.sh`` writes the file into the release commit (so the wheel and the image
built from it carry it); the default branch has none, and an install from it is a development
install. Its shape, exactly::

    {"version": "v1.2.3", "action": "owner/ci-deploy",
     "image": "ghcr.io/owner/ci-deploy", "gitlab_project": null}

``action`` is the GitHub repository of the action, ``image`` the published image without a
tag, ``gitlab_project`` the GitLab project that mirrors the template (or null).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from ci_deploy.errors import UserInputError

if TYPE_CHECKING:
    from importlib.abc import Traversable

RELEASE_FILE = "release.json"

# key -> (pattern, what it is); the same forms scripts/release.sh accepts
_FIELDS: dict[str, tuple[str, str]] = {
    "version": (r"v\d+\.\d+\.\d+", "vX.Y.Z"),
    "action": (r"[\w.-]+/[\w.-]+", "OWNER/NAME (a GitHub repository)"),
    "image": (r"[a-z0-9.:-]+(/[a-z0-9._-]+)+", "REGISTRY/NAME without a tag"),
    "gitlab_project": (r"[\w.-]+(/[\w.-]+)+", "GROUP/NAME or null"),
}


@dataclass(frozen=True)
class ReleaseInfo:
    """The published artefacts of the installed release."""

    version: str  # "v1.2.3"
    action_repository: str  # "owner/ci-deploy" on GitHub
    image: str  # "ghcr.io/owner/ci-deploy", no tag
    gitlab_project: str | None = None  # "group/ci-deploy" on GitLab, if mirrored there

    @property
    def action_ref(self) -> str:
        """``owner/ci-deploy@v1.2.3``: what a workflow's ``uses:`` names."""
        return f"{self.action_repository}@{self.version}"

    @property
    def gitlab_template(self) -> str:
        """The include of this release's GitLab template, as ``--gitlab-template`` spells it."""
        if self.gitlab_project:
            return f"project:{self.gitlab_project}@{self.version}"
        return (
            f"remote:https://raw.githubusercontent.com/{self.action_repository}/{self.version}"
            "/.gitlab-ci-template.yml"
        )


def release_resource() -> Traversable:
    """Where an installed ci-deploy keeps its ``release.json`` (it may not exist)."""
    return resources.files("ci_deploy") / RELEASE_FILE


def installed_release(resource: Traversable | None = None) -> ReleaseInfo | None:
    """The release this ci-deploy is, or None for a development install (no release.json)."""
    source = release_resource() if resource is None else resource
    if not source.is_file():
        return None
    return parse_release(source.read_text(encoding="utf-8"), str(source))


def parse_release(text: str, source: str) -> ReleaseInfo:
    """``release.json``'s text → ReleaseInfo; anything but the exact shape is an error."""

    def malformed(what: str) -> UserInputError:
        return UserInputError(
            f"{source}: malformed release file: {what}",
            hint="reinstall ci-deploy from a release, or pass the references explicitly "
            "(render pipeline --action-ref / --gitlab-template / --image)",
        )

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise malformed(f"not JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise malformed("expected a JSON object")
    problems = []
    if missing := sorted(set(_FIELDS) - set(data)):
        problems.append(f"missing {', '.join(missing)}")
    if unknown := sorted(set(data) - set(_FIELDS)):
        problems.append(f"unknown {', '.join(unknown)}")
    if problems:
        raise malformed("; ".join(problems))
    for key, (pattern, form) in _FIELDS.items():
        value = data[key]
        if key == "gitlab_project" and value is None:
            continue
        if not isinstance(value, str) or not re.fullmatch(pattern, value):
            raise malformed(f"{key} is {json.dumps(value)}, expected {form}")
    return ReleaseInfo(
        version=data["version"],
        action_repository=data["action"],
        image=data["image"],
        gitlab_project=data["gitlab_project"],
    )
