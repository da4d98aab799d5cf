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
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ci_deploy.errors import Location, NothingChanged, Problem
from ci_deploy.render.jinja import display_path
from ci_deploy.render.sources import SourceText
from ci_deploy.render.sources.tool import outside_repository, passed_environment, run_tool

if TYPE_CHECKING:
    from ci_deploy.config import Config, EnvironmentConfig

PASSED_VARIABLES = ("PATH", "TMPDIR", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY")


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
        argv.append("--skip-tests")  # a chart's test Pods are for `helm test`, not a deploy
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
    outside = outside_repository(cfg.source, path)
    if outside is not None:
        return outside
    real = Path(os.path.realpath(path))
    if not real.exists():
        return f"{display_path(path)} does not exist"
    if real.is_dir() and not (folder_ok and (real / "Chart.yaml").is_file()):
        return f"{display_path(path)} is a folder without Chart.yaml"
    return None


def _run(argv: list[str]) -> tuple[str, str | None]:
    """:func:`run_tool` for helm, in empty Helm homes of its own."""
    with tempfile.TemporaryDirectory(prefix="ci-deploy-helm-") as home:
        env = passed_environment(PASSED_VARIABLES)
        env.update(
            HOME=home,
            HELM_CACHE_HOME=f"{home}/cache",
            HELM_CONFIG_HOME=f"{home}/config",
            HELM_DATA_HOME=f"{home}/data",
        )
        return run_tool(argv, env)


def _helm() -> str:
    found = shutil.which("helm")
    if found is None:
        raise NothingChanged(
            "manifests.helm needs Helm 3, and no helm is on PATH",
            hint="install Helm 3 (https://helm.sh/docs/intro/install/), or render the chart in "
            "an earlier step (helm template …) and deploy it with manifests.files",
        )
    return found
