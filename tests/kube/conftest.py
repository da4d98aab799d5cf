"""Fixtures for the Kubernetes layer: a client of a sandbox without controllers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ci_deploy.kube.client import KubeClient, connect
from kube_sandbox.testing import SandboxHandle


@pytest.fixture
def cluster(bare_sandbox: SandboxHandle) -> Iterator[tuple[SandboxHandle, KubeClient]]:
    """The sandbox (for faults and white-box checks) and a client of it, closed afterwards."""
    client = connect(str(bare_sandbox.kubeconfig))
    try:
        yield bare_sandbox, client
    finally:
        client.close()


@pytest.fixture
def client(cluster: tuple[SandboxHandle, KubeClient]) -> KubeClient:
    """Just the client of ``cluster``."""
    return cluster[1]
