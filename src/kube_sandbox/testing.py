"""Run a sandbox in-process for tests: ``with running_sandbox(tmp_path) as sb: ...``.

Plain HTTP without authentication by default (what most tests need, and fastest);
``tls=True`` serves as ``sandbox serve`` does: HTTPS with a fresh CA and bearer tokens, the
kubeconfig carrying both, ``users`` adding ``--user`` style users (:func:`user`).

``synthetic_prometheus=True`` also serves the SYNTHETIC Prometheus query API (made-up metrics
from the pods' image tags, ``kube_sandbox.apiserver.synthetic_prometheus``) at
``sb.synthetic_prometheus_url``.

Also what the sandbox's own tests share: :func:`running_controllers` (a bare Store with the
controllers, no API server), :func:`wait_until` (a bounded poll) and
:func:`deployment_manifest`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kube_sandbox.apiserver.auth import User, parse_user
from kube_sandbox.apiserver.httpd import DEFAULT_HISTORY, SandboxServer
from kube_sandbox.controllers import ControllerManager
from kube_sandbox.faults import Faults, FaultSettings
from kube_sandbox.storage.store import Store

# Seconds until a simulated pod is Ready in tests: short, so rollouts finish in a blink.
POD_READY_DELAY = 0.05


@dataclass
class SandboxHandle:
    """A running sandbox: its URL, kubeconfig, store (white-box), fault settings, admin token."""

    url: str
    kubeconfig: Path
    store: Store
    faults: Faults
    server: SandboxServer
    admin_token: str

    @property
    def synthetic_prometheus_url(self) -> str | None:
        """``http://127.0.0.1:PORT`` of the synthetic Prometheus (made-up metrics), or None."""
        return self.server.synthetic_prometheus_url

    @property
    def token(self) -> str | None:
        """The kubeconfig's bearer token (cluster-admin); None over plain HTTP."""
        return self.server.token

    @property
    def ca_pem(self) -> bytes | None:
        """The sandbox CA's certificate (PEM); None over plain HTTP."""
        return self.server.ca.cert_pem if self.server.ca is not None else None

    def user(self, name: str) -> User:
        """The user called ``name`` (its ``token``; context ``ci-deploy-sandbox-<name>``)."""
        return next(u for u in self.server.users if u.name == name)

    @property
    def admin_headers(self) -> dict[str, str]:
        """The header the admin endpoints (``/_sandbox/faults``, ``/_sandbox/state``) need."""
        return {"Authorization": f"Bearer {self.admin_token}"}


@contextmanager
def running_sandbox(
    tmp_path: Path,
    pod_ready_delay: float = POD_READY_DELAY,
    seed: int | None = None,
    *,
    state_file: Path | None = None,
    controllers: bool = True,
    history: int = DEFAULT_HISTORY,
    gateway_api: bool = True,
    tls: bool = False,
    users: tuple[User, ...] = (),
    synthetic_prometheus: bool = False,
) -> Iterator[SandboxHandle]:
    """Serve a sandbox on a free loopback port for the duration of the block.

    The kubeconfig is written to ``tmp_path / "kubeconfig"``; everything started is stopped
    on exit (and the state file saved when one is given). ``history`` bounds the event history
    (watches from an older resourceVersion get 410 Gone). ``gateway_api=False`` leaves out the
    Gateway API CRDs (HTTPRoute) installed by default. ``tls``: HTTPS and tokens; ``users``
    (with ``tls``) are bound as ``--user`` binds them. ``synthetic_prometheus``: also serve the
    SYNTHETIC Prometheus query API on a free port (``sb.synthetic_prometheus_url``).
    """
    faults = Faults(FaultSettings(seed=seed))
    server = SandboxServer(
        kubeconfig=tmp_path / "kubeconfig",
        state_file=state_file,
        pod_ready_delay=pod_ready_delay,
        faults=faults,
        controllers=controllers,
        history=history,
        gateway_api=gateway_api,
        tls=tls,
        users=users,
        synthetic_prometheus=0 if synthetic_prometheus else None,
    )
    server.start()
    try:
        assert server.kubeconfig is not None
        yield SandboxHandle(
            server.url, server.kubeconfig, server.store, faults, server, server.admin_token
        )
    finally:
        server.stop()


def user(spec: str, *, certificate: bool = False) -> User:
    """A user as ``--user NAME=ROLE[:NAMESPACE]`` makes it (e.g. ``deployer=edit:web``);
    ``certificate``: as ``--cert-user`` (a client certificate in the kubeconfig)."""
    return parse_user(spec, certificate=certificate)


@contextmanager
def running_controllers(pod_ready_delay: float = POD_READY_DELAY) -> Iterator[Store]:
    """A bare Store with the controllers running on it (no API server), stopped on exit."""

    store = Store()
    manager = ControllerManager(store, pod_ready_delay=pod_ready_delay)
    manager.start()
    try:
        yield store
    finally:
        manager.stop()


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.01) -> Any:
    """Poll ``predicate`` until it returns something truthy, and return that.

    Raises AssertionError when ``timeout`` seconds pass first (a test failure, never a hang).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def deployment_manifest(
    name: str, image: str, replicas: int = 3, namespace: str | None = None, **spec: Any
) -> dict[str, Any]:
    """A Deployment of one container, selected by ``app: <name>``; ``spec`` adds fields."""
    labels = {"app": name}
    metadata = {"name": name} if namespace is None else {"name": name, "namespace": namespace}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
            **spec,
        },
    }
