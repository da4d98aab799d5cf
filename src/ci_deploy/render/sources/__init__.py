"""Where an app's manifests come from: one module per kind of source, behind one protocol.

A source turns the configuration and the environment into YAML texts, each with the name
messages show it by (a template, a file). Everything after that is shared by every source:
parsing, the namespace and labels, duplicate and schema checks, and the image substitution
(render/images.py). ``source_for(cfg)`` picks the source the configuration names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ci_deploy.config import Config, EnvironmentConfig
    from ci_deploy.errors import Problem


@dataclass(frozen=True)
class SourceText:
    """One YAML text of a source (one or more documents) and how messages name it."""

    display: str
    text: str
    rendered: bool = True  # made by a template (messages say "rendered line"), or a file as is
    # the app.kubernetes.io/managed-by the tool writes (Helm's "Helm"): ci-deploy applies the
    # objects, so it manages them and says so instead
    managed_by: str | None = None

    @property
    def file_name(self) -> str:
        """How YAML errors name it: ``web.yaml.j2 (rendered)`` or ``deploy/web.yaml``."""
        return f"{self.display} (rendered)" if self.rendered else self.display


class ManifestSource(Protocol):
    """Produces the YAML texts of one environment; problems are collected, not raised."""

    name: str

    def texts(
        self,
        cfg: Config,
        env: EnvironmentConfig,
        context: dict[str, Any],
        problems: list[Problem],
    ) -> list[SourceText]:
        """The texts to parse; what went wrong is appended to ``problems``."""
        ...


def source_for(cfg: Config, kube_version: str) -> ManifestSource:
    """The source ``manifests:`` names: plain files, a Kustomize folder, a Helm chart, else
    templates (the user's or the built-in ones). ``kube_version``: what objects are checked
    against (Helm renders for it)."""
    if cfg.manifests.files:
        from ci_deploy.render.sources.files import PlainFiles

        return PlainFiles()
    if cfg.manifests.kustomize:
        from ci_deploy.render.sources.kustomize import Kustomize

        return Kustomize()
    if cfg.manifests.helm is not None:
        from ci_deploy.render.sources.helm import Helm

        return Helm(kube_version)
    from ci_deploy.render.sources.templates import Templates

    return Templates()
