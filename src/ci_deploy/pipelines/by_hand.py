"""What a rendered pipeline needs that no file can set: the platform's settings, by hand.

Each item names exactly what the templates consume (``templates/pipelines/<platform>.yml.j2``
and the GitLab template they include): the environments whose protection is the gate, the
``KUBECONFIG`` secret or variable of every environment, and the registry credentials of a
pipeline that builds. ``render pipeline`` prints them and writes them at the top of the file.
"""

from __future__ import annotations

from dataclasses import dataclass

from ci_deploy.build.credentials import registry_host
from ci_deploy.config.model import RegistryLoginConfig
from ci_deploy.text import one_line


@dataclass(frozen=True)
class Gate:
    """An environment whose protection is a gate of the pipeline."""

    name: str
    deploy: bool  # its deploy is gated: the last of several environments
    promote: bool  # it has a promote job: its rollout can pause at a manual gate


@dataclass(frozen=True)
class Surface:
    """What the rendered jobs consume, as far as the platform's settings go."""

    environments: list[str]  # every environment a job uses, in deploy order
    gates: list[Gate]
    branch: str
    config_path: str
    builds_to: str | None  # the repository the build job pushes, None when nothing builds
    registry: RegistryLoginConfig | None  # build.registry


def github_items(surface: Surface) -> list[str]:
    """GitHub: environment reviewers and secrets (Settings → Environments), registry secrets."""
    items = []
    for gate in surface.gates:
        # every job in a protected environment waits for its reviewers: the deploy job too
        jobs = _jobs(gate, "-", deploy=True)
        items.append(
            f"GitHub environment {gate.name}: required reviewers (Settings → Environments → "
            f"{gate.name}); {' and '.join(jobs)} {'wait' if len(jobs) > 1 else 'waits'} for "
            "their approval: that is the gate"
        )
    items.append(
        "environment secret KUBECONFIG (the cluster's kubeconfig file) in each GitHub "
        f"environment: {', '.join(surface.environments)} (Settings → Environments → NAME → "
        "Environment secrets)"
    )
    if surface.builds_to is not None:
        host = registry_host(surface.builds_to)
        if surface.registry is not None:
            items.append(_login(surface.registry, host, "repository secrets", ""))
        elif host != "ghcr.io":
            items.append(
                f"registry credentials for {host}: the job's GITHUB_TOKEN pushes to ghcr.io only; "
                f"set build.registry (username_env, password_env) in {surface.config_path}, "
                "render again and add those repository secrets"
            )
    return [one_line(item) for item in items]


def gitlab_items(surface: Surface) -> list[str]:
    """GitLab: protected environments, the KUBECONFIG variables, registry variables, runner."""
    # approvals would hold every deployment job of the environment: only the gated one's
    items = [
        f"protected environment {gate.name} (Settings → CI/CD → Protected environments): "
        + ("who may deploy, and approvers" if gate.deploy else "who may deploy")
        + f"; only they run the manual {' and '.join(_jobs(gate, ':', deploy=gate.deploy))}"
        for gate in surface.gates
    ]
    items.append(
        "CI/CD variable KUBECONFIG of type File, protected, one per environment scope: "
        f"{', '.join(surface.environments)} (Settings → CI/CD → Variables), or the GitLab "
        f"agent's; protected variables reach only protected branches, so {surface.branch} "
        "must be one"
    )
    if surface.builds_to is not None:
        host = registry_host(surface.builds_to)
        if surface.registry is not None:
            items.append(_login(surface.registry, host, "CI/CD variables", "; masked, protected"))
        else:
            items.append(
                f"the build job pushes to {host} with the job's CI_REGISTRY_USER / "
                "CI_REGISTRY_PASSWORD, which only the project's own registry ($CI_REGISTRY) "
                f"takes; for another registry set build.registry in {surface.config_path}"
            )
        items.append(
            "a runner that runs the build job's docker:dind service (privileged; GitLab.com's "
            "shared runners do), or one that mounts the host's Docker socket"
        )
    return [one_line(item) for item in items]


def _login(registry: RegistryLoginConfig, host: str, stored_as: str, how: str) -> str:
    """The item for build.registry's two variables, stored as the platform keeps secrets."""
    return (
        f"{stored_as} {registry.username_env} and {registry.password_env} (build.registry{how}):"
        f" the build and scan jobs log in to {host} with them"
    )


def _jobs(gate: Gate, sep: str, *, deploy: bool) -> list[str]:
    """The gate's jobs (``deploy`` and/or ``promote``) as the platform names them."""
    kinds = (["deploy"] if deploy else []) + (["promote"] if gate.promote else [])
    return [f"{kind}{sep}{gate.name}" for kind in kinds]


ITEMS = {"github": github_items, "gitlab": gitlab_items}
