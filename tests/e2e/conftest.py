"""End-to-end fixtures: a Docker engine and the action image, built once per session."""

from __future__ import annotations

import pytest
from tests.e2e.harness import build_action_image, require_docker


@pytest.fixture(scope="session")
def action_image() -> str:
    """The image built from the repository's Dockerfile, tagged for act's --rebuild=false."""
    require_docker()
    build_action_image()
    from tests.e2e.harness import ACT_IMAGE_TAG

    return ACT_IMAGE_TAG
