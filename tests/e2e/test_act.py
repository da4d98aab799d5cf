"""The GitHub Action under act: `uses: org/ci-deploy@v1`, the image from our Dockerfile, a sandbox.

Workflows as a user would write them: deploy then status through job outputs; a broken image
whose failed deploy job still hands `RolledBack` to an `if: always()` job; a manual
(workflow_dispatch) rollback; the example's production canary that pauses at its gate, then a
`needs:` promote job and a status job. The kubeconfig, with a bearer token, is an act secret
that must never appear in act's text log.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.e2e.harness import (
    APP_IMAGE,
    E2E_CONFIG,
    EXAMPLE_CONFIG,
    EXAMPLE_PRODUCTION_NAMESPACE,
    SANDBOX_CONTEXT,
    act_with_kubeconfig_secret,
    assert_actionlint_clean,
    deploy_outside_ci,
    deployment_names,
    example_production_with_stable,
    git_repo,
    live_status,
)

from kube_sandbox.testing import SandboxHandle

pytestmark = pytest.mark.e2e

DEPLOY_THEN_STATUS = """\
name: deploy
on: push
jobs:
  deploy:
    runs-on: ubuntu-latest
    outputs:
      phase: ${{ steps.deploy.outputs.phase }}
      revision: ${{ steps.deploy.outputs.revision }}
      environment-url: ${{ steps.deploy.outputs.environment-url }}
    steps:
      - uses: actions/checkout@v5
      - id: deploy
        uses: org/ci-deploy@v1
        with:
          environment: staging
          image: registry.example.com/acme/web-app:1.0.0
          kubeconfig: ${{ secrets.KUBECONFIG }}
          timeout: 2m
  status:
    needs: deploy
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v5
      - name: read the deploy job's outputs
        env:
          PHASE: ${{ needs.deploy.outputs.phase }}
          REVISION: ${{ needs.deploy.outputs.revision }}
          URL: ${{ needs.deploy.outputs.environment-url }}
        run: |
          echo "deploy said phase=$PHASE revision=$REVISION url=$URL"
          test "$PHASE" = Succeeded
      - uses: org/ci-deploy@v1
        with:
          command: status
          environment: staging
          kubeconfig: ${{ secrets.KUBECONFIG }}
          args: --json
"""

BROKEN_IMAGE = """\
name: broken
on: push
jobs:
  deploy:
    runs-on: ubuntu-latest
    outputs:
      phase: ${{ steps.deploy.outputs.phase }}
      revision: ${{ steps.deploy.outputs.revision }}
    steps:
      - uses: actions/checkout@v5
      - id: deploy
        uses: org/ci-deploy@v1
        with:
          environment: staging
          image: registry.example.com/acme/web-app:crashloop
          kubeconfig: ${{ secrets.KUBECONFIG }}
          timeout: 2m
  report:
    needs: deploy
    if: always()
    runs-on: ubuntu-latest
    steps:
      - env:
          RESULT: ${{ needs.deploy.result }}
          PHASE: ${{ needs.deploy.outputs.phase }}
        run: |
          echo "deploy job result=$RESULT phase=$PHASE"
          test "$RESULT" = failure
          test "$PHASE" = RolledBack
"""

MANUAL_ROLLBACK = """\
name: rollback
on:
  workflow_dispatch:
    inputs:
      environment:
        description: Environment to roll back
        required: true
        default: staging
        type: choice
        options: [staging, production]
jobs:
  rollback:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v5
      - id: rollback
        uses: org/ci-deploy@v1
        with:
          command: rollback
          environment: ${{ inputs.environment }}
          kubeconfig: ${{ secrets.KUBECONFIG }}
      - env:
          PHASE: ${{ steps.rollback.outputs.phase }}
          REVISION: ${{ steps.rollback.outputs.revision }}
        run: echo "rollback said phase=$PHASE revision=$REVISION"
"""

PREBUILT_IMAGE = """\
name: prebuilt
on: push
jobs:
  deploy:
    runs-on: ubuntu-latest
    outputs:
      phase: ${{ steps.deploy.outputs.phase }}
    steps:
      - uses: actions/checkout@v5
      - id: deploy
        uses: docker://ci-deploy:e2e
        with:
          command: deploy
          config: ci-deploy.yml
          environment: staging
          image: registry.example.com/acme/web-app:4.0.0
          kubeconfig: ${{ secrets.KUBECONFIG }}
  after:
    needs: deploy
    runs-on: ubuntu-latest
    steps:
      - env:
          PHASE: ${{ needs.deploy.outputs.phase }}
        run: |
          echo "prebuilt image said phase=$PHASE"
          test "$PHASE" = Succeeded
"""

# The deploy job stops at the canary's manual gate and passes (phase Paused); the promote job
# continues it from the state in the cluster (no image); the status job reads both. The
# example's production names `cluster: production`: the sandbox's context stands in for it.
CANARY_PROMOTE = """\
name: canary
on: push
env:
  # analysis.prometheus.address_env of the example: a repository variable in real use
  PROMETHEUS_URL: ${{ vars.PROMETHEUS_URL }}
jobs:
  deploy:
    runs-on: ubuntu-latest
    outputs:
      phase: ${{ steps.deploy.outputs.phase }}
      canary-weight: ${{ steps.deploy.outputs.canary-weight }}
    steps:
      - uses: actions/checkout@v5
      - id: deploy
        uses: org/ci-deploy@v1
        with:
          environment: production
          image: registry.example.com/acme/web-app:2.0.0
          kubeconfig: ${{ secrets.KUBECONFIG }}
          context: ci-deploy-sandbox
          time-scale: "3600"
          timeout: 2m
  promote:
    needs: deploy
    if: needs.deploy.outputs.phase == 'Paused'
    runs-on: ubuntu-latest
    outputs:
      phase: ${{ steps.promote.outputs.phase }}
      revision: ${{ steps.promote.outputs.revision }}
    steps:
      - uses: actions/checkout@v5
      - env:
          PHASE: ${{ needs.deploy.outputs.phase }}
          WEIGHT: ${{ needs.deploy.outputs.canary-weight }}
        run: echo "deploy said phase=$PHASE canary-weight=$WEIGHT"
      - id: promote
        uses: org/ci-deploy@v1
        with:
          command: promote
          environment: production
          full: true
          kubeconfig: ${{ secrets.KUBECONFIG }}
          context: ci-deploy-sandbox
          timeout: 2m
  status:
    needs: [deploy, promote]
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v5
      - env:
          PHASE: ${{ needs.promote.outputs.phase }}
          REVISION: ${{ needs.promote.outputs.revision }}
        run: |
          echo "promote said phase=$PHASE revision=$REVISION"
          test "$PHASE" = Succeeded
      - uses: org/ci-deploy@v1
        with:
          command: status
          environment: production
          kubeconfig: ${{ secrets.KUBECONFIG }}
          context: ci-deploy-sandbox
          args: --json
"""

WORKFLOWS = {
    "deploy.yml": DEPLOY_THEN_STATUS,
    "broken.yml": BROKEN_IMAGE,
    "rollback.yml": MANUAL_ROLLBACK,
    "prebuilt.yml": PREBUILT_IMAGE,
    "canary.yml": CANARY_PROMOTE,
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    files = {"ci-deploy.yml": E2E_CONFIG}
    files.update({f".github/workflows/{name}": text for name, text in WORKFLOWS.items()})
    return git_repo(tmp_path / "repo", files)


def test_workflows_pass_actionlint(repo: Path) -> None:
    assert_actionlint_clean(repo)


def test_deploy_job_outputs_reach_the_status_job(
    action_image: str, cluster: SandboxHandle, repo: Path
) -> None:
    run = act_with_kubeconfig_secret(repo, "push", "deploy.yml", cluster.kubeconfig)
    assert run.returncode == 0, str(run)
    assert "LocalRepositoryCache matched https://github.com/org/ci-deploy with ref v1" in run.log
    assert f"deploy said phase=Succeeded revision={APP_IMAGE}:1.0.0" in run.log
    assert "url=https://staging.example.com" in run.log
    assert '"phase": "Succeeded"' in run.log  # printed by `status --json` in the second job
    # GitHub conventions as act sees them: the token masked, log groups, a job summary.
    assert "[deploy/deploy]   ⚙  ***" in run.log
    assert "::group::" in run.log and "::endgroup::" in run.log
    assert "[deploy/deploy]   ⚙  Summary - " in run.log
    status = live_status(cluster.kubeconfig, repo / "ci-deploy.yml")
    assert status["state"]["phase"] == "Succeeded"
    assert status["live"]["image"] == f"{APP_IMAGE}:1.0.0"


def test_broken_image_fails_the_job_and_reports_rolled_back(
    action_image: str, cluster: SandboxHandle, repo: Path
) -> None:
    config = repo / "ci-deploy.yml"
    deploy_outside_ci(cluster.kubeconfig, config, f"{APP_IMAGE}:1.0.0")
    run = act_with_kubeconfig_secret(repo, "push", "broken.yml", cluster.kubeconfig)
    assert run.returncode == 1, str(run)
    assert "Job 'deploy' failed" in run.log or "Job failed" in run.log, str(run)
    assert "deploy job result=failure phase=RolledBack" in run.log, str(run)
    status = live_status(cluster.kubeconfig, config)
    assert status["state"]["phase"] == "RolledBack"
    assert status["live"]["image"] == f"{APP_IMAGE}:1.0.0"


def test_manual_rollback_restores_the_previous_revision(
    action_image: str, cluster: SandboxHandle, repo: Path
) -> None:
    config = repo / "ci-deploy.yml"
    for tag in ("1.0.0", "2.0.0"):
        deploy_outside_ci(cluster.kubeconfig, config, f"{APP_IMAGE}:{tag}")
    status_before = live_status(cluster.kubeconfig, config)
    run = act_with_kubeconfig_secret(
        repo,
        "workflow_dispatch",
        "rollback.yml",
        cluster.kubeconfig,
        inputs={"environment": "staging"},
    )
    assert run.returncode == 0, str(run)
    assert "rollback said phase=" in run.log
    assert status_before["live"]["image"] == f"{APP_IMAGE}:2.0.0"
    status = live_status(cluster.kubeconfig, config)
    assert status["live"]["image"] == f"{APP_IMAGE}:1.0.0", status


def test_prebuilt_image_with_docker_uses_works_the_same(
    action_image: str, cluster: SandboxHandle, repo: Path
) -> None:
    # Job-container mode: act runs a docker:// step in the job container's network, and the
    # job container (the base image) is on the host network, where the sandbox listens.
    run = act_with_kubeconfig_secret(
        repo, "push", "prebuilt.yml", cluster.kubeconfig, runner="python:3.11-slim"
    )
    assert run.returncode == 0, str(run)
    assert "prebuilt image said phase=Succeeded" in run.log
    status = live_status(cluster.kubeconfig, repo / "ci-deploy.yml")
    assert status["live"]["image"] == f"{APP_IMAGE}:4.0.0"


def test_paused_canary_is_promoted_by_a_needs_job_through_the_action(
    action_image: str, cluster: SandboxHandle, tmp_path: Path
) -> None:
    files = {"ci-deploy.yml": EXAMPLE_CONFIG, ".github/workflows/canary.yml": CANARY_PROMOTE}
    repo = git_repo(tmp_path / "canary-repo", files)
    config = repo / "ci-deploy.yml"
    example_production_with_stable(cluster.kubeconfig, config, f"{APP_IMAGE}:1.0.0")
    url = cluster.synthetic_prometheus_url
    assert url is not None
    run = act_with_kubeconfig_secret(
        repo, "push", "canary.yml", cluster.kubeconfig, variables={"PROMETHEUS_URL": url}
    )
    assert run.returncode == 0, str(run)
    # Each stage judged on the (synthetic) metrics, in the deploy job and after the promotion
    assert "stage initial: 250ms passed, healthy, analysis passed" in run.log, str(run)
    assert "stage majority: 750ms passed, healthy, analysis passed" in run.log, str(run)
    # The deploy stopped at the gate after stage "expanded" (25% asked: 2 canary pods beside
    # 5 stable ones) and its job passed; promote went on from the cluster's record.
    assert "deploy said phase=Paused canary-weight=28.6" in run.log, str(run)
    promote = (
        r"\| ci-deploy --config ci-deploy.yml promote --env production (?!.*--image).* --full$"
    )
    assert re.search(promote, run.log, re.M), str(run)
    assert f"promote said phase=Succeeded revision={APP_IMAGE}:2.0.0" in run.log, str(run)
    assert '"phase": "Succeeded"' in run.log  # `status --json` in the third job
    status = live_status(cluster.kubeconfig, config, "production", "--context", SANDBOX_CONTEXT)
    assert status["state"]["phase"] == "Succeeded"
    assert status["live"]["image"] == f"{APP_IMAGE}:2.0.0"  # the stable Deployment promoted
    assert deployment_names(cluster.store, EXAMPLE_PRODUCTION_NAMESPACE) == ["web-app"]
