"""Run ``ci-deploy ARGS`` in a repository against a sandbox cluster (the source tests' deploys)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from kube_sandbox.testing import SandboxHandle, running_sandbox


@contextlib.contextmanager
def ci_deploy_on_sandbox(
    repo: Path, tmp_path: Path, *args: str
) -> Iterator[tuple[subprocess.CompletedProcess[str], SandboxHandle]]:
    """The run's result and the sandbox, still serving, to read back what it holds."""
    with running_sandbox(tmp_path / "sandbox", pod_ready_delay=0.05) as sb:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CI_", "GITHUB_"))}
        env["KUBECONFIG"] = str(sb.kubeconfig)
        done = subprocess.run(
            [sys.executable, "-m", "ci_deploy", *args],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        yield done, sb
