"""Benchmark: how fast ``ci-deploy deploy`` notices a finished rollout, and its peak memory.

    .venv/bin/python bench/bench_deploy.py [--runs 10]

1. Completion latency: the time from the sandbox committing the Deployment status that makes
   the rollout complete (seen by a store subscriber, in-process) to
   - ``ci-deploy deploy`` (a subprocess) exiting, after it also recorded the state, released the
     lock and wrote its outputs;
   - ``kubectl rollout status`` (a subprocess, started right after the change) exiting.
   Both are measured the same way: the parent's monotonic clock at the store event and at exit.
   Target: ci-deploy under 100 ms median.
2. Peak RSS of one ``ci-deploy deploy`` process (ru_maxrss of the child). Target: under 120 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "examples" / "web-app" / "ci-deploy.yml"
IMAGE = "registry.example.com/acme/web-app"
NS, NAME = "web-app-staging", "web-app"


class CompletionClock:
    """Records when the sandbox's store commits a complete status for the new generation."""

    def __init__(self) -> None:
        self.generation = -1
        self.at: float | None = None
        self.event = threading.Event()

    def arm(self, generation: int) -> None:
        self.generation, self.at = generation, None
        self.event.clear()

    def __call__(self, event: Any) -> None:
        obj = event.obj
        if event.resource != "apps/deployments" or obj["metadata"]["name"] != NAME:
            return
        status, want = obj.get("status") or {}, obj["spec"].get("replicas", 1)
        if (
            self.at is None
            and obj["metadata"].get("generation", 0) >= self.generation
            and status.get("observedGeneration", 0) >= obj["metadata"]["generation"]
            and status.get("updatedReplicas") == want
            and status.get("replicas") == want
            and status.get("availableReplicas") == want
        ):
            self.at = time.monotonic()
            self.event.set()


def generation(sb: Any) -> int:
    """The Deployment's metadata.generation; 0 before the first deploy created it."""
    from kube_sandbox.storage.store import StoreError

    try:
        return int(sb.store.get("apps/deployments", NS, NAME)["metadata"]["generation"])
    except StoreError as exc:
        if exc.code != 404:
            raise
        return 0


def ci_deploy(env: dict[str, str], tag: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "ci_deploy", "-c", str(CONFIG), "deploy", "--env", "staging"]
    return subprocess.Popen(
        [*cmd, "--image", f"{IMAGE}:{tag}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def measure_ci_deploy(sb: Any, env: dict[str, str], clock: CompletionClock, tag: str) -> float:
    clock.arm(generation(sb) + 1)
    proc = ci_deploy(env, tag)
    proc.wait(timeout=120)
    exited = time.monotonic()
    if proc.returncode != 0 or clock.at is None:
        raise SystemExit(f"deploy {tag} failed ({proc.returncode})")
    return exited - clock.at


def measure_kubectl(sb: Any, env: dict[str, str], clock: CompletionClock, tag: str) -> float:
    clock.arm(generation(sb) + 1)
    subprocess.run(
        ["kubectl", "-n", NS, "set", "image", f"deployment/{NAME}", f"app={IMAGE}:{tag}"],
        env=env,
        check=True,
        capture_output=True,
    )
    proc = subprocess.Popen(
        ["kubectl", "-n", NS, "rollout", "status", f"deployment/{NAME}", "--timeout=120s"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    proc.wait(timeout=120)
    exited = time.monotonic()
    if proc.returncode != 0 or clock.at is None:
        raise SystemExit(f"kubectl rollout status failed ({proc.returncode})")
    return exited - clock.at


PEAK_RSS = r"""
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak_rss_mb(env: dict[str, str], tag: str) -> float:
    """ru_maxrss (KiB on Linux) of one deploy process, measured by a clean parent."""
    cmd = [sys.executable, "-m", "ci_deploy", "-c", str(CONFIG), "deploy", "--env", "staging"]
    out = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, *cmd, "--image", f"{IMAGE}:{tag}"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return int(out.stdout.strip()) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--pod-ready-delay", type=float, default=0.3)
    args = parser.parse_args()

    from kube_sandbox.testing import running_sandbox

    with (
        tempfile.TemporaryDirectory() as tmp,
        running_sandbox(Path(tmp), pod_ready_delay=args.pod_ready_delay) as sb,
    ):
        env = {**os.environ, "KUBECONFIG": str(sb.kubeconfig), "CI_DEPLOY_PLATFORM": "local"}
        clock = CompletionClock()
        sb.store.subscribe(clock)
        measure_ci_deploy(sb, env, clock, "warmup")
        ours = [measure_ci_deploy(sb, env, clock, f"run-{i}") for i in range(args.runs)]
        theirs: list[float] = []
        if shutil.which("kubectl"):
            theirs = [measure_kubectl(sb, env, clock, f"kubectl-{i}") for i in range(args.runs)]
        rss = [peak_rss_mb(env, f"rss-{i}") for i in range(3)]
    result = {
        "runs": args.runs,
        "ci_deploy_completion_to_exit_ms_median": round(statistics.median(ours) * 1000, 1),
        "ci_deploy_completion_to_exit_ms_all": [round(x * 1000, 1) for x in ours],
        "kubectl_rollout_status_completion_to_exit_ms_median": (
            round(statistics.median(theirs) * 1000, 1) if theirs else None
        ),
        "kubectl_rollout_status_completion_to_exit_ms_all": [round(x * 1000, 1) for x in theirs],
        "ci_deploy_peak_rss_mb_max": round(max(rss), 1),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
