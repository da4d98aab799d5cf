"""The build → scan → deploy-by-digest pipeline, as `render pipeline` writes it, run for real:
gitlab-ci-local (shell executor: this checkout's ci-deploy, the machine's Docker engine,
Trivy from the venv), a loopback registry, and a sandbox cluster."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from tests.build.registry import running_registry
from tests.e2e.harness import (
    CI_DEPLOY,
    E2E_CONFIG,
    ROOT,
    act_with_kubeconfig_secret,
    deployment_names,
    fake_gitlab_remote,
    git_repo,
    live_status,
    require_docker,
    run_act,
    run_gitlab_ci_local,
)

from kube_sandbox.testing import SandboxHandle

pytestmark = pytest.mark.e2e

SERVICE = ROOT / "examples" / "demo-service"
# Built at run time so that no secret scanner (nor GitHub push protection) flags this file.
PLANTED_TOKEN = "ghp" + "_" + "Z1y2X3w4V5" * 3 + "U6t7S8"


def render(repo: Path) -> str:
    proc = subprocess.run(
        [CI_DEPLOY, "render", "pipeline", "--platform", "gitlab", "--gitlab-template", "local"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def on_the_runners_socket(pipeline: str) -> str:
    """The build job as docs/build-and-scan.md tells users of a runner that mounts the host's
    Docker socket to write it: no dind service, DOCKER_HOST at the socket."""
    doc = yaml.safe_load(pipeline)
    doc["build"]["services"] = []
    doc["build"]["variables"] = {
        "DOCKER_HOST": "unix:///var/run/docker.sock",
        "DOCKER_TLS_VERIFY": "",
        "DOCKER_CERT_PATH": "",
    }
    return str(yaml.safe_dump(doc, sort_keys=False))


def commit(repo: Path, message: str) -> None:
    git = ["git", "-C", str(repo), "-c", "user.name=ci", "-c", "user.email=ci@localhost"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", message], check=True)
    subprocess.run([*git, "update-ref", "refs/remotes/origin/main", "HEAD"], check=True)


def test_rendered_gitlab_pipeline_builds_scans_and_deploys_the_pushed_digest(
    tmp_path: Path, cluster: SandboxHandle
) -> None:
    with running_registry(tmp_path / "registry") as registry:
        repository = f"{registry.host}/acme/web-app"
        config = (
            E2E_CONFIG.replace("registry.example.com/acme/web-app", repository)
            + "build: {}\n"
            + "scan: {scanners: [secret]}\n"
        )
        repo = tmp_path / "repo"
        repo.mkdir()
        (repo / "ci-deploy.yml").write_text(config, encoding="utf-8")
        files = {
            "ci-deploy.yml": config,
            ".gitlab-ci.yml": on_the_runners_socket(render(repo)),
            ".gitlab-ci-template.yml": (ROOT / ".gitlab-ci-template.yml").read_text(),
            "app.py": (SERVICE / "app.py").read_text(),
            # The first commit ships a token inside the image: the scan must stop the deploy.
            "Dockerfile": (SERVICE / "Dockerfile").read_text() + "COPY settings.env /app/\n",
            "settings.env": f"GITHUB_TOKEN={PLANTED_TOKEN}\n",
        }
        git_repo(repo, files)
        fake_gitlab_remote(repo)
        engine = (
            # No vulnerability database here; the secret scanner needs none.
            "--variable", "CI_DEPLOY_TRIVY_OFFLINE=true",
            "--variable", f"KUBECONFIG={cluster.kubeconfig}",
            # the jobs up to staging (production is manual)
            "build", "scan", "validate", "deploy:staging", "status:staging",
        )  # fmt: skip
        stopped = run_gitlab_ci_local(repo, "--force-shell-executor", *engine, timeout=600)
        print(f"gitlab-ci-local build+scan (gate fails): {stopped.seconds:.1f}s")
        assert stopped.returncode != 0, str(stopped)
        assert " PASS  build" in stopped.log, str(stopped)
        assert " FAIL  scan" in stopped.log, str(stopped)
        assert "CRITICAL github-pat" in stopped.log
        assert PLANTED_TOKEN not in stopped.log
        assert "deploy:staging" not in _passed_jobs(stopped.log)
        assert deployment_names(cluster.store, "web-app-staging") == []  # nothing deployed

        (repo / "settings.env").unlink()
        (repo / "Dockerfile").write_text((SERVICE / "Dockerfile").read_text())
        commit(repo, "no token in the image")
        sha = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        run = run_gitlab_ci_local(repo, "--force-shell-executor", *engine, timeout=600)
        print(f"gitlab-ci-local build+scan+deploy: {run.seconds:.1f}s")
        assert run.returncode == 0, str(run)
        for job in ("build", "scan", "validate", "deploy:staging", "status:staging"):
            assert f" PASS  {job}" in run.log, str(run)
        digest = f"{repository}@{registry.manifest_digest('acme/web-app', sha)}"
        assert f"deploy job said phase=Succeeded revision={digest}" in run.log, str(run)
        live = live_status(cluster.kubeconfig, repo / "ci-deploy.yml", "staging")
        assert live["live"]["image"] == digest


def _passed_jobs(log: str) -> set[str]:
    return {
        line.split(" PASS  ", 1)[1].split()[0] for line in log.splitlines() if " PASS  " in line
    }


BUILD_THEN_DEPLOY = """\
name: ship
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      digest: ${{ steps.build.outputs.digest }}
    steps:
      - uses: actions/checkout@v5
      - id: build
        uses: org/ci-deploy@v1
        with:
          command: build
          push: true
  deploy:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v5
      - uses: org/ci-deploy@v1
        with:
          environment: staging
          image: ${{ needs.build.outputs.digest }}
          kubeconfig: ${{ secrets.KUBECONFIG }}
          timeout: 2m
"""


def test_the_action_builds_in_its_container_and_the_next_job_deploys_the_digest(
    tmp_path: Path, cluster: SandboxHandle, action_image: str
) -> None:
    """`command: build` in the action's container, on the runner's Docker engine (its socket,
    as GitHub mounts it into container actions), pushing to a registry; the digest output is
    what the deploy job deploys."""
    with running_registry(tmp_path / "registry") as registry:
        repository = f"{registry.host}/acme/web-app"
        config = E2E_CONFIG.replace("registry.example.com/acme/web-app", repository) + "build: {}\n"
        repo = tmp_path / "repo"
        repo.mkdir()
        git_repo(
            repo,
            {
                "ci-deploy.yml": config,
                ".github/workflows/ship.yml": BUILD_THEN_DEPLOY,
                "app.py": (SERVICE / "app.py").read_text(),
                "Dockerfile": (SERVICE / "Dockerfile").read_text(),
            },
        )
        sha = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        run = act_with_kubeconfig_secret(repo, "push", "ship.yml", cluster.kubeconfig)
        assert run.returncode == 0, str(run)
        digest = f"{repository}@{registry.manifest_digest('acme/web-app', sha)}"
        assert live_status(cluster.kubeconfig, repo / "ci-deploy.yml")["live"]["image"] == digest
        assert "building with BuildKit (DOCKER_BUILDKIT=1)" in run.log


TOOLS_TAG = "ci-deploy:tools-e2e"


@pytest.fixture(scope="module")
def tools_image() -> str:
    """The Dockerfile's tools target (ci-deploy + Docker CLI + Trivy + syft), built offline."""
    require_docker()
    started = time.monotonic()
    proc = subprocess.run(
        [str(ROOT / "scripts" / "build-image.sh"), "--tools", TOOLS_TAG],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    print(f"tools image build: {time.monotonic() - started:.1f}s")
    return TOOLS_TAG


def in_image(
    image: str, repo: Path, script: list[str], **env: str
) -> subprocess.CompletedProcess[str]:
    """A template job's script as GitLab's docker executor runs it: the entrypoint overridden,
    the script fed to a shell in the image, the project checked out as the working folder."""
    args = ["docker", "run", "--rm", "--network", "host", "--entrypoint", ""]
    args += ["-v", f"{repo}:/builds/group/proj", "-w", "/builds/group/proj"]
    # a runner that mounts the host's engine (instead of the template's dind service)
    args += ["-v", "/var/run/docker.sock:/var/run/docker.sock"]
    for name, value in {
        "CI_DEPLOY_PLATFORM": "gitlab",
        "CI_PROJECT_DIR": "/builds/group/proj",
        **env,
    }.items():
        args += ["-e", f"{name}={value}"]
    return subprocess.run(
        [*args, image, "sh", "-c", "\n".join(script)], capture_output=True, text=True, timeout=600
    )


def test_the_templates_build_and_scan_jobs_run_in_the_tools_image(
    tmp_path: Path, tools_image: str
) -> None:
    template = yaml.safe_load((ROOT / ".gitlab-ci-template.yml").read_text())
    with running_registry(tmp_path / "registry") as registry:
        repository = f"{registry.host}/acme/web-app"
        repo = tmp_path / "repo"
        repo.mkdir()
        config = E2E_CONFIG.replace("registry.example.com/acme/web-app", repository)
        git_repo(
            repo,
            {
                "ci-deploy.yml": config + "build: {}\nscan: {scanners: [secret]}\n",
                "app.py": (SERVICE / "app.py").read_text(),
                "Dockerfile": (SERVICE / "Dockerfile").read_text(),
            },
        )
        sha = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        built = in_image(
            tools_image,
            repo,
            template[".ci-deploy-build"]["script"],
            CI_COMMIT_SHA=sha,
            DOCKER_HOST="unix:///var/run/docker.sock",
        )
        assert built.returncode == 0, built.stdout + built.stderr
        report = dict(
            line.split("=", 1) for line in (repo / "ci-deploy.env").read_text().splitlines()
        )
        digest = f"{repository}@{registry.manifest_digest('acme/web-app', sha)}"
        assert report["CI_DEPLOY_DIGEST"] == digest
        scanned = in_image(
            tools_image,
            repo,
            template[".ci-deploy-scan"]["script"],
            CI_DEPLOY_DIGEST=digest,
            CI_DEPLOY_TRIVY_OFFLINE="true",
        )
        assert scanned.returncode == 0, scanned.stdout + scanned.stderr
        assert "gate passed" in scanned.stdout + scanned.stderr
        gitlab = json.loads((repo / "gl-container-scanning-report.json").read_text())
        assert gitlab["scan"]["type"] == "container_scanning"
        assert gitlab["scan"]["scanner"]["version"] == "0.76.0"


SCAN_REPORTS = """\
name: scan
on: push
jobs:
  scan:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v5
      - id: passing
        uses: org/ci-deploy@v1
        with:
          command: scan
          report: reports/pip.json
          severity: CRITICAL
      - run: echo "first gate said ${{ steps.passing.outputs.scan-result }}"
      - id: failing
        uses: org/ci-deploy@v1
        with:
          command: scan
          report: reports/debian-buster.json
          sarif: scan.sarif
      - if: always()
        run: |
          echo "second gate said ${{ steps.failing.outputs.scan-result }}"
          test -s scan.sarif && echo "sarif written"
"""


def test_the_actions_scan_gates_a_trivy_report_and_fails_the_job(
    tmp_path: Path, action_image: str
) -> None:
    """`command: scan` in the action's container with `report:` (what trivy-action wrote):
    a passing gate, then a failing one that fails the job and still leaves its SARIF."""
    fixtures = ROOT / "tests" / "scan" / "fixtures" / "trivy"
    repo = tmp_path / "repo"
    repo.mkdir()
    git_repo(
        repo,
        {
            ".github/workflows/scan.yml": SCAN_REPORTS,
            "reports/pip.json": (fixtures / "pip.json").read_text(),
            "reports/debian-buster.json": (fixtures / "debian-buster.json").read_text(),
        },
    )
    run = run_act(repo, "push", "scan.yml")
    assert run.returncode != 0, str(run)
    assert "first gate said passed" in run.log, str(run)
    assert "scan gate failed: 1 finding (CRITICAL 1): CRITICAL CVE-2019-18224" in run.log
    assert "second gate said failed" in run.log, str(run)
    assert "sarif written" in run.log, str(run)
