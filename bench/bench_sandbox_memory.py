"""Benchmark: resident memory of a sandbox holding N objects of mixed kinds.

    .venv/bin/python bench/bench_sandbox_memory.py [--objects 5000]

Starts ``ci-deploy sandbox serve --no-controllers`` (its own process: its RSS alone is
measured, with psutil), creates a CRD, then N objects round-robin over built-in kinds
(ConfigMap, Secret, Service, ServiceAccount, Deployment, Role, StorageClass, PriorityClass,
IngressClass) and custom ones (HTTPRoute from the bundled Gateway API CRD, a Widget from the
CRD created here), one POST each (a bounded loop). Prints the RSS after start-up and after
the objects, and the cost per object.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import requests

Obj = dict[str, Any]
NS = "/api/v1/namespaces/default"

WIDGETS: Obj = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "size": {"type": "string"},
                                    "replicas": {"type": "integer", "default": 1},
                                },
                            }
                        },
                    }
                },
            }
        ],
    },
}


def _labels(i: int) -> Obj:
    return {"app": f"app-{i % 50}", "bench": "memory"}


KINDS: list[tuple[str, Callable[[int], Obj]]] = [
    (
        f"{NS}/configmaps",
        lambda i: {
            "metadata": {"name": f"cm-{i}", "labels": _labels(i)},
            "data": {"key": f"value-{i}", "config": "x" * 200},
        },
    ),
    (f"{NS}/secrets", lambda i: {"metadata": {"name": f"s-{i}"}, "stringData": {"token": f"t{i}"}}),
    (
        f"{NS}/services",
        lambda i: {
            "metadata": {"name": f"svc-{i}", "labels": _labels(i)},
            "spec": {"selector": _labels(i), "ports": [{"port": 80, "targetPort": 8080}]},
        },
    ),
    (f"{NS}/serviceaccounts", lambda i: {"metadata": {"name": f"sa-{i}"}}),
    (
        "/apis/apps/v1/namespaces/default/deployments",
        lambda i: {
            "metadata": {"name": f"d-{i}", "labels": _labels(i)},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": _labels(i)},
                "template": {
                    "metadata": {"labels": _labels(i)},
                    "spec": {"containers": [{"name": "app", "image": f"app:{i % 7}"}]},
                },
            },
        },
    ),
    (
        "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles",
        lambda i: {
            "metadata": {"name": f"r-{i}"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
        },
    ),
    (
        "/apis/storage.k8s.io/v1/storageclasses",
        lambda i: {"metadata": {"name": f"sc-{i}"}, "provisioner": "example.com/disk"},
    ),
    (
        "/apis/scheduling.k8s.io/v1/priorityclasses",
        lambda i: {"metadata": {"name": f"pc-{i}"}, "value": i},
    ),
    (
        "/apis/networking.k8s.io/v1/ingressclasses",
        lambda i: {"metadata": {"name": f"ic-{i}"}, "spec": {"controller": "example.com/ingress"}},
    ),
    (
        "/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes",
        lambda i: {
            "metadata": {"name": f"route-{i}"},
            "spec": {
                "parentRefs": [{"name": "gw"}],
                "hostnames": [f"h{i}.example.com"],
                "rules": [{"backendRefs": [{"name": f"svc-{i}", "port": 80}]}],
            },
        },
    ),
    (
        "/apis/example.com/v1/namespaces/default/widgets",
        lambda i: {"metadata": {"name": f"w-{i}"}, "spec": {"size": "M"}},
    ),
]


def rss_mb(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ci_deploy",
                "sandbox",
                "serve",
                "--port",
                "0",
                "--no-controllers",
                "--kubeconfig",
                str(Path(tmp) / "kc"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            match = re.search(r"http://127\.0\.0\.1:\d+", line)
            assert match, f"no URL in the ready line {line!r}"
            url = match.group(0)
            http = requests.Session()
            crd_url = url + "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
            assert http.post(crd_url, json=WIDGETS, timeout=10).status_code == 201
            time.sleep(0.2)
            start_rss = rss_mb(proc.pid)
            started = time.perf_counter()
            for i in range(args.objects):  # bounded: exactly N creates
                path, make = KINDS[i % len(KINDS)]
                resp = http.post(url + path, json=make(i), timeout=10)
                assert resp.status_code == 201, (path, resp.status_code, resp.text[:300])
            elapsed = time.perf_counter() - started
            end_rss = rss_mb(proc.pid)
            print(f"objects: {args.objects} over {len(KINDS)} kinds, created in {elapsed:.1f}s")
            print(f"RSS after start-up (CRDs installed): {start_rss:.1f} MB")
            print(f"RSS with {args.objects} objects: {end_rss:.1f} MB")
            print(f"per object: {(end_rss - start_rss) * 1024 / args.objects:.1f} KB")
        finally:
            proc.terminate()
            proc.wait(timeout=15)


if __name__ == "__main__":
    main()
