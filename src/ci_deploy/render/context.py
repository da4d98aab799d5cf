"""The variables every manifest template sees, computed from the configuration.

Values that need logic (labels, container env, resources) are prepared here in plain Python,
so the templates stay declarative and a user template can reuse them as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
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
    r"(?::[\w][\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?",
    re.ASCII,  # \w is [A-Za-z0-9_] here, as in the grammar: no other letters in a tag
)


# A bare word that reads as a version tag (`1.4.0`, `v2`, `latest`), not as an image name.
_TAG_ONLY_RE = re.compile(r"(?:v?[0-9][\w.-]*|latest)", re.ASCII)


def resolve_image(cfg: Config, image: str) -> str:
    """The image reference ``image`` stands for (validated; exit 2 when it is not one).

    ``:TAG`` / ``@DIGEST`` complete the configured repository; a bare word that reads as a tag
    (``1.4.0``) is refused with the spelling that was meant (``:1.4.0``); anything else is a
    full reference taken as is.
    """
    repository = cfg.image.repository
    if image.startswith((":", "@")):
        chosen = f"{repository}{image}"
    elif not any(ch in image for ch in "/:@") and _TAG_ONLY_RE.fullmatch(image):
        raise UserInputError(
            f"--image {image!r} is only a tag, not an image reference",
            hint=f"pass --image :{image} (that is {repository}:{image}), or a full reference",
        )
    else:
        chosen = image
    if not _IMAGE_RE.fullmatch(chosen):  # fullmatch: "$" would let a trailing newline in
        raise UserInputError(
            f"--image: {chosen!r} is not a valid image reference "
            "(expected e.g. registry.example.com/team/app:1.2.3 or app@sha256:<digest>)"
        )
    return chosen


def image_tag(image: str) -> str | None:
    """The tag of an image reference (None: none, so runtimes pull ``latest``)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def floating_image_problem(image: str) -> str | None:
    """Why ``image`` may run different code tomorrow (tag-less or ``:latest``), else None."""
    if "@" in image:
        return None  # a digest pins the content, whatever the tag says
    tag = image_tag(image)
    if tag is None:
        return f"{image} has no tag, so the cluster runs whatever 'latest' is when a pod starts"
    if tag == "latest":
        return f"{image} is ':latest', which can change under a running deployment"
    return None


@dataclass(frozen=True)
class ChosenImage:
    """The image a verb works with, where it came from, and a warning about it (if any)."""

    image: str
    source: str  # "--image" | "live"
    warning: str | None = None


def choose_image(
    cfg: Config,
    env: EnvironmentConfig,
    given: str | None,
    live: str | None,
    *,
    offline: bool = False,
) -> ChosenImage:
    """THE rule of ``plan``, ``render`` and ``deploy``: ``--image``, else the image live now.

    ``render`` never asks the cluster (``offline``), so for it ``--image`` is needed.
    A tag-less or ``:latest`` image is refused in a protected environment (exit 2) and
    returned with a warning elsewhere.
    """
    if given is not None:
        image, source = resolve_image(cfg, given), "--image"
    elif live:
        image, source = live, "live"
    else:
        raise UserInputError(
            "no image given (this verb does not ask the cluster which image is live)"
            if offline
            else f"no image given, and none is live in namespace {env.namespace} to redeploy",
            hint=f"pass --image :TAG (the tag of {cfg.image.repository}), --image @sha256:DIGEST "
            "or a full image reference",
        )
    problem = floating_image_problem(image)
    if problem and env.protected:
        raise UserInputError(
            f"environment {env.name} is protected: {problem}",
            hint="deploy a fixed tag or a digest (--image :1.4.0, --image @sha256:…)",
        )
    return ChosenImage(image, source, f"{problem}; pin a tag or a digest" if problem else None)


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


def template_context(cfg: Config, env: EnvironmentConfig, image: str) -> dict[str, Any]:
    """The variables of every manifest template (documented in docs/manifests.md)."""
    labels, selector = common_labels(cfg, env)
    return {
        "app": cfg.app,
        "env": env,
        "environment": env.name,
        "namespace": env.namespace,
        "image": image,
        "host": env.url_host,
        "labels": labels,
        "selector_labels": selector,
        "manifests": cfg.manifests,
        "rolling": cfg.rolling,
        "container_env": container_env(env),
        "container_resources": container_resources(env),
        "config": cfg,
    }
