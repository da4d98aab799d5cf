"""A canary judged on REAL metrics, end to end: the `ci-deploy deploy` CLI against the sandbox
cluster, a real Prometheus (Debian 2.42, 250 ms scrapes) scraping two real demo service
processes (stable 1.0.0, canary 1.1.0) with the labels the Kubernetes scrape job gives pods,
and real HTTP traffic split the way the ``replicas`` router splits it (each track's share of
the Ready pods in the cluster, re-read every 100 ms).

Each scenario of issue 11: a healthy canary promoted; 10 % errors and a slow canary rolled
back during the first stage; no traffic to the canary → inconclusive → paused; a query that
reads NaN → its ``no_data`` policy; Prometheus unreachable → the policy, with the reason; a
smoke command failing with JUnit XML → the failed test names in the job summary. The
synthetic Prometheus of the sandbox is never used here.
"""

from __future__ import annotations

import re
import subprocess
import sys
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
    DemoProcess,
    PrometheusServer,
    ScrapeTarget,
    TrafficDriver,
    canary_config,
    free_port,
    replicas_router_weights,
    run_ci_deploy,
    track_labels,
    wait_until,
)

from ci_deploy.kube.client import DEPLOYMENT, KubeClient
from ci_deploy.kube.state import StateRecord, StateStore
from kube_sandbox.testing import SandboxHandle

IMAGE = "registry.example.com/acme/web-app"
Traffic = Callable[..., TrafficDriver]


def config(prometheus_url: str, **analysis: Any) -> dict[str, Any]:
    """4 stable pods; stage "initial" at 20 % (1 canary pod) for 8 s, judged every second on
    the last 5 s, then 100 %. The rules are the seed's kind, sized for the demo service."""
    initial = {
        "name": "initial",
        "traffic_percentage": 20,
        "duration": "8s",
        "success_criteria": {"error_rate": "< 1%", "response_time_p95": "< 300ms"},
    }
    return canary_config(
        [initial, {"name": "full", "traffic_percentage": 100}],
        [{"error_rate": "> 5%"}, {"response_time_p95": "> 500ms"}],
        {
            "prometheus": {"address": prometheus_url, "timeout": "2s", "retries": 1},
            "interval": "1s",
            "window": "5s",
            "min_requests": 10,
            **analysis,
        },
        image=IMAGE,
    )


@dataclass
class Canary:
    """The rig for one test: a fresh sandbox, ci-deploy's CLI against it, live traffic."""

    sb: SandboxHandle
    kube: KubeClient
    tmp: Path
    pair: DemoPair
    prometheus: PrometheusServer
    traffic: Traffic

    def write(self, cfg: dict[str, Any]) -> Path:
        path = self.tmp / "ci-deploy.yml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
        return path

    def deploy(self, version: str, *extra: str, **env: str) -> subprocess.CompletedProcess[str]:
        args = ["deploy", "--env", "production", "--image", f"{IMAGE}:{version}", *extra]
        return run_ci_deploy(self.tmp / "ci-deploy.yml", self.sb.kubeconfig, *args, **env)

    def weights(self) -> dict[str, float]:
        return replicas_router_weights(self.kube, NAMESPACE, APP)

    def start_with_stable(
        self, cfg: dict[str, Any], urls: dict[str, str] | None = None
    ) -> TrafficDriver:
        """1.0.0 deployed (a first release rolls out directly), then traffic flowing."""
        self.write(cfg)
        first = self.deploy("1.0.0")
        assert first.returncode == 0, first.stdout + first.stderr
        driver = self.traffic(self.weights, urls=urls, rate=100, max_seconds=90)
        driver.wait_for_segment({"stable": 100.0, "canary": 0.0}, 50)
        return driver

    def record(self) -> StateRecord | None:
        return StateStore(self.kube, NAMESPACE, APP).read()[0]

    def live_image(self) -> str:
        deployment = self.kube.get(DEPLOYMENT.path(NAMESPACE, APP))
        return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])

    def canary_exists(self) -> bool:
        return self.kube.get_or_none(DEPLOYMENT.path(NAMESPACE, f"{APP}-canary")) is not None


@pytest.fixture
def canary(
    sandbox: SandboxHandle,
    kube: KubeClient,
    tmp_path: Path,
    demo_pair: DemoPair,
    prometheus: PrometheusServer,
    traffic: Traffic,
) -> Iterator[Canary]:
    # The module's processes keep their counters: wait until the last test's errors and slow
    # requests have left the 5 s window, or this test would judge them.
    quiet = (
        '(sum(increase(http_requests_total{track="canary",code=~"5.."}[5s])) or vector(0)) == 0'
        ' and ((sum(increase(http_request_duration_seconds_count{track="canary"}[5s]))'
        ' - sum(increase(http_request_duration_seconds_bucket{track="canary",le="0.25"}[5s])))'
        " or vector(0)) == 0"
    )
    wait_until(lambda: prometheus.query(quiet), timeout=20, interval=0.25, what="a quiet canary")
    yield Canary(sandbox, kube, tmp_path, demo_pair, prometheus, traffic)


def said(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def assert_rolled_back(canary: Canary, result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 1, said(result)[-4000:]
    record = canary.record()
    assert record is not None and record.phase == "RolledBack", record
    assert canary.live_image() == f"{IMAGE}:1.0.0"
    assert not canary.canary_exists()
    assert canary.weights() == {"stable": 100.0, "canary": 0.0}  # all traffic on stable


def test_a_healthy_canary_is_promoted_on_its_metrics(canary: Canary) -> None:
    canary.start_with_stable(config(canary.prometheus.url))
    before = canary.pair.canary.metric("http_requests_total", code="200")
    result = canary.deploy("1.1.0")
    text = said(result)
    assert result.returncode == 0, text[-4000:]
    assert "stage initial: 8s passed, healthy, analysis passed" in text
    assert "✓ error_rate (canary): pass — 0%, rule < 1%" in text
    assert "✓ response_time_p95 (canary): pass" in text
    record = canary.record()
    assert record is not None and record.phase == "Succeeded"
    assert canary.live_image() == f"{IMAGE}:1.1.0"
    assert not canary.canary_exists()
    # the canary process served real requests (20 % of 100/s for 8 s), all of them fine
    served = canary.pair.canary.metric("http_requests_total", code="200") - before
    assert served >= 80
    assert canary.pair.canary.metric("http_requests_total", code="500") == 0


def test_ten_percent_errors_roll_back_during_the_first_stage(canary: Canary) -> None:
    driver = canary.start_with_stable(config(canary.prometheus.url))
    canary.pair.canary.configure(error_rate=0.1)  # every 10th request fails
    result = canary.deploy("1.1.0")
    text = said(result)
    assert_rolled_back(canary, result)
    assert "stage initial: rollback trigger error_rate (canary) breached" in text
    # the first measurement over the trigger trips it (the 5 s window may still be filling)
    seen = re.search(r"✗ error_rate \(canary\): fail — ([\d.]+)%, rule not > 5%", text)
    assert seen is not None and 5 < float(seen.group(1)) <= 10.5, text[-3000:]
    assert "8s passed" not in text  # stopped during the stage, not at its end
    assert driver.answered()["canary"][500] > 0  # the errors were real answers


def test_a_slow_canary_is_rolled_back_on_its_p95(canary: Canary) -> None:
    canary.start_with_stable(config(canary.prometheus.url))
    canary.pair.canary.configure(latency_ms=800)
    result = canary.deploy("1.1.0")
    text = said(result)
    assert_rolled_back(canary, result)
    assert "rollback trigger response_time_p95 (canary) breached" in text
    assert "✗ response_time_p95 (canary): fail" in text


def test_no_traffic_to_the_canary_is_inconclusive_and_pauses(canary: Canary) -> None:
    canary.write(config(canary.prometheus.url))
    assert canary.deploy("1.0.0").returncode == 0
    # a data plane that never sends to the canary (its pods Ready, but no requests arrive)
    driver = canary.traffic(lambda: {"stable": 100.0, "canary": 0.0}, rate=100, max_seconds=90)
    driver.wait_for_segment({"stable": 100.0, "canary": 0.0}, 50)
    result = canary.deploy("1.1.0")
    text = said(result)
    assert result.returncode == 0, text[-4000:]  # paused, for a human: not passed, not failed
    assert "stage initial: inconclusive" in text
    assert "too little traffic" in text
    record = canary.record()
    assert record is not None and record.phase == "Paused"
    assert "inconclusive" in record.message
    assert canary.canary_exists()  # still there, waiting for promote or abort
    assert canary.live_image() == f"{IMAGE}:1.0.0"


# A ratio over a counter multiplied by zero: 0/0, which Prometheus answers with NaN.
NAN_QUERY = (
    '0 * sum(rate(http_requests_total{namespace="{{ namespace }}",app="{{ app }}",'
    'track="{{ track }}"}[{{ window }}])) / 0'
)


def test_a_nan_result_follows_its_no_data_policy(canary: Canary) -> None:
    cfg = config(canary.prometheus.url)
    cfg["analysis"]["prometheus"]["queries"] = {
        "queue_saturation": {"query": NAN_QUERY, "unit": "percent", "no_data": "fail"}
    }
    cfg["canary"]["stages"][0]["success_criteria"]["queue_saturation"] = "< 50%"
    canary.start_with_stable(cfg)
    # the query really does answer NaN in this Prometheus
    variables = {"namespace": NAMESPACE, "app": APP, "track": "canary", "window": "5s"}
    rendered = NAN_QUERY
    for name, value in variables.items():
        rendered = rendered.replace("{{ " + name + " }}", value)
    assert canary.prometheus.query(rendered)[0]["value"][1] == "NaN"
    result = canary.deploy("1.1.0")
    text = said(result)
    assert_rolled_back(canary, result)
    assert "✗ queue_saturation (canary): fail" in text
    assert "NaN" in text
    assert "✓ error_rate (canary): pass" in text  # the others held


def test_prometheus_unreachable_follows_the_policy_with_its_reason(canary: Canary) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    canary.start_with_stable(config(nobody))
    result = canary.deploy("1.1.0")
    text = said(result)
    assert result.returncode == 0, text[-4000:]  # no_data: inconclusive → paused
    assert f"Prometheus at {nobody}/api/v1/query: cannot connect" in text, text[-3000:]
    assert "3 measurements in a row without a value" in text
    assert "breached" not in text  # nothing was measured, nothing was breached
    record = canary.record()
    assert record is not None and record.phase == "Paused"
    assert "cannot connect" in record.message
    assert canary.live_image() == f"{IMAGE}:1.0.0"


SMOKE_TEST = """\
import os
import urllib.error
import urllib.request


def test_home_page_answers_200():
    try:
        status = urllib.request.urlopen(os.environ["CANARY_URL"] + "/", timeout=5).status
    except urllib.error.HTTPError as error:
        status = error.code
    assert status == 200


def test_version_is_served():
    body = urllib.request.urlopen(os.environ["CANARY_URL"] + "/version", timeout=5).read()
    assert body
"""


def test_a_failing_smoke_command_names_its_failed_tests_in_the_summary(canary: Canary) -> None:
    (canary.tmp / "smoke").mkdir()
    (canary.tmp / "smoke" / "test_smoke.py").write_text(SMOKE_TEST, encoding="utf-8")
    run = f"{sys.executable} -m pytest smoke -q -p no:cacheprovider --junitxml=smoke.xml"
    cfg = config(canary.prometheus.url)
    cfg["analysis"]["smoke"] = [
        {"name": "smoke-tests", "command": {"run": run, "junit": "smoke.xml", "timeout": "1m"}}
    ]
    canary.start_with_stable(cfg)
    canary.pair.canary.configure(error_rate=1.0)  # the new version answers 500 to everything
    summary = canary.tmp / "summary.md"
    summary.touch()
    output = canary.tmp / "output"
    output.touch()
    result = canary.deploy(
        "1.1.0",
        CANARY_URL=canary.pair.canary.url,
        GITHUB_ACTIONS="true",
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_OUTPUT=str(output),
    )
    assert_rolled_back(canary, result)
    table = summary.read_text(encoding="utf-8")
    row = next(line for line in table.splitlines() if "smoke-tests" in line)
    assert "fail" in row
    assert "test_home_page_answers_200" in row  # the failed test, by name
    assert "test_version_is_served" not in row  # it passed


def test_a_canary_worse_than_its_baseline_is_rolled_back_within_the_absolute_rules(
    canary: Canary, demo_factory: Callable[..., DemoProcess]
) -> None:
    # a baseline process (the stable version, freshly started), scraped as track=baseline
    baseline = demo_factory("1.0.0")
    targets = [*canary.pair.targets(), ScrapeTarget(baseline.address, track_labels("baseline"))]
    canary.prometheus.set_targets(targets)
    try:
        cfg = config(canary.prometheus.url)
        cfg["canary"]["baseline"] = True
        cfg["analysis"]["baseline"] = {"metrics": ["response_time_p95"], "tolerance": 10}
        urls = {**canary.pair.urls, "baseline": baseline.url}
        driver = canary.start_with_stable(cfg, urls)
        # 100 ms slower than its baseline: inside the absolute rules (p95 < 300ms, > 500ms)
        canary.pair.canary.configure(latency_ms=100)
        result = canary.deploy("1.1.0")
        text = said(result)
        assert_rolled_back(canary, result)
        assert "✓ response_time_p95 (canary): pass" in text  # the absolute rule held …
        line = next(x for x in text.splitlines() if "response_time_p95 (canary vs baseline)" in x)
        assert "✗" in line and "fail" in line  # … the comparison did not
        assert "rule not worse than the baseline beyond +10% (p < 0.05)" in line
        assert "p=" in line and "effect size 1.00" in line  # every canary point above
        assert "stage initial: response_time_p95 (canary vs baseline) failed" in text
        assert driver.answered()["baseline"][200] > 0  # the baseline served real traffic
    finally:
        canary.prometheus.set_targets(canary.pair.targets())
