"""The host-mode action (setup/action.yml) under act: `uses: org/ci-deploy/setup@v1` installs the
CLI on the runner (then reuses it), later `run: ci-deploy …` steps find it on PATH, and with
`command` it deploys to the sandbox with the container action's inputs and hands its outputs to
the next job."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tests.e2e.harness import (
    APP_IMAGE,
    E2E_CONFIG,
    ROOT,
    TOOLS,
    act_with_kubeconfig_secret,
    assert_actionlint_clean,
    assert_schema_valid,
    git_repo,
    live_status,
)

from kube_sandbox.testing import SandboxHandle

pytestmark = pytest.mark.e2e

WORKFLOW = """\
name: host
on: push
jobs:
  deploy:
    runs-on: ubuntu-latest
    outputs:
      phase: ${{ steps.deploy.outputs.phase }}
      revision: ${{ steps.deploy.outputs.revision }}
    steps:
      - uses: actions/checkout@v5
      - id: setup
        uses: org/ci-deploy/setup@v1
      - name: the CLI is on PATH for later steps
        env:
          INSTALLED: ${{ steps.setup.outputs.path }}
        run: |
          test "$(command -v ci-deploy)" = "$INSTALLED"
          ci-deploy --version
      - id: deploy
        uses: org/ci-deploy/setup@v1
        with:
          command: deploy
          environment: staging
          image: registry.example.com/acme/web-app:1.0.0
          kubeconfig: ${{ secrets.KUBECONFIG }}
          timeout: 2m
      - name: the second use reused the install
        env:
          CACHED: ${{ steps.deploy.outputs.cached }}
        run: test "$CACHED" = true
  report:
    needs: deploy
    runs-on: ubuntu-latest
    steps:
      - env:
          PHASE: ${{ needs.deploy.outputs.phase }}
          REVISION: ${{ needs.deploy.outputs.revision }}
        run: |
          echo "host-mode deploy said phase=$PHASE revision=$REVISION"
          test "$PHASE" = Succeeded
"""


def test_the_setup_action_is_valid_action_metadata() -> None:
    assert_schema_valid("vendor.github-actions", ROOT / "setup" / "action.yml")


def test_the_setup_action_installs_deploys_and_hands_outputs_on(
    cluster: SandboxHandle, tmp_path: Path
) -> None:
    repo = git_repo(
        tmp_path / "repo", {"ci-deploy.yml": E2E_CONFIG, ".github/workflows/host.yml": WORKFLOW}
    )
    assert_actionlint_clean(repo)
    # The runner's pip installs from the wheels of requirements.lock that the image build keeps
    # (the same files by hash), not from the index: the test measures ci-deploy, not PyPI.
    wheels = TOOLS / "image-wheels"
    for lock in ("requirements.lock", "build-requirements.lock"):
        subprocess.run(
            [str(ROOT / ".venv" / "bin" / "pip"), "wheel", "-q", "--disable-pip-version-check",
             "-w", str(wheels), "--require-hashes", "-r", str(ROOT / lock)],
            check=True, capture_output=True, timeout=600,
        )  # fmt: skip
    offline = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)}
    run = act_with_kubeconfig_secret(
        repo, "push", "host.yml", cluster.kubeconfig, env=offline, timeout=900
    )
    assert run.returncode == 0, str(run)
    assert "ci-deploy 0.1.0: installed in " in run.log
    assert "ci-deploy 0.1.0: cached in " in run.log
    assert f"host-mode deploy said phase=Succeeded revision={APP_IMAGE}:1.0.0" in run.log
    cache = repo.parent / f"act-cache-{repo.name}" / "tool_cache"  # act's RUNNER_TOOL_CACHE
    assert list(cache.glob("ci-deploy/0.1.0-*/.installed"))
    status = live_status(cluster.kubeconfig, repo / "ci-deploy.yml")
    assert status["state"]["phase"] == "Succeeded"
