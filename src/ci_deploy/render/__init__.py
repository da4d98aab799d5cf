"""Manifest rendering: configuration + templates → validated Kubernetes objects.

``render_manifests(cfg, "staging", image=...)`` renders the built-in templates (or the user's
folder), checks every object against the Kubernetes schemas offline and returns plain dicts.
jinja2 and jsonschema are imported only when something is rendered.
"""

from __future__ import annotations

from typing import Any

from ci_deploy.render.manifests import RenderedObject, render_manifests, render_objects
from ci_deploy.render.paths import template_dir
from ci_deploy.render.validate import DEFAULT_KUBE_VERSION
from ci_deploy.render.yamlout import to_yaml

RenderedManifests = list[dict[str, Any]]

__all__ = [
    "DEFAULT_KUBE_VERSION",
    "RenderedManifests",
    "RenderedObject",
    "render_manifests",
    "render_objects",
    "template_dir",
    "to_yaml",
]
