"""Time of ``ci-deploy render manifests`` for the example, schema validation included.

Two figures: the wall time of the whole command in a fresh process (median of N subprocess
runs, warm file cache), and the in-process time of ``render_manifests`` itself, first call
(imports, schema loading) and repeated calls (schemas cached).

    .venv/bin/python bench/bench_render.py [--runs 10] [--env production]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "web-app" / "ci-deploy.yml"
IMAGE = "registry.example.com/acme/web-app:1.2.3"


def subprocess_median_ms(command: list[str], runs: int) -> float:
    subprocess.run(command, check=True, capture_output=True)  # warm the file cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def in_process_ms(env: str, runs: int) -> tuple[float, float, int]:
    """(first call incl. imports, median of later calls, number of objects)."""
    start = time.perf_counter()
    from ci_deploy.config import load_config
    from ci_deploy.render import render_manifests

    cfg = load_config(EXAMPLE)
    objects = render_manifests(cfg, env, IMAGE)
    first = (time.perf_counter() - start) * 1000
    later = []
    for _ in range(runs):
        start = time.perf_counter()
        render_manifests(load_config(EXAMPLE), env, IMAGE)
        later.append((time.perf_counter() - start) * 1000)
    return first, statistics.median(later), len(objects)


def validation_ms(env: str, runs: int) -> tuple[float, float]:
    """Validating the rendered objects: kubernetes-validate's validate() vs ci-deploy's cache."""
    import kubernetes_validate

    from ci_deploy.config import load_config
    from ci_deploy.render import render_manifests
    from ci_deploy.render.validate import schema_errors

    objects = render_manifests(load_config(EXAMPLE), env, IMAGE)

    def timed(check: object) -> float:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            for obj in objects:
                check(obj)  # type: ignore[operator]
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times)

    plain = timed(lambda obj: kubernetes_validate.validate(obj, "1.32", strict=True))
    cached = timed(lambda obj: schema_errors(obj, "1.32"))
    return plain, cached


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--env", default="production")
    args = parser.parse_args()
    entry = shutil.which("ci-deploy", path=str(Path(sys.executable).parent)) or "ci-deploy"
    command = [entry, "-c", str(EXAMPLE), "render", "manifests", "--env", args.env,
               "--image", IMAGE]  # fmt: skip
    wall = subprocess_median_ms(command, args.runs)
    baseline = subprocess_median_ms([sys.executable, "-c", "pass"], args.runs)
    first, later, count = in_process_ms(args.env, args.runs)
    print(f"render manifests --env {args.env} ({count} objects, validated against Kubernetes 1.32)")
    print(
        f"  wall, fresh process, median of {args.runs}: {wall:7.1f} ms  "
        f"(python -c pass: {baseline:.1f} ms)"
    )
    print(f"  in-process, first call (imports + schemas): {first:7.1f} ms")
    print(f"  in-process, later calls, median of {args.runs}:  {later:7.1f} ms")
    plain, cached = validation_ms(args.env, args.runs)
    print(
        f"  validation only, {count} objects: kubernetes_validate.validate() {plain:.1f} ms "
        f"(re-parses the 1.3 MB definitions per object), cached validators {cached:.1f} ms"
    )


if __name__ == "__main__":
    main()
