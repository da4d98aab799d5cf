"""Benchmark: server-side apply of the web-app example plus 200 extra objects, vs kubectl.

    .venv/bin/python bench/bench_apply.py [--runs 5] [--extra 200]

The same objects (the rendered example for staging + N ConfigMaps) are written to one YAML file
and applied to a fresh namespace of the sandbox (controllers off: only the API is measured):

- ci-deploy, as a process: ``python -c`` running ``ci_deploy.kube.apply.apply_objects`` on the
  file (interpreter start, kubernetes client import, kubeconfig, parallel SSA PATCHes);
- ci-deploy, the library call alone (``apply_objects``), for reference;
- ``kubectl apply --server-side -f FILE`` (one process).

Each first on an empty namespace ("create"), then again on the same objects ("re-apply").
Prints medians and the ratio kubectl / ci-deploy (above 1: ci-deploy is faster).
Target: ratio >= 1 for the process-to-process comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "examples" / "web-app" / "ci-deploy.yml"

APPLY_SCRIPT = r"""
import sys, yaml
from ci_deploy.kube.client import connect
from ci_deploy.kube.apply import apply_objects
objects = [o for o in yaml.safe_load_all(open(sys.argv[1])) if o]
client = connect()
apply_objects(client, objects)
client.close()
"""


def objects_for(namespace: str, extra: int) -> list[dict[str, Any]]:
    from ci_deploy.config import load_config
    from ci_deploy.render import render_manifests

    cfg = load_config(str(CONFIG))
    objs = render_manifests(cfg, "staging", image="registry.example.com/acme/web-app:1.0.0")
    for i in range(extra):
        objs.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"extra-{i:03d}", "labels": {"bench": "apply"}},
                "data": {"index": str(i), "payload": "x" * 200},
            }
        )
    for obj in objs:
        obj["metadata"]["namespace"] = namespace
    return objs


def write_file(path: Path, objs: list[dict[str, Any]]) -> None:
    from ci_deploy.render import to_yaml

    path.write_text(to_yaml(objs))


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--extra", type=int, default=200)
    args = parser.parse_args()

    from ci_deploy.kube.apply import apply_objects
    from ci_deploy.kube.client import connect
    from kube_sandbox.testing import running_sandbox

    times: dict[str, list[float]] = {}

    def note(key: str, seconds: float) -> None:
        times.setdefault(key, []).append(seconds)

    with tempfile.TemporaryDirectory() as tmp, running_sandbox(Path(tmp), controllers=False) as sb:
        env = {**os.environ, "KUBECONFIG": str(sb.kubeconfig)}
        client = connect(str(sb.kubeconfig))
        for run in range(args.runs):
            for tool in ("ours", "lib", "kubectl"):
                ns = f"bench-{tool}-{run}"
                client.request(
                    "POST",
                    "/api/v1/namespaces",
                    body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
                )
                objs = objects_for(ns, args.extra)
                path = Path(tmp) / f"{ns}.yaml"
                write_file(path, objs)
                for phase in ("create", "re-apply"):
                    if tool == "ours":
                        cmd = [sys.executable, "-c", APPLY_SCRIPT, str(path)]
                        note(f"ours_process_{phase}", timed(cmd, env))
                    elif tool == "lib":
                        started = time.monotonic()
                        apply_objects(client, objs)
                        note(f"ours_library_{phase}", time.monotonic() - started)
                    else:
                        cmd = ["kubectl", "apply", "--server-side", "-f", str(path)]
                        note(f"kubectl_{phase}", timed(cmd, env))
        client.close()

    medians = {k: round(statistics.median(v) * 1000, 1) for k, v in times.items()}
    result: dict[str, Any] = {
        "objects": len(objects_for("x", args.extra)),
        "runs": args.runs,
        "median_ms": medians,
        "ratio_kubectl_over_ci_deploy_process": {
            phase: round(medians[f"kubectl_{phase}"] / medians[f"ours_process_{phase}"], 2)
            for phase in ("create", "re-apply")
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
