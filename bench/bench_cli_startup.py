"""Start-up time of ``ci-deploy --help`` and ``--version`` against ``python -c pass``.

Warm-cache cold-process figures: every run is a new interpreter, but the OS file cache is warm
(dropping caches needs root privileges and a quiet machine we do not have). Prints the median
of N runs in milliseconds and its ratio to bare Python.

    .venv/bin/python bench/bench_cli_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def median_ms(command: list[str], runs: int) -> float:
    """Median wall time of ``command`` over ``runs`` fresh processes (one warm-up first)."""
    subprocess.run(command, check=True, capture_output=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    python = sys.executable
    entry = shutil.which("ci-deploy", path=str(Path(python).parent)) or "ci-deploy"
    cases = {
        "python -c pass": [python, "-c", "pass"],
        "ci-deploy --help": [entry, "--help"],
        "ci-deploy --version": [entry, "--version"],
        "python -m ci_deploy --help": [python, "-m", "ci_deploy", "--help"],
    }
    baseline = None
    print(f"warm-cache cold-process median of {args.runs} runs ({python})")
    for label, command in cases.items():
        ms = median_ms(command, args.runs)
        baseline = baseline or ms
        print(f"{label:28s} {ms:7.1f} ms   {ms / baseline:4.1f}x python -c pass")


if __name__ == "__main__":
    main()
