"""The variables every manifest template sees, computed from the configuration.

Values that need logic (labels, container env, resources) are prepared here in plain Python,
so the templates stay declarative and a user template can reuse them as they are.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ci_deploy.errors import UserInputError

if TYPE_CHECKING:
    from ci_deploy.config import Config, EnvironmentConfig

MANAGED_BY = "ci-deploy"
LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_ENVIRONMENT = "ci-deploy.dev/environment"

# An image reference as the container runtimes accept it (distribution's reference grammar,
# simplified): [registry[:port]/]path[:tag][@digest].
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
_IMAGE_RE = re.compile(
    rf"^(?:{_DOMAIN}(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[\w][\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)


def resolve_image(cfg: Config, image: str | None) -> str:
    """The image to run (validated): ``image``; ``:TAG`` / ``@DIGEST`` alone mean the configured
    repository with that tag or digest (as ``deploy --image`` takes them); none: ``:latest``."""
    if image is None:
        image_given, chosen = False, f"{cfg.image.repository}:latest"
    elif image.startswith((":", "@")):
        image_given, chosen = True, f"{cfg.image.repository}{image}"
    else:
        image_given, chosen = True, image
    if not _IMAGE_RE.match(chosen):
        source = "--image" if image_given else f"image.repository in {cfg.source}"
        raise UserInputError(
            f"{source}: {chosen!r} is not a valid image reference "
            "(expected e.g. registry.example.com/team/app:1.2.3 or app@sha256:<digest>)"
        )
    return chosen


def env_var_name(service: str) -> str:
    """``payment_gateway`` → ``PAYMENT_GATEWAY_URL`` (external services become URL variables)."""
    base = re.sub(r"[^A-Za-z0-9]+", "_", service).strip("_").upper()
    return base if base.endswith("_URL") else f"{base}_URL"


def container_env(env: EnvironmentConfig) -> list[dict[str, str]]:
    """The container's env list: derived variables first, the user's ``env`` overriding them."""
    merged: dict[str, str] = {}
    if env.log_level is not None:
        merged["LOG_LEVEL"] = env.log_level
    if env.database is not None:
        merged["DATABASE_NAME"] = env.database
    for service, url in env.external_services.items():
        merged[env_var_name(service)] = url
    merged.update(env.env)
    return [{"name": name, "value": str(value)} for name, value in merged.items()]


def container_resources(env: EnvironmentConfig) -> dict[str, dict[str, str]]:
    """Requests equal limits (Guaranteed QoS): the seed gives one figure per resource."""
    quantities = {
        name: value
        for name, value in (("cpu", env.resources.cpu), ("memory", env.resources.memory))
        if value is not None
    }
    if not quantities:
        return {}
    return {"requests": dict(quantities), "limits": dict(quantities)}


def common_labels(cfg: Config, env: EnvironmentConfig) -> tuple[dict[str, str], dict[str, str]]:
    """(labels, selector_labels): every object gets ``labels``; pods are selected by the rest."""
    selector = {LABEL_NAME: cfg.app, LABEL_INSTANCE: f"{cfg.app}-{env.name}"}
    labels = {**selector, LABEL_MANAGED_BY: MANAGED_BY, LABEL_ENVIRONMENT: env.name}
    for key, value in labels.items():
        if len(value) > 63:  # Kubernetes label values are at most 63 characters
            raise UserInputError(
                f"label {key}={value!r} is longer than 63 characters; "
                "shorten the app or environment name"
            )
    return labels, selector


def url_host(env: EnvironmentConfig) -> str | None:
    """The host of the environment's URL: the Ingress / HTTPRoute host of that environment."""
    if env.url is None:
        return None
    from urllib.parse import urlsplit

    return urlsplit(env.url).hostname


def template_context(cfg: Config, env: EnvironmentConfig, image: str) -> dict[str, Any]:
    """The variables of every manifest template (documented in docs/manifests.md)."""
    labels, selector = common_labels(cfg, env)
    return {
        "app": cfg.app,
        "env": env,
        "environment": env.name,
        "namespace": env.namespace,
        "image": image,
        "host": url_host(env),
        "labels": labels,
        "selector_labels": selector,
        "manifests": cfg.manifests,
        "rolling": cfg.rolling,
        "container_env": container_env(env),
        "container_resources": container_resources(env),
        "config": cfg,
    }
