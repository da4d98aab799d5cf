"""The image built from the Dockerfile runs ci-deploy and carries no package installer."""

from __future__ import annotations

import subprocess

from tests.e2e.harness import IMAGE_TAG


def run_in_image(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--entrypoint", "", IMAGE_TAG,
         "sh", "-c", script],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_image_runs_ci_deploy_and_has_no_pip_or_setuptools(action_image: str) -> None:
    works = run_in_image("ci-deploy --version")
    assert works.returncode == 0, works.stderr
    assert works.stdout.startswith("ci-deploy, version ")
    for interpreter in ("python3", "/opt/ci-deploy/bin/python"):
        for module in ("pip", "setuptools", "wheel"):
            probe = run_in_image(f"{interpreter} -c 'import {module}'")
            assert probe.returncode != 0, f"{interpreter} can import {module}"
            assert "ModuleNotFoundError" in probe.stderr
    which = run_in_image("command -v pip pip3 || true")
    assert which.stdout.strip() == ""


def test_the_image_leaves_the_sandbox_out(action_image: str) -> None:
    probe = run_in_image("/opt/ci-deploy/bin/python -c 'import kube_sandbox'")
    assert probe.returncode != 0 and "ModuleNotFoundError" in probe.stderr
    verbs = run_in_image("ci-deploy --help")
    assert verbs.returncode == 0, verbs.stderr
    assert "  deploy " in verbs.stdout and "  sandbox " not in verbs.stdout
    asked = run_in_image("ci-deploy sandbox serve")
    assert asked.returncode == 2 and "No such command 'sandbox'" in asked.stderr
