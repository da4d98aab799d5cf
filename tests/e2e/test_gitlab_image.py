"""The GitLab template of a release, its jobs run in their image: gitlab-ci-local's docker
executor pulls the image the release pinned (by digest, from the registry on loopback, as a
runner pulls it) and runs the template's deploy, status and manual rollback jobs in it, the
state passed on through the dotenv report. No shell executor, no venv of this checkout.

The helper container gitlab-ci-local copies the build folder and artifacts with is the base
image plus the host's rsync (gitlab-ci-local's default helper is on Docker Hub, which this
machine cannot reach; ENVIRONMENT.md §6). The cluster is the TLS sandbox; KUBECONFIG is a File
variable, as a GitLab project defines it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from tests.e2e.harness import (
    APP_IMAGE,
    E2E_CONFIG,
    Run,
    assert_no_token,
    deploy_outside_ci,
    fake_gitlab_remote,
    git_repo,
    gitlab_dotenv,
    gitlab_result,
    live_status,
    require_docker,
    run_gitlab_ci_local,
)

from kube_sandbox.testing import SandboxHandle

pytestmark = pytest.mark.e2e

HELPER_IMAGE = "ci-deploy-gcl-helper:e2e"

GITLAB_CI = f"""\
include:
  - local: .gitlab-ci-template.yml
variables:
  CI_DEPLOY_IMAGE: {APP_IMAGE}:2.0.0
  CI_DEPLOY_TIMEOUT: 2m
  CI_DEPLOY_VALIDATE_ENABLED: "false"
  CI_DEPLOY_PRODUCTION_ENABLED: "false"
"""


@pytest.fixture(scope="module")
def helper_image(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The base image with the host's rsync and the libraries it links (both Debian 12)."""
    require_docker()
    context = tmp_path_factory.mktemp("helper")
    rsync = shutil.which("rsync")
    assert rsync is not None, "rsync is missing: apt-get install rsync (scripts/setup.d)"
    root = context / "root"
    (root / "usr" / "bin").mkdir(parents=True)
    shutil.copy2(rsync, root / "usr" / "bin" / "rsync")
    linked = subprocess.run(["ldd", rsync], capture_output=True, text=True, check=True).stdout
    for name, path in re.findall(r"^\s*(\S+) => (/\S+)", linked, re.M):
        if not name.startswith(("libc.so", "ld-linux")):  # the image's own C library stays
            target = root / "usr" / "lib" / Path(path).parent.name / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)  # the file a symlink names
    (context / "Dockerfile").write_text("FROM python:3.11-slim\nCOPY root/ /\n")
    built = subprocess.run(
        ["docker", "build", "--network", "none", "-q", "-t", HELPER_IMAGE, str(context)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    probe = subprocess.run(
        ["docker", "run", "--rm", HELPER_IMAGE, "rsync", "--version"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert probe.returncode == 0 and "rsync  version" in probe.stdout, probe.stderr
    return HELPER_IMAGE


def variables_file(path: Path, kubeconfig: Path) -> Path:
    """KUBECONFIG as a GitLab project holds it: a File variable (gitlab-ci-local makes a value
    that is a file's path one: the job gets a path to a copy of that file)."""
    path.write_text(yaml.safe_dump({"KUBECONFIG": str(kubeconfig)}), encoding="utf-8")
    return path


def gcl_docker(repo: Path, helper: str, variables: Path, *args: str) -> Run:
    run = run_gitlab_ci_local(
        repo,
        "--variables-file", os.path.relpath(variables, repo),  # it is read relative to the repo
        "--helper-image", helper,
        "--network", "host",  # the sandbox and the registry listen on 127.0.0.1
        "--pull-policy", "if-not-present",
        *args,
        timeout=600,
    )  # fmt: skip
    print(f"gitlab-ci-local (docker executor) {' '.join(args)}: {run.seconds:.1f}s")
    return run


def test_the_released_templates_jobs_run_in_the_released_image(
    release: dict[str, str], helper_image: str, cluster: SandboxHandle, tmp_path: Path
) -> None:
    clone, reference = Path(release["clone"]), release["reference"]
    template = (clone / ".gitlab-ci-template.yml").read_text(encoding="utf-8")
    assert f"  CI_DEPLOY_TOOL_IMAGE: {reference}\n" in template  # what the runner will pull
    # Nothing of the image is on this engine: the docker executor must pull it.
    for tag in ("v1.2.3", "v1.2", "v1"):
        subprocess.run(["docker", "rmi", "-f", f"{release['image']}:{tag}"], capture_output=True)
    subprocess.run(["docker", "rmi", "-f", reference], capture_output=True)
    repo = git_repo(
        tmp_path / "repo",
        {
            "ci-deploy.yml": E2E_CONFIG,
            ".gitlab-ci.yml": GITLAB_CI,
            ".gitlab-ci-template.yml": template,
        },
    )
    fake_gitlab_remote(repo)
    variables = variables_file(tmp_path / "variables.yml", cluster.kubeconfig)
    config = repo / "ci-deploy.yml"
    deploy_outside_ci(cluster.kubeconfig, config, f"{APP_IMAGE}:1.0.0")  # what to roll back to

    run = gcl_docker(repo, helper_image, variables)
    assert_no_token(cluster.kubeconfig, run.log)
    assert run.returncode == 0, str(run)
    for job in ("ci-deploy:staging", "ci-deploy:staging:status"):
        assert gitlab_result(run, job) == "PASS", str(run)
    assert gitlab_result(run, "ci-deploy:staging:rollback") is None  # manual, not started
    # The jobs ran in the released image, pulled from the registry by digest, not in the shell.
    ref = re.escape(reference)
    assert re.search(rf"^ci-deploy:staging +pulled {ref} in ", run.log, re.M), str(run)
    for job in ("ci-deploy:staging", "ci-deploy:staging:status"):
        assert re.search(rf"^{job} +starting {ref} \(", run.log, re.M), str(run)
    inspect = subprocess.run(["docker", "image", "inspect", reference], capture_output=True)
    assert inspect.returncode == 0, "the pinned image is not on the engine: nothing pulled it"
    digest = reference.rsplit("@", 1)[1]
    repo_digests = json.loads(inspect.stdout)[0]["RepoDigests"]
    assert f"{release['image']}@{digest}" in repo_digests, repo_digests
    # The status job read the deploy job's dotenv report.
    said = f"deploy job said phase=Succeeded revision={APP_IMAGE}:2.0.0"
    assert said in run.log, str(run)
    report = gitlab_dotenv(repo, "ci-deploy:staging")
    assert report["CI_DEPLOY_PHASE"] == "Succeeded", report
    assert report["CI_DEPLOY_PREVIOUS_REVISION"] == f"{APP_IMAGE}:1.0.0", report
    assert live_status(cluster.kubeconfig, config)["live"]["image"] == f"{APP_IMAGE}:2.0.0"

    manual = ("ci-deploy:staging:rollback", "--manual", "ci-deploy:staging:rollback")
    rolled = gcl_docker(repo, helper_image, variables, *manual)
    assert_no_token(cluster.kubeconfig, rolled.log)
    assert rolled.returncode == 0, str(rolled)
    assert gitlab_result(rolled, "ci-deploy:staging:rollback") == "PASS", str(rolled)
    report = gitlab_dotenv(repo, "ci-deploy:staging:rollback")
    assert report["CI_DEPLOY_PHASE"] == "RolledBack", report
    assert report["CI_DEPLOY_PREVIOUS_REVISION"] == f"{APP_IMAGE}:1.0.0", report
    status = live_status(cluster.kubeconfig, config)
    assert status["live"]["image"] == f"{APP_IMAGE}:1.0.0"
