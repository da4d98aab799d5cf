"""The effective configuration of one environment as plain data (for ``config show``).

The result is itself a valid ``ci-deploy.yml`` with a single, fully explicit environment:
defaults are merged in, typed values print in canonical form (``1h30m``, ``< 0.1%``), and
loading it again gives the same effective values.

The built-in Ingress and HTTPRoute templates serve the host of the environment's ``url`` when
it has one, not ``manifests.ingress.host`` / ``manifests.http_route.hostnames``; the document
shows the host the environment's render uses, and :func:`host_notes` says where it comes from.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ci_deploy.config.model import Config, EnvironmentConfig, Trigger
from ci_deploy.config.values import Duration, Threshold


def effective_document(cfg: Config, environment: str) -> dict[str, Any]:
    """The configuration as ``environment`` sees it, as YAML/JSON-ready data."""
    env = cfg.environment(environment)
    doc: dict[str, Any] = {
        "app": cfg.app,
        "image": to_data(cfg.image),
        "strategy": cfg.strategy,
        "manifests": _manifests(cfg, env),
        "environments": {env.name: _environment(env)},
        "rolling": to_data(cfg.rolling),
    }
    if cfg.canary is not None:
        doc["canary"] = to_data(cfg.canary)
    if cfg.blue_green is not None:
        doc["blue_green"] = to_data(cfg.blue_green)
    doc["analysis"] = to_data(cfg.analysis)
    doc["notifications"] = to_data(cfg.notifications)
    if cfg.migrations is not None:
        doc["migrations"] = to_data(cfg.migrations)
    return doc


def _manifests(cfg: Config, env: EnvironmentConfig) -> dict[str, Any]:
    data: dict[str, Any] = to_data(cfg.manifests)
    host = env.url_host
    if host is None or cfg.manifests.templates is not None:  # user templates choose themselves
        return data
    if "ingress" in data:
        data["ingress"]["host"] = host
    if "http_route" in data:
        data["http_route"]["hostnames"] = [host]
    return data


def host_notes(cfg: Config, environment: str) -> list[str]:
    """One line per host setting the environment's ``url`` changes: what is shown and why."""
    env = cfg.environment(environment)
    host = env.url_host
    if host is None:
        return []
    manifests, url = cfg.manifests, f"environments.{env.name}.url"
    configured: list[tuple[str, tuple[str, ...]]] = []
    if manifests.ingress is not None:
        configured.append(("manifests.ingress.host", (manifests.ingress.host,)))
    if manifests.http_route is not None:
        configured.append(("manifests.http_route.hostnames", manifests.http_route.hostnames))
    notes = []
    for key, values in configured:
        in_file = ", ".join(values) or "none"
        if manifests.templates is not None:
            notes.append(
                f"{key}: {in_file} in the file; the template variable `host` is {host}, "
                f"the host of {url}"
            )
        elif values != (host,):
            notes.append(
                f"{key}: {host}, the host of {url} (the built-in templates serve it); "
                f"the file sets {in_file} for environments without a url"
            )
    return notes


def _environment(env: EnvironmentConfig) -> dict[str, Any]:
    data: dict[str, Any] = to_data(env)
    del data["name"]  # the mapping key already names it
    return data


def to_data(value: Any) -> Any:
    """Typed configuration values → plain data; unset (None) fields are left out."""
    if isinstance(value, (Duration, Threshold)):
        return value.canonical
    if isinstance(value, Trigger):
        return {value.metric: True} if value.manual else {value.metric: to_data(value.threshold)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if item is not None:
                out[f.name] = to_data(item)
        return out
    if isinstance(value, dict):
        return {str(k): to_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_data(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
