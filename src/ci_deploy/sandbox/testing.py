"""Run a sandbox in-process for tests: ``with running_sandbox(tmp_path) as sb: ...``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ci_deploy.sandbox.faults import Faults, FaultSettings
from ci_deploy.sandbox.server import DEFAULT_HISTORY, SandboxServer
from ci_deploy.sandbox.store import Store


@dataclass
class SandboxHandle:
    """A running sandbox: its URL, kubeconfig, store (white-box) and fault settings."""

    url: str
    kubeconfig: Path
    store: Store
    faults: Faults
    server: SandboxServer


@contextmanager
def running_sandbox(
    tmp_path: Path,
    pod_ready_delay: float = 0.05,
    seed: int | None = None,
    *,
    state_file: Path | None = None,
    controllers: bool = True,
    history: int = DEFAULT_HISTORY,
) -> Iterator[SandboxHandle]:
    """Serve a sandbox on a free loopback port for the duration of the block.

    The kubeconfig is written to ``tmp_path / "kubeconfig"``; everything started is stopped
    on exit (and the state file saved when one is given). ``history`` bounds the event history
    (watches from an older resourceVersion get 410 Gone).
    """
    faults = Faults(FaultSettings(seed=seed))
    server = SandboxServer(
        kubeconfig=tmp_path / "kubeconfig",
        state_file=state_file,
        pod_ready_delay=pod_ready_delay,
        faults=faults,
        controllers=controllers,
        history=history,
    )
    server.start()
    try:
        assert server.kubeconfig is not None
        yield SandboxHandle(server.url, server.kubeconfig, server.store, faults, server)
    finally:
        server.stop()
