"""Shared fixtures.

``sandbox`` / ``bare_sandbox``: a running in-process sandbox cluster (SandboxHandle), with or
without controllers; ``store``: a bare sandbox Store with the controllers running on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ci_deploy.sandbox.store import Store
from ci_deploy.sandbox.testing import SandboxHandle, running_controllers, running_sandbox


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    """A sandbox API server with controllers, on a free loopback port, stopped afterwards."""
    with running_sandbox(tmp_path) as handle:
        yield handle


@pytest.fixture
def bare_sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    """A sandbox API server without controllers: objects change only through requests."""
    with running_sandbox(tmp_path, controllers=False) as handle:
        yield handle


@pytest.fixture
def store() -> Iterator[Store]:
    """A bare Store with the sandbox controllers running on it (no API server)."""
    with running_controllers() as controlled:
        yield controlled
