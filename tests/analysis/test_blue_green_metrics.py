"""Blue-green judged on REAL metrics after the switch, end to end: the `ci-deploy deploy` CLI
against the sandbox cluster, a real Prometheus (250 ms scrapes) scraping two real demo
service processes — blue (1.0.0) and green (1.1.0) — with the labels the Kubernetes scrape job
gives pods of each colour (``color`` from ``ci-deploy.dev/color``), and real HTTP traffic sent
to the colour the app's Service selects in the cluster (re-read every 100 ms).

While ``scale_down_delay`` keeps the previous colour at full size, ``blue_green
.rollback_triggers`` are judged on the new colour's metrics; a breach switches the Service
straight back (exit 1, RolledBack), a clean window ends in Succeeded. The synthetic Prometheus
of the sandbox is never used here.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.analysis.rig import (
    APP,
    NAMESPACE,
    DemoPair,
    PrometheusServer,
    ScrapeTarget,
    TrafficDriver,
    run_ci_deploy,
    running_pair,
    wait_until,
)

from ci_deploy.kube.client import DEPLOYMENT, KubeClient
from ci_deploy.kube.state import StateRecord, StateStore
from kube_sandbox.testing import SandboxHandle

IMAGE = "registry.example.com/acme/web-app"
COLORS = ("blue", "green")
Traffic = Callable[..., TrafficDriver]


def color_labels(color: str) -> dict[str, str]:
    """The target labels the documented scrape job gives a pod of ``color`` (docs/analysis.md:
    ``ci-deploy.dev/color`` relabelled to ``color``)."""
    return {"namespace": NAMESPACE, "app": APP, "color": color}


def config(prometheus_url: str) -> dict[str, Any]:
    """4 pods per colour; after the switch, 8 s with blue kept at full size, the triggers judged
    every second on the last 5 s of the new colour."""
    return {
        "app": APP,
        "image": {"repository": IMAGE},
        "environments": {
            "production": {
                "namespace": NAMESPACE,
                "create_namespace": True,
                "replicas": 4,
                "strategy": "blue_green",
            }
        },
        "blue_green": {
            "scale_down_delay": "8s",
            "rollback_triggers": [{"error_rate": "> 5%"}, {"response_time_p95": "> 500ms"}],
        },
        "analysis": {
            "prometheus": {"address": prometheus_url, "timeout": "2s", "retries": 1},
            "interval": "1s",
            "window": "5s",
            "min_requests": 10,
        },
    }


@pytest.fixture(scope="module")
def colors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A blue (1.0.0) and a green (1.1.0) demo process for the module."""
    with running_pair(tmp_path_factory.mktemp("demo")) as pair:
        yield {"blue": pair.stable, "green": pair.canary}


@pytest.fixture(scope="module")
def color_prometheus(
    colors: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    """Prometheus scraping both colours with their ``color`` labels, both scraped once."""
    targets = [ScrapeTarget(colors[c].address, color_labels(c)) for c in COLORS]
    with PrometheusServer(targets, workdir=tmp_path_factory.mktemp("prometheus")) as prom:
        prom.wait_for_samples('count(up{job="demo"} == 1) == 2')
        yield prom


def service_weights(client: KubeClient) -> dict[str, float]:
    """What the app's Service sends to each colour, in percent: all of it to the colour its
    selector names (the switch is that one selector key), nothing when it names none."""
    service = client.get(f"/api/v1/namespaces/{NAMESPACE}/services/{APP}")
    selected = (service.get("spec") or {}).get("selector", {}).get("ci-deploy.dev/color")
    return {c: 100.0 if c == selected else 0.0 for c in COLORS}


@dataclass
class Switch:
    """The rig for one test: a fresh sandbox, ci-deploy's CLI against it, live traffic."""

    sb: SandboxHandle
    kube: KubeClient
    tmp: Path
    colors: dict[str, Any]
    prometheus: PrometheusServer
    traffic: Traffic

    def deploy(self, version: str) -> subprocess.CompletedProcess[str]:
        return self.run("deploy", "--env", "production", "--image", f"{IMAGE}:{version}")

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_ci_deploy(self.tmp / "ci-deploy.yml", self.sb.kubeconfig, *args)

    def weights(self) -> dict[str, float]:
        return service_weights(self.kube)

    def start_with_blue(self) -> TrafficDriver:
        """1.0.0 deployed as blue (a first release rolls out directly), then traffic."""
        cfg = config(self.prometheus.url)
        (self.tmp / "ci-deploy.yml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
        first = self.deploy("1.0.0")
        assert first.returncode == 0, first.stdout + first.stderr
        urls = {c: p.url for c, p in self.colors.items()}
        driver = self.traffic(self.weights, urls=urls, rate=100, max_seconds=90)
        driver.wait_for_segment({"blue": 100.0, "green": 0.0}, 50)
        return driver

    def record(self) -> StateRecord | None:
        return StateStore(self.kube, NAMESPACE, APP).read()[0]

    def replicas(self, name: str) -> int:
        return int(self.kube.get(DEPLOYMENT.path(NAMESPACE, name))["spec"]["replicas"])


@pytest.fixture
def switch(
    sandbox: SandboxHandle,
    kube: KubeClient,
    tmp_path: Path,
    colors: dict[str, Any],
    color_prometheus: PrometheusServer,
    traffic: Traffic,
) -> Iterator[Switch]:
    for color, process in colors.items():
        assert process.running, f"the {color} demo process has died; log: {process.log}"
        process.configure(error_rate=0.0, latency_ms=0.0)
    # The module's processes keep their counters: wait until the last test's errors have left
    # the 5 s window, or this test would judge them.
    quiet = '(sum(increase(http_requests_total{color="green",code=~"5.."}[5s])) or vector(0)) == 0'
    wait_until(lambda: color_prometheus.query(quiet), timeout=20, interval=0.25, what="quiet")
    yield Switch(sandbox, kube, tmp_path, colors, color_prometheus, traffic)


@pytest.fixture
def demo_processes(colors: dict[str, Any]) -> DemoPair:
    """The ``traffic`` fixture's default URLs (unused here: every driver is given its own)."""
    return DemoPair(colors["blue"], colors["green"])


def said(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def test_errors_after_the_switch_switch_straight_back_to_blue(switch: Switch) -> None:
    driver = switch.start_with_blue()
    switch.colors["green"].configure(error_rate=0.1)  # every 10th request of 1.1.0 fails
    result = switch.deploy("1.1.0")
    text = said(result)
    assert result.returncode == 1, text[-4000:]
    assert "rollback trigger error_rate (green) breached" in text, text[-3000:]
    assert "8s passed" not in text  # stopped during the window, not at its end
    record = switch.record()
    assert record is not None and record.phase == "RolledBack", record
    assert record.active_color == "blue"
    # checked in the cluster: the Service selects blue again, green is scaled to zero
    assert switch.weights() == {"blue": 100.0, "green": 0.0}
    assert switch.replicas(APP) == 4
    assert switch.replicas(f"{APP}-green") == 0
    answered = driver.answered()
    assert answered["green"][500] > 0  # green really served, and really failed …
    segment = driver.wait_for_segment({"blue": 100.0, "green": 0.0}, 50)
    assert segment.total >= 50  # … and real traffic is back on blue
    rows = [line for line in text.splitlines() if "error_rate (green)" in line and "✗" in line]
    assert rows and "rule not > 5%" in rows[0], text[-3000:]


def test_a_healthy_green_is_kept_after_its_window_is_judged(switch: Switch) -> None:
    driver = switch.start_with_blue()
    before = switch.colors["green"].metric("http_requests_total", code="200")
    result = switch.deploy("1.1.0")
    text = said(result)
    assert result.returncode == 0, text[-4000:]
    assert "blue kept at full size for an instant switch back: 8s passed, healthy," in text
    assert "analysis passed" in text
    assert "✓ error_rate (green): pass — 0%, rule not > 5%" in text, text[-3000:]
    record = switch.record()
    assert record is not None and record.phase == "Succeeded"
    assert record.active_color == "green"
    assert switch.weights() == {"blue": 0.0, "green": 100.0}
    assert switch.replicas(APP) == 0  # blue retired only after the window
    served = switch.colors["green"].metric("http_requests_total", code="200") - before
    assert served >= 400  # ~100/s for the 8 s window, all of them fine
    assert driver.answered()["green"][500] == 0

    # `ci-deploy verify` judges the same triggers on the colour that serves now
    verified = switch.run("verify", "--env", "production")
    assert verified.returncode == 0, said(verified)[-3000:]
    assert re.search(r"✓ pass +error_rate \(green\): 0%", said(verified)), said(verified)
    switch.colors["green"].configure(error_rate=0.5)
    switch.prometheus.wait_for_value(
        '100 * sum(rate(http_requests_total{color="green", code=~"5.."}[5s]))'
        ' / sum(rate(http_requests_total{color="green"}[5s]))',
        lambda v: v > 5,
        timeout=15,
    )
    failing = switch.run("verify", "--env", "production")
    assert failing.returncode == 1, said(failing)[-3000:]
    assert re.search(r"✗ fail +error_rate \(green\): [\d.]+%", said(failing)), said(failing)
    assert "verify production: fail — error_rate (green)" in said(failing)
