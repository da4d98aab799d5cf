"""Fixtures for canary analysis on real metrics (helpers in tests/analysis/rig.py).

- ``demo_processes`` (module): a stable (1.0.0) and a canary (1.1.0) demo service process;
  ``demo_pair`` (function): the same two, made healthy again (no errors, no latency) before
  each test. Their counters keep growing across a module's tests: compare deltas, or use
  ``demo_factory`` for a fresh process.
- ``prometheus`` (module): a real Prometheus scraping both every 250 ms with the labels of the
  Kubernetes scrape job (``namespace="web-app-prod"``, ``app="web-app"``, ``track``); yielded
  once both targets have a sample (~5–6 s after its start: one per module, not per test).
- ``traffic``: make a started TrafficDriver (default URLs: ``demo_pair``'s tracks), stopped at
  teardown whatever happens.
- ``kube``: a KubeClient for the ``sandbox`` cluster of tests/conftest.py (for
  ``replicas_router_weights``).

Every process is started on 127.0.0.1 and stopped by its PID at teardown, on failures too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from tests.analysis.rig import (
    DemoPair,
    DemoProcess,
    PrometheusServer,
    TrafficDriver,
    Weights,
    running_pair,
)

from ci_deploy.kube.client import KubeClient, connect
from kube_sandbox.testing import SandboxHandle


@pytest.fixture(scope="module")
def demo_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoPair]:
    """A stable and a canary demo process for the whole module."""
    with running_pair(tmp_path_factory.mktemp("demo")) as pair:
        yield pair


@pytest.fixture
def demo_pair(demo_processes: DemoPair) -> DemoPair:
    """The module's stable and canary, both healthy at the start of the test."""
    for track, process in demo_processes.tracks.items():
        assert process.running, f"the {track} demo process has died; log: {process.log}"
    demo_processes.heal()
    return demo_processes


@pytest.fixture
def demo_factory(tmp_path: Path) -> Iterator[Callable[..., DemoProcess]]:
    """``demo_factory("1.1.0", error_rate=0.1, latency_ms=0)``: a fresh, started process."""
    started: list[DemoProcess] = []

    def make(
        version: str = "1.1.0", *, error_rate: float = 0, latency_ms: float = 0
    ) -> DemoProcess:
        process = DemoProcess(
            version, error_rate=error_rate, latency_ms=latency_ms, log_dir=tmp_path
        )
        started.append(process)
        return process.start()

    yield make
    for process in reversed(started):
        process.stop()


@pytest.fixture(scope="module")
def prometheus(
    demo_processes: DemoPair, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    """Prometheus scraping the module's stable and canary, both already scraped once. A test
    that calls ``set_targets`` puts the pair's targets back when it is done."""
    with PrometheusServer(
        demo_processes.targets(), workdir=tmp_path_factory.mktemp("prometheus")
    ) as prom:
        prom.wait_for_samples('count(up{job="demo"} == 1) == 2')
        yield prom


@pytest.fixture
def traffic(demo_processes: DemoPair) -> Iterator[Callable[..., TrafficDriver]]:
    """``traffic(weights, rate=100, max_seconds=30, urls=None, ...)``: a started TrafficDriver
    (``weights``: a callable, or a mapping read live, e.g. a dict the test changes)."""
    drivers: list[TrafficDriver] = []

    def make(
        weights: Callable[[], Weights] | Mapping[str, float],
        *,
        urls: Mapping[str, str] | None = None,
        **options: Any,
    ) -> TrafficDriver:
        if callable(weights):
            read = weights
        else:
            live = weights

            def read() -> Weights:
                return dict(live)  # a copy: the test may change the mapping meanwhile

        driver = TrafficDriver(urls or demo_processes.urls, read, **options)
        drivers.append(driver)
        return driver.start()

    yield make
    for driver in drivers:
        driver.stop(check=False)


@pytest.fixture
def kube(sandbox: SandboxHandle) -> Iterator[KubeClient]:
    """A KubeClient for ``sandbox``, made as ci-deploy makes it (from the kubeconfig)."""
    client = connect(str(sandbox.kubeconfig))
    try:
        yield client
    finally:
        client.close()
