"""Fixtures for the rollout verbs: a sandbox cluster and a way to run ``ci-deploy`` against it.

Every deploy here runs the real ``ci-deploy`` CLI in a subprocess, talking to the sandbox over
HTTP through the official ``kubernetes`` client; assertions read the cluster back the same way.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ci_deploy.kube.client import DEPLOYMENT, LEASE, KubeClient, connect
from ci_deploy.kube.state import StateRecord, record_of
from kube_sandbox.testing import SandboxHandle, running_sandbox

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "web-app" / "ci-deploy.yml"
IMAGE = "registry.example.com/acme/web-app"
NAMESPACE = "web-app-staging"


@dataclass
class Engine:
    """A sandbox plus helpers to run ci-deploy against it and read the cluster back."""

    sb: SandboxHandle
    tmp: Path
    config: Path
    client: KubeClient
    runs: int = 0

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GITHUB_", "GITLAB_", "CI_", "INPUT_", "RUNNER_"))
        }
        env.pop("CI", None)
        env["KUBECONFIG"] = str(self.sb.kubeconfig)
        env.pop("PROMETHEUS_URL", None)
        if self.sb.synthetic_prometheus_url is not None:  # the example's analysis.address_env
            env["PROMETHEUS_URL"] = self.sb.synthetic_prometheus_url
        env.update(extra)
        return env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "ci_deploy", "-c", str(self.config), *args]

    def run(self, *args: str, timeout: float = 90, **env: str) -> subprocess.CompletedProcess[str]:
        """Run ``ci-deploy ARGS`` to the end; output captured, job outputs in ``.outputs``."""
        self.runs += 1
        outputs = self.tmp / f"outputs-{self.runs}"
        env.setdefault("CI_DEPLOY_OUTPUT", str(outputs))
        result = subprocess.run(
            self.command(*args),
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.tmp,
        )
        result.outputs = read_outputs(outputs)  # type: ignore[attr-defined]
        return result

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        """Start ``ci-deploy ARGS`` in the background; ``read_outputs(proc.outputs)`` later."""
        self.runs += 1
        outputs = self.tmp / f"outputs-{self.runs}"
        env.setdefault("CI_DEPLOY_OUTPUT", str(outputs))
        proc = subprocess.Popen(
            self.command(*args),
            env=self.env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.tmp,
        )
        proc.outputs = outputs  # type: ignore[attr-defined]
        return proc

    def deploy(self, tag: str, *extra: str, **env: str) -> subprocess.CompletedProcess[str]:
        return self.run("deploy", "--env", "staging", "--image", f"{IMAGE}:{tag}", *extra, **env)

    def deployment(self) -> dict[str, Any] | None:
        return self.client.get_or_none(DEPLOYMENT.path(NAMESPACE, "web-app"))

    def record(self) -> StateRecord | None:
        return record_of(self.deployment())

    def live_image(self) -> str:
        deployment = self.deployment()
        assert deployment is not None
        return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])

    def serving_images(self) -> set[str]:
        """Images of the pods that are Ready now."""
        pods = self.client.get(f"/api/v1/namespaces/{NAMESPACE}/pods")["items"]
        return {
            p["spec"]["containers"][0]["image"]
            for p in pods
            if any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (p.get("status") or {}).get("conditions") or []
            )
            and not p["metadata"].get("deletionTimestamp")
        }

    def lease(self) -> dict[str, Any] | None:
        return self.client.get_or_none(LEASE.path(NAMESPACE, "ci-deploy-web-app"))

    def wait_until(self, check: Callable[[], bool], seconds: float = 20) -> None:
        """Bounded poll of a condition on the cluster (test-side only)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.05)
        raise AssertionError(f"condition not met within {seconds}s")


def read_outputs(path: Path) -> dict[str, str]:
    """The ``key=value`` lines a local run wrote to ``$CI_DEPLOY_OUTPUT`` (last value wins)."""
    if not path.exists():
        return {}
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def make_config(tmp: Path, **rolling: str) -> Path:
    """The web-app example, optionally with other ``rolling:`` settings."""
    text = EXAMPLE.read_text()
    for key, value in rolling.items():
        marker = f"  {key}: "
        lines = [
            f"{marker}{value}" if line.startswith(marker) else line for line in text.splitlines()
        ]
        text = "\n".join(lines) + "\n"
    path = tmp / "ci-deploy.yml"
    path.write_text(text)
    return path


@pytest.fixture
def engine_factory(tmp_path: Path) -> Iterator[Callable[..., Engine]]:
    """Make an Engine with a given pod readiness delay and rolling settings."""
    stack: list[Any] = []

    def make(pod_ready_delay: float = 0.05, seed: int | None = None, **rolling: str) -> Engine:
        where = tmp_path / f"sb{len(stack)}"
        where.mkdir()
        cm = running_sandbox(where, pod_ready_delay=pod_ready_delay, seed=seed)
        sb = cm.__enter__()
        stack.append(cm)
        client = connect(str(sb.kubeconfig))
        stack.append(client)
        return Engine(sb, where, make_config(where, **rolling), client)

    yield make
    for item in reversed(stack):
        if isinstance(item, KubeClient):
            item.close()
        else:
            item.__exit__(None, None, None)


@pytest.fixture
def engine(engine_factory: Callable[..., Engine]) -> Engine:
    return engine_factory()
