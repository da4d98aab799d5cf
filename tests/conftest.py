"""Shared fixtures.

``sandbox`` / ``bare_sandbox``: a running in-process sandbox cluster (SandboxHandle), with or
without controllers; ``api``: the official kubernetes client configured for ``sandbox``;
``store``: a bare sandbox Store with the controllers running on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kube_sandbox.storage.store import Store
from kube_sandbox.testing import SandboxHandle, running_controllers, running_sandbox

# Test folders whose tests use the Docker engine: they share its images (the action image is
# built once per session and pruned around), so under pytest-xdist they run on one worker, and
# first, since together they take longest. (Not with xdist's loadgroup and xdist_group marks:
# pytest-xdist 3.8 groups by rewriting Item._nodeid, which pytest 9.2 no longer reads.)
DOCKER_FOLDERS = ("e2e", "build")


def on_docker(nodeid: str) -> bool:
    parts = nodeid.split("/")
    return len(parts) > 2 and parts[0] == "tests" and parts[1] in DOCKER_FOLDERS


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not on_docker(item.nodeid))  # stable: the order within each stays


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: unknown under -p no:xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """The Docker tests as one unit of work, every other test a unit of its own."""
    from xdist.scheduler import LoadScopeScheduling

    class DockerTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "docker" if on_docker(nodeid) else nodeid

    return DockerTogether(config, log)


@pytest.fixture(autouse=True)
def _not_in_a_ci_workspace(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests describe local runs: the CI workspace variables of the machine running the suite
    (they decide where templates may be read from) are hidden from every test."""
    for name in ("GITHUB_WORKSPACE", "CI_PROJECT_DIR"):
        monkeypatch.delenv(name, raising=False)


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
def api(sandbox: SandboxHandle) -> Iterator[Any]:
    """A ``kubernetes.client.ApiClient`` for ``sandbox`` (override ``sandbox`` to change it)."""
    from kubernetes import config  # only the tests that talk through the client pay for it

    api_client = config.new_client_from_config(config_file=str(sandbox.kubeconfig))
    try:
        yield api_client
    finally:
        api_client.close()


@pytest.fixture
def store() -> Iterator[Store]:
    """A bare Store with the sandbox controllers running on it (no API server)."""
    with running_controllers() as controlled:
        yield controlled
