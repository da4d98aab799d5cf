"""Canary analysis speed on real metrics: from a canary's error rate crossing its rollback
trigger, as Prometheus sees it, to all traffic back on stable.

The rig of tests/analysis (rig.py): the sandbox cluster, a real Prometheus (Debian 2.42,
250 ms scrapes) scraping a stable and a canary demo service process with the Kubernetes scrape
job's labels, and real traffic (100 requests/s) split as the ``replicas`` router splits it
(each track's share of the Ready pods). Each run:

  1. ``ci-deploy deploy`` of a new canary image (the real CLI, a subprocess): stage "initial"
     at 20 % (1 canary pod beside 4 stable) for 10 minutes, the trigger ``error_rate > 5%``
     judged every 1 s (``analysis.interval: 1s``) over a 2 s window;
  2. once the canary has served healthy traffic for 3 s, its process starts failing 20 % of
     its requests (``POST /admin/config``);
  3. the bench polls Prometheus every 50 ms with the canary's error-rate query: the first
     answer over 5 % is the *crossing*;
  4. it polls the cluster every 20 ms: the first moment no canary pod is Ready (the replicas
     router then sends every request to stable) is *all traffic back*; the CLI must exit 1
     (rolled back) and the stable Deployment keep the old image.

Prints the distribution of crossing → all traffic back over the runs (the target: under 3 s),
and flip → crossing (Prometheus' own delay: scrape interval and rate window) beside it.

    .venv/bin/python bench/bench_analysis.py [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.analysis.rig import (  # noqa: E402 (the rig lives with the tests)
    APP,
    NAMESPACE,
    PrometheusServer,
    TrafficDriver,
    canary_config,
    replicas_router_weights,
    running_pair,
    wait_until,
)

from ci_deploy.kube.client import DEPLOYMENT, connect  # noqa: E402
from kube_sandbox.testing import running_sandbox  # noqa: E402

IMAGE = "registry.example.com/acme/web-app"
ERROR_RATE = (
    '100 * sum(rate(http_requests_total{namespace="web-app-prod",app="web-app",track="canary",'
    'code=~"5.."}[2s])) / sum(rate(http_requests_total{namespace="web-app-prod",app="web-app",'
    'track="canary"}[2s]))'
)
THRESHOLD = 5.0
QUIET = '(sum(increase(http_requests_total{track="canary",code=~"5.."}[3s])) or vector(0)) == 0'


def config(prometheus_url: str) -> dict[str, object]:
    stages = [
        {"name": "initial", "traffic_percentage": 20, "duration": "10m"},
        {"name": "full", "traffic_percentage": 100},
    ]
    analysis = {"prometheus": {"address": prometheus_url}, "interval": "1s", "window": "2s"}
    return canary_config(stages, [{"error_rate": f"> {THRESHOLD:g}%"}], analysis, image=IMAGE)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="at most 15 (the traffic lasts 300 s)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-analysis-"))
    for folder in ("demo", "prometheus"):
        (work / folder).mkdir()
    crossing_to_back: list[float] = []
    flip_to_crossing: list[float] = []
    with (
        running_sandbox(work / "sandbox", pod_ready_delay=0.05) as sb,
        running_pair(work / "demo") as pair,
        PrometheusServer(pair.targets(), workdir=work / "prometheus") as prom,
    ):
        prom.wait_for_samples('count(up{job="demo"} == 1) == 2')
        kube = connect(str(sb.kubeconfig))
        path = work / "ci-deploy.yml"
        path.write_text(yaml.safe_dump(config(prom.url), sort_keys=False), encoding="utf-8")
        env = {**os.environ, "KUBECONFIG": str(sb.kubeconfig)}
        for name in [k for k in env if k.startswith(("GITHUB_", "GITLAB_", "CI_"))]:
            env.pop(name)

        def ci_deploy(tag: str) -> subprocess.Popen[str]:
            cmd = [sys.executable, "-m", "ci_deploy", "-c", str(path), "deploy"]
            cmd += ["--env", "production", "--image", f"{IMAGE}:{tag}"]
            return subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
            )

        first = ci_deploy("1.0.0")
        out, _ = first.communicate(timeout=120)
        assert first.returncode == 0, out

        def weights() -> dict[str, float]:
            return replicas_router_weights(kube, NAMESPACE, APP)

        driver = TrafficDriver(pair.urls, weights, rate=100, max_seconds=300)
        driver.start()
        try:
            for run in range(1, args.runs + 1):
                pair.heal()
                # the last run's errors must leave the 2 s window before a new canary starts
                wait_until(lambda: prom.query(QUIET), timeout=30, interval=0.1, what="quiet")
                proc = ci_deploy(f"1.1.{run}")
                wait_until(lambda: weights().get("canary", 0) > 0, timeout=60, what="canary up")
                time.sleep(3)  # healthy canary traffic, judged healthy a few times
                assert proc.poll() is None, "the canary ended before its errors began"
                pair.canary.configure(error_rate=0.2)
                flipped = time.monotonic()

                def crossed() -> float | None:
                    value = prom.value(ERROR_RATE)
                    return time.monotonic() if value is not None and value > THRESHOLD else None

                crossing = wait_until(crossed, timeout=30, interval=0.05, what="the crossing")
                back = wait_until(
                    lambda: time.monotonic() if weights().get("canary", 1) == 0 else None,
                    timeout=30,
                    interval=0.02,
                    what="all traffic back on stable",
                )
                out, _ = proc.communicate(timeout=60)
                assert proc.returncode == 1, out
                assert "rollback trigger error_rate (canary) breached" in out, out
                stable = kube.get(DEPLOYMENT.path(NAMESPACE, APP))
                image = stable["spec"]["template"]["spec"]["containers"][0]["image"]
                assert image == f"{IMAGE}:1.0.0", image
                crossing_to_back.append(back - crossing)
                flip_to_crossing.append(crossing - flipped)
                print(
                    f"run {run:2d}: crossing → all traffic on stable {back - crossing:5.2f} s"
                    f" (errors began → crossing {crossing - flipped:4.2f} s)",
                    flush=True,
                )
        finally:
            driver.stop(check=False)
            kube.close()

    def line(name: str, values: list[float]) -> str:
        return (
            f"{name}: min {min(values):.2f} s, median {statistics.median(values):.2f} s,"
            f" p90 {percentile(values, 0.9):.2f} s, max {max(values):.2f} s"
        )

    print(f"\n{args.runs} runs, interval 1s, trigger error_rate > {THRESHOLD:g}%, 20 % errors")
    print(line("crossing → all traffic back on stable", crossing_to_back))
    print(line("errors began → crossing (Prometheus' scrape and window)", flip_to_crossing))
    under = sum(1 for v in crossing_to_back if v < 3.0)
    print(f"under 3 s: {under} of {len(crossing_to_back)}")
    return 0 if under == len(crossing_to_back) else 1


if __name__ == "__main__":
    raise SystemExit(main())
