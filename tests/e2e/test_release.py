"""ci-deploy's own release: scripts/release.sh (what .github/workflows/release.yml runs on a tag)
publishes the image to a real registry on loopback with its tags and SBOM and pins action.yml to
it by digest in a release commit; then a user workflow under act, `uses: org/ci-deploy@v1`
resolved to that commit, pulls the published image and deploys to the sandbox without building
anything. And the pin script and the workflow file on their own."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from tests.build.registry import Registry
from tests.e2e.harness import (
    ACT_IMAGE_TAG,
    APP_IMAGE,
    E2E_CONFIG,
    ROOT,
    act_with_kubeconfig_secret,
    assert_actionlint_clean,
    assert_schema_valid,
    git_repo,
    live_status,
)

from kube_sandbox.testing import SandboxHandle

pytestmark = pytest.mark.e2e

PIN = ROOT / "scripts" / "pin_action_image.py"
DIGEST = "sha256:" + "ab" * 32


def pin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["python3", str(PIN), *args], capture_output=True, text=True, timeout=30)


def test_pinning_rewrites_only_the_image_line_into_valid_action_metadata(tmp_path: Path) -> None:
    action = tmp_path / "action.yml"
    original = (ROOT / "action.yml").read_text()
    action.write_text(original)
    assert pin("--check", str(action)).stdout.strip() == "development"
    reference = f"ghcr.io/acme/ci-deploy:v1.2.3@{DIGEST}"
    done = pin(str(action), reference)
    assert done.returncode == 0, done.stderr
    text = action.read_text()
    pairs = zip(original.splitlines(), text.splitlines(), strict=True)
    changed = [(a, b) for a, b in pairs if a != b]
    assert changed == [("  image: Dockerfile", f"  image: docker://{reference}")]
    assert pin("--check", str(action)).stdout.strip() == f"docker://{reference}"
    # Both forms are valid action metadata (GitHub's schema, as check-jsonschema ships it).
    assert_schema_valid("vendor.github-actions", ROOT / "action.yml")
    assert_schema_valid("vendor.github-actions", action)
    again = pin(str(action), reference)  # a release is made from the development form only
    assert again.returncode == 2 and "make a release from the default branch" in again.stderr


@pytest.mark.parametrize(
    "reference",
    [
        "ghcr.io/acme/ci-deploy:v1.2.3",  # no digest
        "ghcr.io/acme/ci-deploy:latest@" + DIGEST,  # not a version
        "ghcr.io/acme/ci-deploy:v1.2.3@sha256:abc",  # a short digest
        "ci-deploy:v1.2.3@" + DIGEST,  # no registry
    ],
)
def test_pinning_refuses_a_reference_that_is_not_a_version_by_digest(
    tmp_path: Path, reference: str
) -> None:
    action = tmp_path / "action.yml"
    action.write_text((ROOT / "action.yml").read_text())
    done = pin(str(action), reference)
    assert done.returncode == 2 and "expected REGISTRY/NAME:vX.Y.Z@sha256:" in done.stderr
    assert action.read_text() == (ROOT / "action.yml").read_text()


@pytest.mark.parametrize("name", [".gitlab-ci-template.yml", "templates/ci-deploy/template.yml"])
def test_pinning_the_gitlab_files_rewrites_their_two_image_lines(tmp_path: Path, name: str) -> None:
    path = tmp_path / Path(name).name
    original = (ROOT / name).read_text()
    path.write_text(original)
    jobs, tools = (
        f"ghcr.io/acme/ci-deploy:v1.2.3@{DIGEST}",
        f"ghcr.io/acme/ci-deploy:v1.2.3-tools@{DIGEST}",
    )
    wrong = pin("--tools", str(path), jobs)  # the tools image must be the -tools tag
    assert wrong.returncode == 2 and "vX.Y.Z-tools@sha256:" in wrong.stderr
    assert pin(str(path), jobs).returncode == 0
    assert pin("--tools", str(path), tools).returncode == 0
    pairs = zip(original.splitlines(), path.read_text().splitlines(), strict=True)
    changed = [(a.split(":", 1)[0], b.split(": ", 1)[1]) for a, b in pairs if a != b]
    assert [value for _, value in changed] == [jobs, tools], changed
    again = pin(str(path), jobs)  # a release is made from the default branch's file only
    assert again.returncode == 2 and "make a release from the default branch" in again.stderr


def test_the_release_workflow_is_actionlint_and_schema_clean(tmp_path: Path) -> None:
    workflow = (ROOT / ".github" / "workflows" / "release.yml").read_text()
    repo = git_repo(tmp_path / "repo", {".github/workflows/release.yml": workflow})
    assert_actionlint_clean(repo)
    assert_schema_valid("github-workflows", repo / ".github" / "workflows" / "release.yml")


def git(clone: str, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", clone, *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_the_release_publishes_tags_and_sbom_and_pins_action_yml_by_digest(
    release: dict[str, str], registry: Registry
) -> None:
    clone, image, reference = release["clone"], release["image"], release["reference"]
    match = re.fullmatch(re.escape(image) + r":v1\.2\.3@(sha256:[0-9a-f]{64})", reference)
    assert match is not None, reference
    digest = match.group(1)
    tools = re.fullmatch(
        re.escape(image) + r":v1\.2\.3-tools@(sha256:[0-9a-f]{64})", release["tools_reference"]
    )
    assert tools is not None and tools.group(1) != digest, release["tools_reference"]
    tags = {"v1.2.3", "v1.2", "v1"}
    assert tags | {f"{tag}-tools" for tag in tags} <= set(registry.tags("acme/ci-deploy"))
    for tag in tags:  # the same image under every tag, and the same tools image
        assert registry.manifest_digest("acme/ci-deploy", tag) == digest
        assert registry.manifest_digest("acme/ci-deploy", f"{tag}-tools") == tools.group(1)
    # The release commit: on top of the released one, only the pinned files and release.json
    # changed; both tags on it.
    assert (
        git(clone, "rev-parse", "v1.2.3")
        == git(clone, "rev-parse", "v1")
        == git(clone, "rev-parse", "HEAD")
    )
    changed = git(clone, "diff", "--name-only", "HEAD~1", "HEAD").splitlines()
    assert sorted(changed) == [
        ".gitlab-ci-template.yml",
        "action.yml",
        "src/ci_deploy/release.json",
        "templates/ci-deploy/template.yml",
    ]
    assert f"  image: docker://{reference}" in git(clone, "show", "v1:action.yml").splitlines()
    assert "  image: Dockerfile" in git(clone, "show", "HEAD~1:action.yml").splitlines()
    # The GitLab jobs run the same image, by digest; the development form is a placeholder.
    template = git(clone, "show", "v1:.gitlab-ci-template.yml").splitlines()
    assert f"  CI_DEPLOY_TOOL_IMAGE: {reference}" in template
    assert f"  CI_DEPLOY_TOOLS_IMAGE: {release['tools_reference']}" in template  # build, scan
    component = next(yaml.safe_load_all(git(clone, "show", "v1:templates/ci-deploy/template.yml")))
    assert component["spec"]["inputs"]["tool-image"]["default"] == reference
    assert component["spec"]["inputs"]["tools-image"]["default"] == release["tools_reference"]
    # What the CLI of this release tells `render pipeline` (the image carries it too).
    assert json.loads(git(clone, "show", "v1:src/ci_deploy/release.json")) == {
        "version": "v1.2.3",
        "action": "acme/ci-deploy",
        "image": image,
        "gitlab_project": None,
    }
    sbom = json.loads((Path(release["out"]) / "sbom.spdx.json").read_text())
    assert sbom["spdxVersion"].startswith("SPDX-")
    names = {p["name"] for p in sbom["packages"]}
    assert {"click", "kubernetes", "ci-deploy"} <= names, sorted(names)[:40]
    assert "release: not signed (SIGN is not true)" in release["log"]


USER_WORKFLOW = """\
name: deploy
on: push
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v5
      - id: deploy
        uses: org/ci-deploy@v1
        with:
          environment: staging
          image: registry.example.com/acme/web-app:1.0.0
          kubeconfig: ${{ secrets.KUBECONFIG }}
          timeout: 2m
      - run: test "${{ steps.deploy.outputs.phase }}" = Succeeded
"""


def test_a_user_workflow_pulls_the_released_image_and_builds_nothing(
    release: dict[str, str], cluster: SandboxHandle, tmp_path: Path
) -> None:
    reference = release["reference"]
    # Nothing of the image is on this engine: act must pull it from the registry.
    for tag in ("v1.2.3", "v1.2", "v1"):
        subprocess.run(["docker", "rmi", "-f", f"{release['image']}:{tag}"], capture_output=True)
    repo = git_repo(
        tmp_path / "repo",
        {"ci-deploy.yml": E2E_CONFIG, ".github/workflows/deploy.yml": USER_WORKFLOW},
    )
    run = act_with_kubeconfig_secret(
        repo, "push", "deploy.yml", cluster.kubeconfig, action=Path(release["clone"])
    )
    assert run.returncode == 0, str(run)
    assert "docker build" not in run.log and ACT_IMAGE_TAG not in run.log
    assert f"docker pull image={reference}" in run.log
    inspect = subprocess.run(["docker", "image", "inspect", reference], capture_output=True)
    assert inspect.returncode == 0  # pulled, by digest
    status = live_status(cluster.kubeconfig, repo / "ci-deploy.yml")
    assert status["state"]["phase"] == "Succeeded"
    assert status["live"]["image"] == f"{APP_IMAGE}:1.0.0"
