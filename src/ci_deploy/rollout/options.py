"""What every rollout verb starts from: its options, the chosen environment, a cluster session.

``plan``, ``deploy``, ``status`` and ``rollback`` all load the configuration the same way and talk
to the cluster through :func:`cluster_session`, so an unreachable or refusing API server reads
the same (one line, exit 4) whichever verb met it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ci_deploy.errors import NothingChanged, UserInputError
from ci_deploy.kube.client import DEFAULT_TIMEOUT, KubeClient, connect
from ci_deploy.kube.errors import ApiError, NetworkError
from ci_deploy.kube.state import StateError

if TYPE_CHECKING:
    from ci_deploy.config import Config, EnvironmentConfig


@dataclass(frozen=True)
class DeployOptions:
    """The arguments of the rollout verbs (``plan``, ``deploy``, ``status``, ``rollback``)."""

    config_path: str
    environment: str
    image: str | None
    timeout: float = 600.0
    kubeconfig: str | None = None
    context: str | None = None
    lock_timeout: float = 300.0
    rollback: bool = True
    rollback_on_cancel: bool = True
    lock_ttl: float = 30.0
    fail_fast_grace: float = 3.0
    cancel_grace: float = 60.0  # how long a rollback after a cancel may wait for health
    namespace: str | None = None  # overrides the environment's namespace
    strategy: str | None = None  # overrides the environment's strategy
    request_timeout: float = DEFAULT_TIMEOUT  # seconds for one request to the API server
    time_scale: float = 1.0  # divide every duration of the plan (refused off the sandbox)
    no_pause: bool = False  # deploy: manual gates pass; promote --full
    prune: bool = True  # delete what earlier deploys applied and this one no longer renders
    allow_insecure_tls: bool = False  # a kubeconfig with insecure-skip-tls-verify is used


def load_environment(opts: DeployOptions) -> tuple[Config, EnvironmentConfig]:
    """The configuration and the chosen environment, with --namespace / --strategy applied."""
    from ci_deploy.config import STRATEGIES, load_config
    from ci_deploy.config.parsers import dns_label

    cfg = load_config(opts.config_path)
    env = cfg.environment(opts.environment)
    changes: dict[str, Any] = {}
    if opts.namespace:
        try:  # the same rule as a namespace in the configuration file
            changes["namespace"] = dns_label("a namespace")(opts.namespace)
        except ValueError as exc:
            raise UserInputError(f"--namespace: {exc}") from exc
    if opts.strategy:
        if opts.strategy not in STRATEGIES:
            raise UserInputError(
                f"--strategy: expected one of {', '.join(STRATEGIES)}, found {opts.strategy!r}"
            )
        changes["strategy"] = opts.strategy
    if changes:
        env = replace(env, **changes)
        cfg = replace(cfg, environments={**cfg.environments, env.name: env})
    return cfg, env


def mask(secrets: list[str]) -> None:
    """Hide ``secrets`` from everything this process prints (warning about unmaskable ones)."""
    from ci_deploy.platforms import PROCESS_REDACTOR, detect_platform

    short = [s for s in secrets if not PROCESS_REDACTOR.maskable(s)]
    PROCESS_REDACTOR.add_all(secrets)
    if short:
        detect_platform().warning(
            f"{len(short)} credential(s) in the kubeconfig are shorter than "
            f"{PROCESS_REDACTOR.min_length} characters: too short to hide from logs without "
            "hiding ordinary text, so they are not masked; use longer credentials"
        )


def mask_kubeconfig(kubeconfig: str | None) -> None:
    """Mask the credentials written in the kubeconfig files a client will read."""
    from ci_deploy.kube.credentials import kubeconfig_credentials
    from ci_deploy.kube.kubeconfig import kubeconfig_paths

    found: list[str] = []
    for path in kubeconfig_paths(kubeconfig)[0]:
        try:
            with open(path, encoding="utf-8") as fh:
                found += kubeconfig_credentials(fh.read())
        except (OSError, UnicodeDecodeError):
            continue  # connect() explains an unreadable file
    mask(found)


@contextmanager
def cluster_session(opts: DeployOptions, env_cluster: str | None) -> Iterator[KubeClient]:
    """A client for the environment's cluster (--context wins), closed afterwards.

    A bad kubeconfig or context is bad input (exit 2, from ``connect``). An API error or an
    unreachable server that escapes the block failed before anything was changed (exit 4, one
    line): the deploy engine handles every error itself once it has changed something.
    """
    mask_kubeconfig(opts.kubeconfig)
    client = connect(
        opts.kubeconfig,
        opts.context or env_cluster,
        timeout=opts.request_timeout,
        allow_insecure=opts.allow_insecure_tls,
    )
    if opts.allow_insecure_tls and client.insecure:
        from ci_deploy.platforms import detect_platform

        detect_platform().warning(
            "the API server's certificate is not checked (insecure-skip-tls-verify, allowed "
            "by --allow-insecure-tls): use this for throwaway clusters only"
        )
    mask(client.credentials)  # e.g. the token an exec plugin returned
    try:
        yield client
    except NetworkError as exc:
        raise NothingChanged(str(exc)) from exc  # the line names the server and what to check
    except ApiError as exc:
        if exc.refused_credentials:  # the message says what was refused; nothing changed yet
            raise NothingChanged(f"{exc.credentials_line()}; nothing was changed") from exc
        raise NothingChanged(f"Kubernetes API: {exc}") from exc
    except StateError as exc:
        raise NothingChanged(f"Kubernetes API: {exc}") from exc
    finally:
        client.close()


SANDBOX_VERSION_MARK = "+ci-deploy-sandbox"  # the sandbox's /version gitVersion ends with it


def check_time_scale(client: KubeClient, opts: DeployOptions) -> None:
    """``--time-scale`` shortens a plan's waits: refused (exit 2) unless the cluster is the
    sandbox, where nothing real depends on a stage's duration."""
    if opts.time_scale == 1:
        return
    version = str(client.get("/version").get("gitVersion", ""))
    if not version.endswith(SANDBOX_VERSION_MARK):
        raise UserInputError(
            f"--time-scale {opts.time_scale:g} is only for rehearsals on the ci-deploy sandbox "
            f"cluster; this cluster is Kubernetes {version or 'of an unknown version'}",
            hint="leave --time-scale out: stage durations are how long real traffic is judged",
        )
