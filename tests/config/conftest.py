"""Configuration tests describe local runs: CI variables of the machine running them are hidden
(a test that wants GitHub behaviour sets ``GITHUB_ACTIONS`` itself)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _not_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    names = ("GITHUB_ACTIONS", "GITLAB_CI", "CI_DEPLOY_PLATFORM", "CI_DEPLOY_CONFIG")
    for name in (*names, "GITHUB_WORKSPACE", "CI_PROJECT_DIR"):
        monkeypatch.delenv(name, raising=False)
