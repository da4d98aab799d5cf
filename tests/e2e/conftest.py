"""End-to-end fixtures: the action image (built once per session on a Docker engine) and a
sandbox cluster per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.harness import build_action_image, require_docker

from kube_sandbox.testing import SandboxHandle, running_sandbox


@pytest.fixture(scope="session")
def action_image() -> str:
    """The image built from the repository's Dockerfile, tagged for act's --rebuild=false."""
    require_docker()
    build_action_image()
    from tests.e2e.harness import ACT_IMAGE_TAG

    return ACT_IMAGE_TAG


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SandboxHandle]:
    """A sandbox cluster (with controllers) for the pipelines to deploy to, served as
    ``sandbox serve`` serves it: TLS (the kubeconfig carries the CA) and a bearer token; with
    the synthetic Prometheus that judges the example's canary (PROMETHEUS_URL in the jobs)."""
    sandbox = running_sandbox(
        tmp_path / "sandbox", pod_ready_delay=0.05, tls=True, synthetic_prometheus=True
    )
    with sandbox as sb:
        yield sb
