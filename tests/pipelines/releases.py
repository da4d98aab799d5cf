"""The release the pipeline tests render for: what an installed release's release.json says."""

from __future__ import annotations

import json

from ci_deploy.release import ReleaseInfo

RELEASE = ReleaseInfo(
    version="v1.2.3",
    action_repository="owner/ci-deploy",
    image="ghcr.io/owner/ci-deploy",
    gitlab_project=None,
)
# The same as the release.json scripts/release.sh writes.
RELEASE_JSON = json.dumps(
    {
        "version": RELEASE.version,
        "action": RELEASE.action_repository,
        "image": RELEASE.image,
        "gitlab_project": RELEASE.gitlab_project,
    }
)
# What no rendered pipeline may name by default: the placeholders of the development tree.
PLACEHOLDERS = ("org/ci-deploy@v1", "ghcr.io/org/ci-deploy:v1", 'project: "org/ci-deploy"')
