"""End-to-end fixtures: the action image (built once per session on a Docker engine), a
release of ci-deploy published to a registry on loopback (once per session), and a sandbox
cluster per test."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.build.registry import Registry, running_registry
from tests.e2e.harness import (
    ROOT,
    TOOLS,
    action_checkout,
    build_action_image,
    git_repo,
    require_docker,
)

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


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with running_registry(tmp_path_factory.mktemp("registry")) as running:
        yield running


@pytest.fixture(scope="session")
def release(tmp_path_factory: pytest.TempPathFactory, registry: Registry) -> dict[str, str]:
    """scripts/release.sh v1.2.3 run in a copy of this checkout against the registry: the
    image ``{registry}/acme/ci-deploy``, the repository ``acme/ci-deploy``; ``clone`` is the
    release commit (its action.yml and GitLab files pinned), ``reference`` the pinned image."""
    require_docker()
    tmp = tmp_path_factory.mktemp("release")
    clone = tmp / "ci-deploy"
    # This checkout's files as they are (committed or not), committed in a repository of their
    # own: release.sh releases a clean tree, and the tests test the work tree.
    shutil.copytree(action_checkout(), clone, symlinks=True)
    git_repo(clone, {})
    image = f"{registry.host}/acme/ci-deploy"
    env = {
        **os.environ,
        "VENV": str(ROOT / ".venv"),  # build-image.sh's pip and the wheel cache of the checkout
        "TOOLS": str(TOOLS),
        "PYTHON": str(ROOT / ".venv" / "bin" / "python"),
        "SYFT": str(ROOT / ".venv" / "bin" / "syft"),
        "PLATFORMS": "host",
        "OUT": str(tmp / "out"),
        "REPOSITORY": "acme/ci-deploy",
    }
    started = time.monotonic()
    done = subprocess.run(
        ["bash", "scripts/release.sh", "v1.2.3", image],
        cwd=clone, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    took = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    print(f"scripts/release.sh: {took:.1f}s")
    reference = (tmp / "out" / "image").read_text().strip()
    tools_reference = (tmp / "out" / "tools-image").read_text().strip()
    return {"clone": str(clone), "image": image, "reference": reference,
            "tools_reference": tools_reference, "out": str(tmp / "out"),
            "log": done.stdout + done.stderr}  # fmt: skip
