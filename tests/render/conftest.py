"""Render tests describe local runs: the CI workspace variables of the machine running them
(which decide where templates may be read from) are hidden."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _not_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_ACTIONS", "GITLAB_CI"):  # the workspace ones: tests/conftest.py
        monkeypatch.delenv(name, raising=False)
