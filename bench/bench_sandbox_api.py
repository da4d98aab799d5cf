"""Sandbox API speed and memory: Deployment creates over HTTP, RSS with 5,000 objects.

Runs ``ci-deploy sandbox serve`` as a separate process (so client and server do not share a
GIL) on a free loopback port, and prints:
  - 1,000 Deployment creates over one keep-alive ``requests.Session`` (target: < 2 s),
    with the API only and with the controllers running (replicas: 0, so no pods), and over
    one stdlib ``http.client`` connection (less client overhead);
  - 1,000 creates through the official ``kubernetes`` client;
  - list of 1,000 Deployments; a watch replay of 1,000 events;
  - server RSS (psutil) idle and with 5,000 objects (target: < 100 MB).

    .venv/bin/python bench/bench_sandbox_api.py
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import requests

READY = re.compile(r"serving (http://\S+) \(kubeconfig: (.+), context")


def deployment(name: str, replicas: int = 0) -> dict[str, Any]:
    labels = {"app": name, "app.kubernetes.io/managed-by": "ci-deploy"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": f"registry.example/{name}:1.0.0",
                            "ports": [{"containerPort": 8080, "name": "http"}],
                            "env": [{"name": "LOG_LEVEL", "value": "info"}],
                            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                            "readinessProbe": {"httpGet": {"path": "/health", "port": 8080}},
                        }
                    ]
                },
            },
        },
    }


@contextmanager
def server(*extra: str) -> Iterator[tuple[str, Path, psutil.Process]]:
    tmp = Path(tempfile.mkdtemp())
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ci_deploy",
            "sandbox",
            "serve",
            "--port",
            "0",
            "--kubeconfig",
            str(tmp / "kc"),
            "--insecure-http",  # the plain API's speed; bench_sandbox_tls.py compares TLS
            *extra,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        match = READY.search(proc.stdout.readline())
        assert match, "sandbox did not start"
        yield match.group(1), Path(match.group(2)), psutil.Process(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def create_many(url: str, count: int, prefix: str, namespace: str = "default") -> float:
    session = requests.Session()
    path = f"{url}/apis/apps/v1/namespaces/{namespace}/deployments"
    started = time.perf_counter()
    for n in range(count):
        resp = session.post(path, json=deployment(f"{prefix}-{n}"))
        if resp.status_code != 201:
            raise SystemExit(f"create failed: {resp.status_code} {resp.text[:200]}")
    return time.perf_counter() - started


def create_many_http_client(url: str, count: int, prefix: str) -> float:
    """The same creates over one stdlib ``http.client`` keep-alive connection."""
    import http.client
    import json

    conn = http.client.HTTPConnection(url.split("//", 1)[1])
    headers = {"Content-Type": "application/json"}
    path = "/apis/apps/v1/namespaces/default/deployments"
    started = time.perf_counter()
    for n in range(count):
        conn.request("POST", path, json.dumps(deployment(f"{prefix}-{n}")), headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 201:
            raise SystemExit(f"create failed: {resp.status}")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def official_client_creates(kubeconfig: Path, count: int) -> float:
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(kubeconfig))
    apps = client.AppsV1Api(api)
    started = time.perf_counter()
    for n in range(count):
        apps.create_namespaced_deployment("default", deployment(f"official-{n}"))
    elapsed = time.perf_counter() - started
    api.close()
    return elapsed


def report(label: str, seconds: float, count: int = 0, note: str = "") -> None:
    rate = f" ({count / seconds:.0f}/s)" if count else ""
    print(f"  {label:<44} {seconds:6.2f} s{rate}{note}")


def watch_replay(url: str, count: int) -> int:
    resp = requests.get(
        url + "/apis/apps/v1/deployments",
        params={"watch": "true", "resourceVersion": "1", "timeoutSeconds": "1"},
        stream=True,
        timeout=30,
    )
    events = 0
    for line in resp.iter_lines():
        if line:
            events += 1
            if events == count:
                break
    resp.close()
    return events


def busy_cluster(url: str, deployments: int, replicas: int) -> tuple[int, float]:
    """Create Deployments with running pods; wait (bounded) until every pod runs."""
    session = requests.Session()
    path = f"{url}/apis/apps/v1/namespaces/default/deployments"
    started = time.perf_counter()
    for n in range(deployments):
        session.post(path, json=deployment(f"busy-{n}", replicas=replicas))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        pods = session.get(url + "/api/v1/pods", timeout=30).json()["items"]
        if sum(1 for p in pods if p["status"].get("phase") == "Running") >= deployments * replicas:
            break
        time.sleep(0.5)
    seconds = time.perf_counter() - started
    lists = (
        "/apis/apps/v1/deployments",
        "/apis/apps/v1/replicasets",
        "/api/v1/pods",
        "/api/v1/events",
    )
    objects = sum(len(session.get(url + p, timeout=30).json()["items"]) for p in lists)
    return objects, seconds


def main() -> None:
    print("sandbox API benchmark (server in its own process; clients keep connections alive)")
    with server("--no-controllers") as (url, kubeconfig, proc):
        requests.get(url + "/version", timeout=5)
        idle_mb = proc.memory_info().rss / 2**20
        report(
            "1,000 Deployment creates (requests.Session)",
            create_many(url, 1000, "web"),
            1000,
            "  target < 2 s",
        )
        report(
            "1,000 Deployment creates (http.client)",
            create_many_http_client(url, 1000, "std"),
            1000,
        )
        started = time.perf_counter()
        items = requests.get(
            url + "/apis/apps/v1/namespaces/default/deployments", timeout=30
        ).json()["items"]
        report(f"list of {len(items)} Deployments", time.perf_counter() - started)
        started = time.perf_counter()
        events = watch_replay(url, 1000)
        report(f"watch replay of {events} events", time.perf_counter() - started)
        report(
            "1,000 creates (official kubernetes client)",
            official_client_creates(kubeconfig, 1000),
            1000,
        )
        create_many(url, 5000 - 3000, "more")
        rss_mb = proc.memory_info().rss / 2**20
        print(
            f"  server RSS idle: {idle_mb:.1f} MB; with 5,004 objects: {rss_mb:.1f} MB"
            "  target < 100 MB"
        )
    with server("--pod-ready-delay", "0.1") as (url, _, proc):
        requests.get(url + "/version", timeout=5)
        report("1,000 creates, controllers on (replicas 0)", create_many(url, 1000, "ctl"), 1000)
    with server("--pod-ready-delay", "0.05") as (url, _, proc):
        objects, seconds = busy_cluster(url, deployments=700, replicas=2)
        rss_mb = proc.memory_info().rss / 2**20
        print(
            f"  controllers on, {objects} objects (700 Deployments x 2 pods, ReplicaSets, events),"
            f" settled in {seconds:.1f} s: server RSS {rss_mb:.1f} MB  target < 100 MB"
        )


if __name__ == "__main__":
    main()
