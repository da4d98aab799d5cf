"""Canary speed on the sandbox: promote and abort latency, and a whole time-scaled canary.

Runs ``ci-deploy sandbox serve`` (TLS and a token, as by default) in its own process and the
real ``ci-deploy`` CLI in subprocesses, with the gateway-api router (the one the docs
recommend), 5 replicas and the example's stages (5 % 15m, 25 % 30m with a manual gate, 75 % 45m,
100 % with a 2h monitor), and prints:

  - promote → HTTPRoute at the next weight: from starting ``ci-deploy promote`` to the route
    holding the next stage's weights (the bench polls the route); the CLI's own start-up
    (``ci-deploy --version``) is printed beside it, since a CI job pays it too;
  - abort → all traffic on a stable set at full capacity: from starting ``ci-deploy abort`` to
    the route sending 100 % to the stable Service, with the stable Deployment's ready count at
    that moment;
  - a whole canary of the example, ``--time-scale 600 --no-pause``, end to end, next to the
    same image change done with kubectl (``set image`` + ``rollout status``: a rolling update,
    no stages) on the same sandbox — the ratio is the price of the stages and checks.

    .venv/bin/python bench/bench_canary.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

READY = re.compile(r"serving (https?://\S+) \(kubeconfig: (.+), context")
CONFIG = """\
app: shop
image: {repository: registry.example.com/acme/shop}
manifests:
  http_route:
    hostnames: [shop.example.com]
    parent_ref: {name: public, namespace: infra}
environments:
  production: {namespace: shop, create_namespace: true, replicas: 5, strategy: canary}
canary:
  traffic_router: gateway-api
  stages:
    - {name: initial, traffic_percentage: 5, duration: 15m}
    - {name: expanded, traffic_percentage: 25, duration: 30m, pause: true}
    - {name: majority, traffic_percentage: 75, duration: 45m, pause: true}
    - {name: full, traffic_percentage: 100, monitor_duration: 2h}
"""
IMAGE = "registry.example.com/acme/shop"
WAITS = (15 + 30 + 45 + 120) * 60  # the stages' durations and the final monitor, in seconds


@contextmanager
def sandbox(tmp: Path) -> Iterator[dict[str, str]]:
    """The environment of a CLI run against a fresh sandbox."""
    kubeconfig = tmp / "kubeconfig"
    args = [sys.executable, "-m", "ci_deploy", "sandbox", "serve", "--port", "0"]
    args += ["--kubeconfig", str(kubeconfig), "--pod-ready-delay", "0.05"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert READY.search(proc.stdout.readline()), "sandbox did not start"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "CI_"))}
        env.pop("CI", None)
        yield {**env, "KUBECONFIG": str(kubeconfig)}
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def cli(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "ci_deploy", "-c", str(config), *args]


def kubectl_json(env: dict[str, str], *args: str) -> dict[str, object]:
    out = subprocess.run(
        ["kubectl", "-n", "shop", *args, "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    doc: dict[str, object] = json.loads(out.stdout)
    return doc


def canary_weight(route: dict[str, object]) -> int | None:
    refs = route["spec"]["rules"][0]["backendRefs"]  # type: ignore[index]
    weights = {r["name"]: r.get("weight", 1) for r in refs}
    total = sum(weights.values())
    return round(100 * weights.get("shop-canary", 0) / total) if total else None


def timed_until(
    command: list[str], env: dict[str, str], done: Callable[[], bool]
) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """(seconds from starting ``command`` until ``done()`` holds, seconds until its first step
    began — interpreter, imports, TLS connection, lock —, the run)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    first_step: list[float] = []
    lines: list[str] = []

    def follow() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if not first_step and " step " in line:
                first_step.append(time.perf_counter() - started)

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    took: float | None = None
    while took is None:
        if done():
            took = time.perf_counter() - started
        elif proc.poll() is not None:
            took = float("nan")
    out, _ = proc.communicate()
    reader.join(timeout=10)
    run = subprocess.CompletedProcess(command, proc.returncode, out, "".join(lines))
    return took, (first_step or [float("nan")])[0], run


def route_reader(env: dict[str, str]) -> Callable[[], int | None]:
    import requests
    import yaml

    kubeconfig = yaml.safe_load(Path(env["KUBECONFIG"]).read_text())
    server = kubeconfig["clusters"][0]["cluster"]["server"]
    token = kubeconfig["users"][0]["user"]["token"]
    ca = Path(env["KUBECONFIG"]).with_suffix(".ca.pem")
    import base64

    ca.write_bytes(
        base64.b64decode(kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"])
    )
    session = requests.Session()
    session.trust_env = False
    session.headers["Authorization"] = f"Bearer {token}"
    url = f"{server}/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/shop"

    def read() -> int | None:
        return canary_weight(session.get(url, verify=str(ca), timeout=5).json())

    return read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if shutil.which("kubectl") is None:
        sys.exit("kubectl is needed (the test command installs it)")
    promotes, aborts, canaries, kubectls, starts = [], [], [], [], []
    promote_steps: list[float] = []
    abort_steps: list[float] = []
    for _ in range(args.runs):
        tmp = Path(tempfile.mkdtemp())
        config = tmp / "ci-deploy.yml"
        config.write_text(CONFIG)
        with sandbox(tmp) as env:
            weight = route_reader(env)
            deploy = ["deploy", "--env", "production", "--time-scale", "600"]
            subprocess.run(
                cli(config, *deploy, "--image", f"{IMAGE}:1"),
                env=env,
                check=True,
                capture_output=True,
            )
            t0 = time.perf_counter()
            subprocess.run(cli(config, "--version"), env=env, check=True, capture_output=True)
            starts.append(time.perf_counter() - t0)
            subprocess.run(
                cli(config, *deploy, "--image", f"{IMAGE}:2"),
                env=env,
                check=True,
                capture_output=True,
            )
            assert weight() == 25, weight()
            took, before, run = timed_until(
                cli(config, "promote", "--env", "production"), env, lambda w=weight: w() == 75
            )
            assert run.returncode == 0, run.stderr
            promotes.append(took)
            promote_steps.append(took - before)
            took, before, run = timed_until(
                cli(config, "abort", "--env", "production"), env, lambda w=weight: w() == 0
            )
            assert run.returncode == 0, run.stderr
            stable = kubectl_json(env, "get", "deployment", "shop")
            assert stable["status"]["readyReplicas"] == 5  # type: ignore[index]
            aborts.append(took)
            abort_steps.append(took - before)
            t0 = time.perf_counter()
            full = subprocess.run(
                cli(config, *deploy, "--no-pause", "--image", f"{IMAGE}:3"),
                env=env,
                capture_output=True,
                text=True,
            )
            canaries.append(time.perf_counter() - t0)
            assert full.returncode == 0, full.stderr
            t0 = time.perf_counter()
            subprocess.run(
                ["kubectl", "-n", "shop", "set", "image", "deployment/shop", f"app={IMAGE}:4"],
                env=env,
                check=True,
                capture_output=True,
            )
            subprocess.run(
                ["kubectl", "-n", "shop", "rollout", "status", "deployment/shop"],
                env=env,
                check=True,
                capture_output=True,
            )
            kubectls.append(time.perf_counter() - t0)
        shutil.rmtree(tmp, ignore_errors=True)

    def ms(values: list[float]) -> str:
        return f"median {1000 * statistics.median(values):.0f} ms (min {1000 * min(values):.0f})"

    print(f"runs: {args.runs}; sandbox over TLS, gateway-api router, 5 replicas")
    print(f"CLI start-up (ci-deploy --version): {ms(starts)}")
    print(
        f"promote → HTTPRoute at the next weight (25% → 75%, 4 canary pods ready first): "
        f"{ms(promotes)}; from the verb's first step: {ms(promote_steps)}"
    )
    print(
        f"abort → 100% to the stable set (5/5 ready): {ms(aborts)}; "
        f"from the verb's first step: {ms(abort_steps)}"
    )
    canary, rolling = statistics.median(canaries), statistics.median(kubectls)
    waits = WAITS / 600
    print(
        f"whole canary of the example, --time-scale 600 --no-pause: median {canary:.1f} s, of "
        f"which {waits:.1f} s are the stages' time-scaled waits, so {canary - waits:.1f} s of "
        f"work for 4 stages; kubectl set image + rollout status (one rolling update, no stages):"
        f" median {rolling:.1f} s"
    )


if __name__ == "__main__":
    main()
