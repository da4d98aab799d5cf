"""The image built from the Dockerfile runs ci-deploy and carries no package installer.

Every probe runs in one container (on this machine's vfs storage driver each ``docker run``
costs several seconds); each probe's exit code and output are reported separately.
"""

from __future__ import annotations

import subprocess

import pytest
from tests.e2e.harness import IMAGE_TAG

pytestmark = pytest.mark.e2e

INTERPRETERS = ("python3", "/opt/ci-deploy/bin/python")
PROBES: dict[str, str] = {
    "version": "ci-deploy --version",
    "help": "ci-deploy --help",
    "sandbox serve": "ci-deploy sandbox serve",
    "pip on PATH": "command -v pip pip3 || true",
    **{
        f"{interpreter} import {module}": f"{interpreter} -c 'import {module}'"
        for interpreter in INTERPRETERS
        for module in ("pip", "setuptools", "wheel", "kube_sandbox")
    },
}
MARK = "::probe-end::"


@pytest.fixture(scope="module")
def probed(action_image: str) -> dict[str, tuple[int, str]]:
    """name -> (exit code, stdout and stderr) of every probe, run in one container."""
    names = list(PROBES)
    script = "".join(
        f'{{ {PROBES[name]}; }} 2>&1; echo "{MARK} $? {index}"\n'
        for index, name in enumerate(names)
    )
    done = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--entrypoint", "", IMAGE_TAG,
         "sh", "-c", script],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results: dict[str, tuple[int, str]] = {}
    output: list[str] = []
    for line in done.stdout.splitlines():
        if line.startswith(MARK):
            code, index = line[len(MARK) :].split()
            results[names[int(index)]] = (int(code), "\n".join(output))
            output = []
        else:
            output.append(line)
    assert set(results) == set(PROBES), done.stdout
    return results


def test_the_image_runs_ci_deploy_and_has_no_pip_or_setuptools(
    probed: dict[str, tuple[int, str]],
) -> None:
    code, out = probed["version"]
    assert code == 0 and out.startswith("ci-deploy, version "), out
    for interpreter in INTERPRETERS:
        for module in ("pip", "setuptools", "wheel"):
            code, out = probed[f"{interpreter} import {module}"]
            assert code != 0, f"{interpreter} can import {module}"
            assert "ModuleNotFoundError" in out
    assert probed["pip on PATH"] == (0, "")


def test_the_image_leaves_the_sandbox_out(probed: dict[str, tuple[int, str]]) -> None:
    code, out = probed["/opt/ci-deploy/bin/python import kube_sandbox"]
    assert code != 0 and "ModuleNotFoundError" in out
    code, out = probed["help"]
    assert code == 0, out
    assert "  deploy " in out and "  sandbox " not in out
    code, out = probed["sandbox serve"]
    assert code == 2 and "No such command 'sandbox'" in out
