"""Benchmark: what knowing exactly what changed costs, and whether applying in parallel pays.

    .venv/bin/python bench/bench_tracked_apply.py [--runs 5] [--extra 20] [--latency 0,0.01]

The rendered web-app example plus N ConfigMaps (a realistic app: 3 + 20 objects) are applied
to a fresh namespace of the sandbox (controllers off), with the API's latency per request set by
the sandbox (0 s: loopback; 10 ms: a cluster across a network):

- ``apply_objects``: the plain parallel server-side apply (what deploy did before);
- ``apply_tracked`` with 8 workers: read every object, dry-run all, apply all, in parallel;
- ``apply_tracked`` with 1 worker: the same, one request at a time (kubectl's way).

Each on new objects ("create") and again unchanged ("re-apply"). Prints medians in ms.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from bench_apply import objects_for  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--extra", type=int, default=20)
    parser.add_argument("--latency", default="0,0.01")
    args = parser.parse_args()
    logging.getLogger("kube_sandbox.faults").setLevel(logging.ERROR)  # latency is a "fault"

    from ci_deploy.kube import changes
    from ci_deploy.kube.apply import apply_objects
    from ci_deploy.kube.client import connect
    from kube_sandbox.testing import running_sandbox

    ways: dict[str, Any] = {
        "apply_objects (parallel, untracked)": lambda c, o: apply_objects(c, o),
        "apply_tracked, 8 workers": lambda c, o: changes.apply_tracked(c, o),
        "apply_tracked, 1 worker": lambda c, o: changes.apply_tracked(c, o),
    }
    result: dict[str, Any] = {"objects": len(objects_for("x", args.extra)), "runs": args.runs}
    with tempfile.TemporaryDirectory() as tmp, running_sandbox(Path(tmp), controllers=False) as sb:
        client = connect(str(sb.kubeconfig))
        for latency in (float(x) for x in args.latency.split(",")):
            sb.faults.set(latency=latency, latency_share=1.0)
            medians: dict[str, dict[str, float]] = {}
            for way, fn in ways.items():
                changes.WORKERS = 1 if "1 worker" in way else 8
                times: dict[str, list[float]] = {"create": [], "re-apply": []}
                for run in range(args.runs):
                    ns = f"b{int(latency * 1000)}-{len(medians)}-{run}"
                    client.request("POST", "/api/v1/namespaces", body={"metadata": {"name": ns}})
                    objs = objects_for(ns, args.extra)
                    for phase in ("create", "re-apply"):
                        started = time.monotonic()
                        fn(client, objs)
                        times[phase].append(time.monotonic() - started)
                medians[way] = {k: round(statistics.median(v) * 1000, 1) for k, v in times.items()}
            result[f"latency {latency * 1000:.0f} ms: median ms"] = medians
        sb.faults.reset()
        client.close()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
