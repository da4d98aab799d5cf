"""Fixtures for ``ci-deploy build``: a real Docker engine, a real registry, the example service
in a git repository of its own (its Dockerfile at the root, as users keep it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.build.registry import Registry, running_registry

REPO = Path(__file__).resolve().parents[2]
SERVICE = REPO / "examples" / "demo-service"
EXAMPLE_CONFIG = REPO / "examples" / "web-app" / "ci-deploy.yml"
EXAMPLE_REPOSITORY = "registry.example.com/acme/web-app"
# The remote a checkout may carry, with a token in it: never copied into a label.
REMOTE = "https://ci-user:glpat-remote-token-123456@git.example.com/acme/web-app.git"


def require_docker() -> None:
    done = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"no Docker engine (scripts/test starts one): {done.stderr.strip()}")


@dataclass
class App:
    """A git repository holding the demo service and a ci-deploy.yml pushing to ``registry``."""

    root: Path
    registry: Registry
    repository: str
    sha: str

    @property
    def config(self) -> Path:
        return self.root / "ci-deploy.yml"

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GITHUB_", "GITLAB_", "CI_", "INPUT_", "RUNNER_"))
        }
        env.pop("CI", None)
        env.update(extra)
        return env

    def run(self, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ci_deploy", "-c", str(self.config), *args],
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,
        )


def make_app(root: Path, registry: Registry) -> App:
    root.mkdir(parents=True)
    for name in ("app.py", "Dockerfile"):
        shutil.copy(SERVICE / name, root / name)
    repository = f"{registry.host}/acme/web-app"
    (root / "ci-deploy.yml").write_text(
        EXAMPLE_CONFIG.read_text().replace(EXAMPLE_REPOSITORY, repository), encoding="utf-8"
    )
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "demo service"], check=True)
    subprocess.run([*git, "remote", "add", "origin", REMOTE], check=True)
    sha = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return App(root, registry, repository, sha)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    require_docker()
    with running_registry(tmp_path_factory.mktemp("registry")) as reg:
        yield reg


@pytest.fixture
def app(tmp_path: Path, registry: Registry) -> App:
    return make_app(tmp_path / "app", registry)
