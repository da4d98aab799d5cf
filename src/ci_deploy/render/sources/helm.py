"""A Helm chart of the repository (``manifests.helm``), rendered with ``helm template``.

ci-deploy sets what a release decides: the release name (the app's by default), the namespace
(the environment's) and ``--kube-version`` (the version the objects are validated against).
Values come from the chart's defaults, then the values files in order, then ``set:``;
``{environment}`` in a values file name or a set value is the environment's name. Helm runs
with its own empty home folders (no repositories, plugins or registry logins of the machine)
and a reduced environment (none of the job's tokens). Charts must be in the repository:
a chart reference to a repository or an OCI registry is refused.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ci_deploy.config.load import repository_root
from ci_deploy.errors import Location, NothingChanged, Problem
from ci_deploy.render.jinja import display_path
from ci_deploy.render.sources import SourceText

if TYPE_CHECKING:
    from ci_deploy.config import Config, EnvironmentConfig

TIMEOUT = 120.0
PASSED_VARIABLES = ("PATH", "TMPDIR", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY")
_TAIL_LINES = 8


class Helm:
    """``helm template RELEASE CHART`` for the environment."""

    name = "helm"

    def __init__(self, kube_version: str) -> None:
        self.kube_version = kube_version

    def texts(
        self,
        cfg: Config,
        env: EnvironmentConfig,
        context: dict[str, Any],
        problems: list[Problem],
    ) -> list[SourceText]:
        helm = cfg.manifests.helm
        assert helm is not None  # source_for chose this source for it
        where = Location(cfg.source)
        base = Path(os.path.abspath(Path(cfg.source).parent))
        chart = base / helm.chart
        files = [base / v.replace("{environment}", env.name) for v in helm.values]
        for key, path in [("manifests.helm.chart", chart)] + [
            (f"manifests.helm.values[{i}]", f) for i, f in enumerate(files)
        ]:
            problem = _path_problem(cfg, path, folder_ok=key.endswith("chart"))
            if problem is not None:
                problems.append(Problem(where, key, problem))
        if problems:
            return []
        argv = [_helm(), "template", helm.release or cfg.app, str(chart)]
        argv += ["--namespace", env.namespace, "--kube-version", self.kube_version]
        for path in files:
            argv += ["--values", str(path)]
        for name, value in helm.set.items():
            argv += ["--set-string", f"{name}={value.replace('{environment}', env.name)}"]
        said, text = _run(argv)
        if text is None:
            shown = display_path(chart)
            problems.append(
                Problem(where, "manifests.helm", f"helm template {shown} failed: {said}")
            )
            return []
        return [SourceText(f"{display_path(chart)} (helm template)", text, managed_by="Helm")]


def _path_problem(cfg: Config, path: Path, *, folder_ok: bool) -> str | None:
    root, what = repository_root(cfg.source)
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(Path(os.path.realpath(root))):
        return f"{display_path(path)} resolves to {real}, outside the repository ({root}, {what})"
    if not real.exists():
        return f"{display_path(path)} does not exist"
    if real.is_dir() and not (folder_ok and (real / "Chart.yaml").is_file()):
        return f"{display_path(path)} is a folder without Chart.yaml"
    return None


def _run(argv: list[str]) -> tuple[str, str | None]:
    """(stderr's last lines, stdout or None on failure) of a helm run in private homes."""
    with tempfile.TemporaryDirectory(prefix="ci-deploy-helm-") as home:
        env = {k: v for k, v in os.environ.items() if k in PASSED_VARIABLES}
        env.update(
            HOME=home,
            HELM_CACHE_HOME=f"{home}/cache",
            HELM_CONFIG_HOME=f"{home}/config",
            HELM_DATA_HOME=f"{home}/data",
        )
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=TIMEOUT,
                env=env,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return f"did not finish within {TIMEOUT:g}s", None
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    said = " | ".join(lines[-_TAIL_LINES:]) or "no output"
    return said, done.stdout if done.returncode == 0 else None


def _helm() -> str:
    found = shutil.which("helm")
    if found is None:
        raise NothingChanged(
            "manifests.helm needs Helm 3, and no helm is on PATH",
            hint="install Helm 3 (https://helm.sh/docs/intro/install/), or render the chart in "
            "an earlier step (helm template …) and deploy it with manifests.files",
        )
    return found
