"""The kubeconfig that points kubectl and the Python client at a sandbox.

Cluster, user and context are all named ``ci-deploy-sandbox``. An existing file is merged
into (its other clusters, users and contexts are kept) and its current context set to the
sandbox, as ``kubectl config set-context`` would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ci_deploy.fileio import write_atomically

NAME = "ci-deploy-sandbox"


def _upsert(
    entries: list[dict[str, Any]], name: str, key: str, value: dict[str, Any]
) -> list[dict[str, Any]]:
    kept = [e for e in entries if isinstance(e, dict) and e.get("name") != name]
    return [*kept, {"name": name, key: value}]


def write_kubeconfig(path: Path, url: str, namespace: str = "default") -> Path:
    """Write (or merge into) the kubeconfig at ``path``; returns the path."""
    config: dict[str, Any] = {}
    if path.exists():
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(loaded, dict):
            config = loaded
    config.setdefault("apiVersion", "v1")
    config.setdefault("kind", "Config")
    config.setdefault("preferences", {})
    config["clusters"] = _upsert(config.get("clusters") or [], NAME, "cluster", {"server": url})
    config["users"] = _upsert(config.get("users") or [], NAME, "user", {})
    context = {"cluster": NAME, "user": NAME, "namespace": namespace}
    config["contexts"] = _upsert(config.get("contexts") or [], NAME, "context", context)
    config["current-context"] = NAME
    write_atomically(path, yaml.safe_dump(config, sort_keys=False))
    return path
