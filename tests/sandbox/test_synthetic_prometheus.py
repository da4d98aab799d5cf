"""The SYNTHETIC Prometheus beside the sandbox (``--synthetic-prometheus``): real HTTP, made-up
numbers read from the pods' image tags. Real-metric tests use a real Prometheus, never this.

One sandbox for the module (pods become Ready once); each test reads its own app or track.
The queries are ci-deploy's built-in ones (src/ci_deploy/analysis/queries.py) as rendered for
namespace ns, app web, track canary.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from kube_sandbox.apiserver.synthetic_prometheus import (
    HEALTHY,
    Behaviour,
    image_tag,
    sample_text,
    tag_behaviour,
)
from kube_sandbox.testing import SandboxHandle, running_sandbox, wait_until

NS = "ns"
ERROR = (
    '100 * (sum(rate(http_requests_total{namespace="ns", app="web", track="canary", '
    'code=~"5.."}[1m])) or vector(0)) / sum(rate(http_requests_total{namespace="ns", '
    'app="web", track="canary"}[1m]))'
)
P95 = (
    "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket"
    '{namespace="ns", app="web", track="canary"}[1m])))'
)
CPU = (
    '100 * sum(rate(container_cpu_usage_seconds_total{namespace="ns", container!="", '
    'container!="POD"}[1m]) * on (namespace, pod) group_left () max by (namespace, pod) '
    '(kube_pod_labels{namespace="ns", label_app="web", label_ci_deploy_dev_track="canary"})) '
    '/ sum(kube_pod_container_resource_limits{namespace="ns", resource="cpu"} * on '
    "(namespace, pod) group_left () max by (namespace, pod) (kube_pod_labels"
    '{namespace="ns", label_app="web", label_ci_deploy_dev_track="canary"}))'
)
MEMORY = (
    '100 * sum(container_memory_working_set_bytes{namespace="ns", container!="", '
    'container!="POD"} * on (namespace, pod) group_left () max by (namespace, pod) '
    '(kube_pod_labels{namespace="ns", label_app="web", label_ci_deploy_dev_track="canary"})) '
    '/ sum(kube_pod_container_resource_limits{namespace="ns", resource="memory"} * on '
    "(namespace, pod) group_left () max by (namespace, pod) (kube_pod_labels"
    '{namespace="ns", label_app="web", label_ci_deploy_dev_track="canary"}))'
)
REQUESTS = 'sum(increase(http_requests_total{namespace="ns", app="web", track="canary"}[1m]))'
SYNTHETIC_LINE = re.compile(
    r"^ci-deploy sandbox: synthetic Prometheus \(not real metrics\) at (http://127\.0\.0\.1:\d+)$"
)

# (app, track, image): the pods the module's sandbox runs, labelled as ci-deploy's templates
# label them (app.kubernetes.io/name) plus the canary's track label.
WORKLOADS = (
    ("web", "stable", "registry.example/web:1.4.0"),
    ("web", "canary", "registry.example/web:errors-10pct"),
    ("api", "stable", "registry.example/api:1.0"),
    ("api", "canary", "registry.example/api:slow-800ms"),
    ("quiet", "canary", "registry.example/quiet:no-traffic"),
    ("worker", "canary", "registry.example/worker:cpu-95pct"),
)


def for_(query: str, app: str = "web", track: str = "canary") -> str:
    """A built-in query with another app or track."""
    return query.replace('"web"', f'"{app}"').replace('"canary"', f'"{track}"')


def deployment(app: str, track: str, image: str) -> dict[str, Any]:
    selector = {"app.kubernetes.io/name": app, "ci-deploy.dev/track": track}
    labels = {**selector, "app.kubernetes.io/managed-by": "ci-deploy"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"{app}-{track}", "namespace": NS, "labels": labels},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def ready_pods(url: str, app: str, track: str) -> int:
    selector = f"app.kubernetes.io/name={app},ci-deploy.dev/track={track}"
    pods = requests.get(
        f"{url}/api/v1/namespaces/{NS}/pods", params={"labelSelector": selector}, timeout=5
    ).json()["items"]
    return sum(
        1
        for pod in pods
        if any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in pod.get("status", {}).get("conditions", [])
        )
    )


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    with running_sandbox(tmp_path_factory.mktemp("synth"), synthetic_prometheus=True) as sb:
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}
        assert requests.post(f"{sb.url}/api/v1/namespaces", json=namespace, timeout=5).ok
        for app, track, image in WORKLOADS:
            resp = requests.post(
                f"{sb.url}/apis/apps/v1/namespaces/{NS}/deployments",
                json=deployment(app, track, image),
                timeout=5,
            )
            assert resp.status_code == 201, resp.text
        wait_until(lambda: all(ready_pods(sb.url, a, t) == 2 for a, t, _ in WORKLOADS))
        yield sb


@pytest.fixture(scope="module")
def prom(sandbox: SandboxHandle) -> str:
    assert sandbox.synthetic_prometheus_url is not None
    return sandbox.synthetic_prometheus_url


def query(prom: str, expr: str, *, post: bool = True) -> requests.Response:
    if post:  # as ci-deploy's provider sends it: a form body
        return requests.post(f"{prom}/api/v1/query", data={"query": expr}, timeout=5)
    return requests.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=5)


def value(prom: str, expr: str) -> float:
    body = query(prom, expr).json()
    assert body["status"] == "success", body
    [sample] = body["data"]["result"]
    return float(sample["value"][1])


def test_success_response_has_the_prometheus_shape_and_says_synthetic(prom: str) -> None:
    before = time.time()
    resp = query(prom, REQUESTS, post=False)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["X-Synthetic-Prometheus"] == "not real metrics"
    body = resp.json()
    assert set(body) == {"status", "data"}
    assert body["status"] == "success"
    assert set(body["data"]) == {"resultType", "result"}
    assert body["data"]["resultType"] == "vector"
    [sample] = body["data"]["result"]
    assert set(sample) == {"metric", "value"}
    assert sample["metric"] == {
        "synthetic": "true",
        "namespace": "ns",
        "app": "web",
        "track": "canary",
    }
    at, text = sample["value"]
    assert isinstance(at, float) and before - 1 <= at <= time.time() + 1
    assert text == "1000"  # a string, as Prometheus sends sample values


def test_canary_with_errors_tag_reads_its_percentage_and_stable_reads_zero(prom: str) -> None:
    assert value(prom, ERROR) == 10.0
    assert value(prom, for_(ERROR, track="stable")) == 0.0
    [got] = query(prom, ERROR, post=False).json()["data"]["result"]  # GET reads the same
    assert got["value"][1] == "10"
    both_tracks = ERROR.replace(', track="canary"', "")  # the mean over both tracks' pods
    assert value(prom, both_tracks) == 5.0


def test_slow_tag_sets_the_p95_and_healthy_is_50ms(prom: str) -> None:
    assert value(prom, for_(P95, app="api")) == 0.8
    assert value(prom, for_(P95, app="api", track="stable")) == 0.05
    assert value(prom, P95) == 0.05  # the errors-10pct canary is only erroneous


def test_cpu_and_memory_queries_with_kube_state_metrics_labels_read_the_pods(prom: str) -> None:
    assert value(prom, CPU) == 20.0
    assert value(prom, MEMORY) == 30.0
    assert value(prom, for_(CPU, app="worker")) == 95.0
    assert value(prom, for_(MEMORY, app="worker")) == 30.0


def test_rate_is_per_second_and_increase_follows_the_range(prom: str) -> None:
    assert value(prom, REQUESTS.replace("[1m]", "[5m]")) == 5000.0
    rate = REQUESTS.replace("increase(", "rate(")
    assert value(prom, rate) == pytest.approx(1000 / 60)


@pytest.mark.parametrize(
    "expr",
    [
        for_(ERROR, track="baseline"),  # no pods of that track
        for_(P95, app="nobody"),
        ERROR.replace('namespace="ns"', 'namespace="other"'),
        for_(REQUESTS, app="quiet"),  # pods tagged no-traffic: no data for anything
        for_(ERROR, app="quiet"),
    ],
)
def test_no_matching_pods_is_an_empty_result(prom: str, expr: str) -> None:
    resp = query(prom, expr)
    assert resp.status_code == 200
    assert resp.json() == {"status": "success", "data": {"resultType": "vector", "result": []}}


@pytest.mark.parametrize(
    "expr",
    [
        "up",
        'sum(rate(node_cpu_seconds_total{namespace="ns", app="web"}[1m]))',
        'sum(rate(http_requests_total{namespace="ns", track="canary"}[1m]))',  # no app
        'sum(increase(http_requests_total{app="web"}[1m])) + sum(up{app="api"})',
        "",
    ],
)
def test_a_query_it_does_not_understand_is_400_bad_data(prom: str, expr: str) -> None:
    resp = query(prom, expr)
    assert resp.status_code == 400
    body = resp.json()
    assert set(body) == {"status", "errorType", "error"}
    assert body["status"] == "error" and body["errorType"] == "bad_data"
    assert body["error"]


def test_range_query_is_a_matrix_at_step(prom: str) -> None:
    form = {"query": ERROR, "start": "1700000000", "end": "1700000060", "step": "15s"}
    body = requests.post(f"{prom}/api/v1/query_range", data=form, timeout=5).json()
    assert body["status"] == "success"
    assert body["data"]["resultType"] == "matrix"
    [series] = body["data"]["result"]
    assert series["values"] == [[1700000000.0 + 15 * i, "10"] for i in range(5)]
    bad = requests.post(f"{prom}/api/v1/query_range", data={**form, "step": "0"}, timeout=5)
    assert bad.status_code == 400 and bad.json()["errorType"] == "bad_data"


def test_ready_and_unknown_paths(prom: str) -> None:
    ready = requests.get(f"{prom}/-/ready", timeout=5)
    assert ready.status_code == 200 and "not real metrics" in ready.text
    assert requests.get(f"{prom}/api/v1/series", timeout=5).status_code == 404
    foreign = requests.get(f"{prom}/-/ready", headers={"Host": "evil.example"}, timeout=5)
    assert foreign.status_code == 403


def test_stops_with_the_sandbox(tmp_path: Path) -> None:
    with running_sandbox(tmp_path, synthetic_prometheus=True) as sb:
        url = sb.synthetic_prometheus_url
        assert url is not None
        assert requests.get(f"{url}/-/ready", timeout=5).status_code == 200
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/-/ready", timeout=5)
    with running_sandbox(tmp_path) as plain:
        assert plain.synthetic_prometheus_url is None


@pytest.mark.parametrize(
    ("image", "behaviour"),
    [
        ("web:errors-10pct", Behaviour(error_percent=10)),
        ("registry:5000/team/web:slow-800ms", Behaviour(p95_seconds=0.8)),
        ("web:cpu-95pct", Behaviour(cpu_percent=95)),
        ("web:mem-88pct@sha256:abc", Behaviour(memory_percent=88)),
        ("web:no-traffic", None),
        ("web:1.4.0", HEALTHY),
        ("registry:5000/web", HEALTHY),  # no tag: the port is not one
        ("web:errors-10ms", HEALTHY),  # one behaviour per tag, spelt exactly
        ("web:crashloop", HEALTHY),
    ],
)
def test_image_tags_choose_the_numbers(image: str, behaviour: Behaviour | None) -> None:
    assert tag_behaviour(image_tag(image)) == behaviour


def test_sample_values_are_written_as_prometheus_writes_them() -> None:
    assert [sample_text(v) for v in (10.0, 0.05, 1e-05, 1000 / 60, 1e21)] == [
        "10",
        "0.05",
        "0.00001",
        "16.666666666666668",
        "1000000000000000000000",
    ]
    assert [sample_text(float(v)) for v in ("nan", "inf", "-inf")] == ["NaN", "+Inf", "-Inf"]


def test_serve_prints_the_synthetic_line_and_serves_it(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "ci_deploy", "sandbox", "serve", "--port", "0", "--insecure-http"]
    cmd += ["--kubeconfig", str(tmp_path / "kc"), "--synthetic-prometheus", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().rstrip("\n")
        assert first.startswith("ci-deploy sandbox: serving http://127.0.0.1:"), first
        line = proc.stdout.readline().rstrip("\n")
        found = SYNTHETIC_LINE.match(line)
        assert found, f"unexpected line {line!r}"
        url = found.group(1)
        assert requests.get(f"{url}/-/ready", timeout=5).status_code == 200
        empty = query(url, ERROR).json()  # a fresh sandbox: no pods, no data
        assert empty == {"status": "success", "data": {"resultType": "vector", "result": []}}
        os.kill(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
        assert proc.returncode == 0
        assert "ci-deploy sandbox: stopped" in out
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{url}/-/ready", timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_serve_on_a_taken_synthetic_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cmd = [sys.executable, "-m", "ci_deploy", "sandbox", "serve", "--insecure-http"]
        cmd += ["--kubeconfig", str(tmp_path / "kc"), "--synthetic-prometheus", str(port)]
        result = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 2
    assert f"cannot serve the synthetic Prometheus on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "kc").exists()  # nothing was started, so nothing is left behind


def test_blue_green_colours_are_told_apart_by_the_queries_ci_deploy_renders(
    sandbox: SandboxHandle, prom: str
) -> None:
    from ci_deploy.analysis.queries import BUILTIN, metric, render_query

    # blue-green pods carry a colour, no track (as ci-deploy's blue-green labels them)
    for color, image in (("blue", "registry.example/shop:2.0"), ("green", "shop:errors-20pct")):
        body = deployment("shop", color, image)
        labels = {"app.kubernetes.io/name": "shop", "ci-deploy.dev/color": color}
        body["metadata"]["labels"] = body["spec"]["template"]["metadata"]["labels"] = labels
        body["spec"]["selector"]["matchLabels"] = labels
        resp = requests.post(
            f"{sandbox.url}/apis/apps/v1/namespaces/{NS}/deployments", json=body, timeout=5
        )
        assert resp.status_code == 201, resp.text
    selector = "app.kubernetes.io/name=shop,ci-deploy.dev/color"

    def ready() -> bool:
        pods = requests.get(
            f"{sandbox.url}/api/v1/namespaces/{NS}/pods",
            params={"labelSelector": selector},
            timeout=5,
        ).json()["items"]
        return len(pods) == 4 and all(
            any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"]["conditions"])
            for p in pods
            if "conditions" in p.get("status", {})
        )

    wait_until(ready)

    def rendered(name: str, color: str) -> str:
        variables = {"namespace": NS, "app": "shop", "track": color, "color": color}
        return render_query(metric(name, None, None, "inconclusive"), {**variables, "window": "1m"})

    assert 'color="green"' in rendered("error_rate", "green")  # the colour, not a track
    assert value(prom, rendered("error_rate", "green")) == 20.0
    assert value(prom, rendered("error_rate", "blue")) == 0.0
    assert value(prom, rendered("cpu_usage", "green")) == 20.0  # kube-state-metrics' label
    [sample] = query(prom, rendered("request_count", "blue")).json()["data"]["result"]
    assert sample["metric"]["color"] == "blue"
    assert "track" not in sample["metric"]
    assert set(BUILTIN) >= {"error_rate", "cpu_usage", "request_count"}
