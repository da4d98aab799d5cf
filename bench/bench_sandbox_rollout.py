"""Benchmark: a rolling update of a 100-replica Deployment in the sandbox (issue 3, item 6).

Target: with 0.1 s pod readiness the update completes in under 5 s of wall time.

    .venv/bin/python bench/bench_sandbox_rollout.py            # over HTTP (kubernetes client)
    .venv/bin/python bench/bench_sandbox_rollout.py --direct   # controllers on a bare Store
    .venv/bin/python bench/bench_sandbox_rollout.py --fleet 1000  # many small Deployments

``--fleet N`` creates N one-replica Deployments over HTTP (keep-alive, one connection) while
the controllers run, and reports the create time and the time until all are available: the
controllers' share of the "1,000 creates in under 2 s" budget (issue 3, item 6).

"Complete" is what ``kubectl rollout status`` waits for: observedGeneration caught up and
updated = ready = available = total = replicas. Prints one line per run and the median.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kube_sandbox.testing import deployment_manifest, wait_until

Obj = dict[str, Any]
NS = "default"


def deployment(replicas: int, image: str) -> Obj:
    return deployment_manifest("bench", image, replicas, namespace=NS)


def complete(d: Obj) -> bool:
    status, want = d.get("status") or {}, d["spec"]["replicas"]
    return bool(
        status.get("observedGeneration", 0) >= d["metadata"]["generation"]
        and status.get("updatedReplicas") == want
        and status.get("replicas") == want
        and status.get("availableReplicas") == want
    )


def wait(read: Callable[[], Obj], timeout: float = 60.0) -> None:
    wait_until(lambda: complete(read()), timeout=timeout, interval=0.005)


def run_direct(replicas: int, delay: float) -> float:
    from kube_sandbox.controllers import ControllerManager
    from kube_sandbox.storage.store import Store

    store = Store()
    manager = ControllerManager(store, pod_ready_delay=delay)
    manager.start()
    try:
        store.create("apps/deployments", deployment(replicas, "app:1"))

        def read() -> Obj:
            return store.get("apps/deployments", NS, "bench")

        wait(read)
        d = read()
        d["spec"]["template"]["spec"]["containers"][0]["image"] = "app:2"
        d["metadata"]["generation"] += 1
        start = time.perf_counter()
        store.update("apps/deployments", d)
        wait(read)
        return time.perf_counter() - start
    finally:
        manager.stop()


def run_http(replicas: int, delay: float) -> float:
    from kubernetes import client, config

    from kube_sandbox.testing import running_sandbox

    with (
        tempfile.TemporaryDirectory() as tmp,
        running_sandbox(Path(tmp), pod_ready_delay=delay) as sb,
    ):
        api = client.AppsV1Api(config.new_client_from_config(str(sb.kubeconfig)))

        def read() -> Obj:
            obj: Obj = api.api_client.sanitize_for_serialization(
                api.read_namespaced_deployment("bench", NS)
            )
            return obj

        api.create_namespaced_deployment(NS, deployment(replicas, "app:1"))
        wait(read)
        patch = {
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}
        }
        start = time.perf_counter()
        api.patch_namespaced_deployment("bench", NS, patch)
        wait(read)
        return time.perf_counter() - start


def run_fleet(count: int, delay: float) -> tuple[float, float]:
    import http.client
    import json

    from kube_sandbox.testing import running_sandbox

    with (
        tempfile.TemporaryDirectory() as tmp,
        running_sandbox(Path(tmp), pod_ready_delay=delay) as sb,
    ):
        host, port = sb.url.split("//")[1].split(":")
        conn = http.client.HTTPConnection(host, int(port))
        path = f"/apis/apps/v1/namespaces/{NS}/deployments"
        start = time.perf_counter()
        for i in range(count):
            body = deployment(1, "app:1")
            body["metadata"]["name"] = f"fleet-{i}"
            body["spec"]["selector"]["matchLabels"]["app"] = f"fleet-{i}"
            body["spec"]["template"]["metadata"]["labels"]["app"] = f"fleet-{i}"
            conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            if response.status != 201:
                raise SystemExit(f"create {i}: HTTP {response.status}")
        created = time.perf_counter() - start
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            items, _ = sb.store.list("apps/deployments", NS, shared=True)
            if all((d.get("status") or {}).get("availableReplicas") == 1 for d in items):
                break
            time.sleep(0.1)
        else:
            raise SystemExit("the fleet did not become available within 120 s")
        return created, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--direct", action="store_true", help="no HTTP: controllers on a Store")
    parser.add_argument("--replicas", type=int, default=100)
    parser.add_argument("--delay", type=float, default=0.1, help="pod readiness delay (s)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--fleet", type=int, default=0, help="N one-replica Deployments instead")
    args = parser.parse_args()
    if args.fleet:
        for i in range(args.runs):
            created, available = run_fleet(args.fleet, args.delay)
            print(
                f"run {i + 1}: {args.fleet} Deployment creates over HTTP with controllers "
                f"running: {created:.2f} s; all available after {available:.2f} s"
            )
        return
    run = run_direct if args.direct else run_http
    mode = "direct (Store)" if args.direct else "HTTP (kubernetes client)"
    times = []
    for i in range(args.runs):
        seconds = run(args.replicas, args.delay)
        times.append(seconds)
        print(f"run {i + 1}: {args.replicas}-replica rolling update, {mode}: {seconds:.2f} s")
    print(
        f"median {statistics.median(times):.2f} s, max {max(times):.2f} s "
        f"(target < 5 s; pod readiness {args.delay} s, maxSurge/maxUnavailable 25%)"
    )


if __name__ == "__main__":
    main()
