"""Pipelines from `ci-deploy render pipeline` run as rendered: under act and gitlab-ci-local."""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from tests.e2e.harness import (
    APP_IMAGE,
    CI_DEPLOY,
    E2E_CONFIG,
    ROOT,
    act_with_kubeconfig_secret,
    fake_gitlab_remote,
    git_repo,
    live_status,
    run_gitlab_ci_local,
)

from kube_sandbox.testing import SandboxHandle, running_sandbox

pytestmark = pytest.mark.e2e


# A smoke check gives `ci-deploy verify` something to check, so the rendered pipelines carry a
# verify job per environment; it runs the command in the job's workspace (no shell).
VERIFIED_CONFIG = (
    E2E_CONFIG
    + """\
analysis:
  smoke:
    - name: config-present
      command: {run: test -s ci-deploy.yml}
"""
)


def render(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        [CI_DEPLOY, "render", "pipeline", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def live_image(cluster: SandboxHandle, repo: Path, env: str) -> str:
    return str(live_status(cluster.kubeconfig, repo / "ci-deploy.yml", env)["live"]["image"])


def head_sha(repo: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_rendered_github_workflow_deploys_through_both_environments(
    tmp_path: Path, cluster: SandboxHandle, action_image: str
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "ci-deploy.yml").write_text(VERIFIED_CONFIG, encoding="utf-8")
    # act maps this reference to the checkout (harness: --local-repository org/ci-deploy@v1=…)
    workflow = render(repo, "--platform", "github", "--action-ref", "org/ci-deploy@v1")
    git_repo(repo, {".github/workflows/deploy.yml": workflow})
    run = act_with_kubeconfig_secret(repo, "push", "deploy.yml", cluster.kubeconfig)
    assert run.returncode == 0, str(run)
    assert "[Deploy web-app/deploy-production]" in run.log
    assert "[Deploy web-app/verify-staging]" in run.log
    assert "verify staging: pass (2 checks)" in run.log, str(run)
    assert "verify production: pass (2 checks)" in run.log, str(run)
    image = f"{APP_IMAGE}:{head_sha(repo)}"
    assert live_image(cluster, repo, "staging") == image
    assert live_image(cluster, repo, "production") == image


def test_rendered_gitlab_pipeline_runs_with_the_template(
    tmp_path: Path, cluster: SandboxHandle
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "ci-deploy.yml").write_text(VERIFIED_CONFIG, encoding="utf-8")
    pipeline = render(repo, "--platform", "gitlab", "--gitlab-template", "local")
    template = (ROOT / ".gitlab-ci-template.yml").read_text(encoding="utf-8")
    git_repo(repo, {".gitlab-ci.yml": pipeline, ".gitlab-ci-template.yml": template})
    fake_gitlab_remote(repo)
    run = run_gitlab_ci_local(
        repo,
        "--force-shell-executor",
        "--variable",
        f"KUBECONFIG={cluster.kubeconfig}",
        "--manual",
        "deploy:production",
    )
    print(f"gitlab-ci-local rendered pipeline: {run.seconds:.1f}s")
    assert run.returncode == 0, str(run)
    jobs = ("validate", "deploy:staging", "status:staging", "verify:staging", "deploy:production")
    for job in jobs:
        assert f" PASS  {job}" in run.log, str(run)
    image = f"{APP_IMAGE}:{head_sha(repo)}"
    assert f"deploy job said phase=Succeeded revision={image}" in run.log
    assert "verify staging: pass (2 checks)" in run.log, str(run)
    assert live_image(cluster, repo, "production") == image


def test_two_pushes_in_a_row_the_second_waits_and_neither_is_cancelled(
    tmp_path: Path, action_image: str
) -> None:
    # act does not implement GitHub's concurrency groups (the rendered workflow's per
    # environment group is checked on the YAML in tests/pipelines); beneath them ci-deploy's
    # own lock serialises the two runs, as it does runs GitHub does not know about. Each pod
    # takes 6 s to become ready, so the first run holds the staging lock while the second,
    # started a second later, reaches it.
    sandbox = running_sandbox(
        tmp_path / "sandbox", pod_ready_delay=6.0, tls=True, synthetic_prometheus=True
    )
    with sandbox as cluster:
        repos = []
        for push in ("first", "second"):
            repo = tmp_path / push
            repo.mkdir()
            (repo / "ci-deploy.yml").write_text(VERIFIED_CONFIG, encoding="utf-8")
            workflow = render(repo, "--platform", "github", "--action-ref", "org/ci-deploy@v1")
            # act names a job's container after the workflow and the job, one per Docker
            # engine: the second run's workflow gets its own name (GitHub runs each on its own
            # runner; nothing else changes)
            if push == "second":
                workflow = workflow.replace(
                    '\nname: "Deploy web-app"\n', '\nname: "Deploy web-app 2"\n'
                )
                assert 'name: "Deploy web-app 2"' in workflow
            git_repo(repo, {".github/workflows/deploy.yml": workflow, "push.txt": push})
            repos.append(repo)
        first, second = (f"{APP_IMAGE}:{head_sha(repo)}" for repo in repos)
        assert first != second
        with ThreadPoolExecutor(max_workers=2) as pool:
            runs = []
            for repo in repos:
                runs.append(
                    pool.submit(
                        act_with_kubeconfig_secret, repo, "push", "deploy.yml", cluster.kubeconfig
                    )
                )
                time.sleep(1.0)
            done = [run.result() for run in runs]
        for run in done:
            assert run.returncode == 0, str(run)  # neither run was cancelled or failed
        waited = [run for run in done if "for the deploy lock held by" in run.log]
        assert len(waited) >= 1, "\n\n".join(str(run) for run in done)
        for env in ("staging", "production"):
            # both rollouts ran to the end, one after the other: both are revisions
            status = live_status(cluster.kubeconfig, repos[0] / "ci-deploy.yml", env)
            assert status["live"]["image"] in (first, second)
            images = [row["image"] for row in status["revisions"]]
            assert first in images and second in images, status["revisions"]
