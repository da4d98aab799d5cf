"""The action image: its size, and the time from container start to ci-deploy's first log line.

Runs the image as the GitHub runner does (``INPUT_*`` variables, workspace mounted, action
entrypoint) with ``command: config validate``. The container is created first (``docker
create``; on the vfs storage driver this copy of the image is the slow part and is reported
apart), then ``docker start -a`` is timed until the first line arrives and until exit. A bare
``python3 -c 'print(1)'`` in the same image gives the floor (container start + interpreter).

    .venv/bin/python bench/bench_image.py [--build] [--image ci-deploy:dev] [--runs 5]

``--build`` first builds the image with scripts/build-image.sh (offline, host wheels).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = """\
app: web-app
image: {repository: registry.example.com/acme/web-app}
environments:
  staging: {replicas: 2}
"""


def docker(*args: str) -> str:
    """Run a docker command, return its stdout (stripped); raise on failure."""
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, check=True)
    return proc.stdout.strip()


def timed_start(container: str) -> tuple[float, float, str]:
    """``docker start -a``: seconds to the first output line, to exit, and that line."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        ["docker", "start", "-a", container],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    first_line = proc.stdout.readline()
    first = time.perf_counter() - started
    proc.stdout.read()
    proc.wait()
    return first, time.perf_counter() - started, first_line.strip()


def measure(image: str, workspace: Path, runs: int, command: list[str]) -> dict[str, float]:
    """Median create / first-line / exit seconds over ``runs`` fresh containers."""
    creates, firsts, totals = [], [], []
    line = ""
    for _ in range(runs):
        t0 = time.perf_counter()
        cid = docker(
            "create",
            "--network",
            "host",
            "-v",
            f"{workspace}:/github/workspace",
            "-w",
            "/github/workspace",
            "-e",
            "GITHUB_ACTIONS=true",
            "-e",
            "INPUT_COMMAND=config validate",
            "-e",
            "INPUT_CONFIG=ci-deploy.yml",
            *command,
        )
        creates.append(time.perf_counter() - t0)
        try:
            first, total, line = timed_start(cid)
        finally:
            docker("rm", "-f", cid)
        firsts.append(first)
        totals.append(total)
    print(f"    first line: {line!r}")
    return {
        "create": statistics.median(creates),
        "first_line": statistics.median(firsts),
        "exit": statistics.median(totals),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="ci-deploy:dev")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--build", action="store_true", help="build the image first")
    args = parser.parse_args()
    if args.build:
        t0 = time.perf_counter()
        subprocess.run([str(ROOT / "scripts" / "build-image.sh"), args.image], check=True)
        print(f"build (offline, cached dependency layer if any): {time.perf_counter() - t0:.1f} s")
    size = int(docker("image", "inspect", "--format", "{{.Size}}", args.image))
    print(f"image {args.image}: {size / 1e6:.1f} MB ({size} bytes)")
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp)
        (workspace / "ci-deploy.yml").write_text(CONFIG, encoding="utf-8")
        print(f"ci-deploy action entrypoint ({args.runs} runs, median):")
        action = measure(args.image, workspace, args.runs, [args.image])
        print("bare python3 -c 'print(1)' in the same image:")
        floor = measure(
            args.image,
            workspace,
            args.runs,
            ["--entrypoint", "python3", args.image, "-c", "print(1)"],
        )
    print()
    print(f"{'':34}{'ci-deploy':>12}{'python3':>12}")
    for key, label in (
        ("create", "docker create (vfs copy)"),
        ("first_line", "start -> first log line"),
        ("exit", "start -> exit"),
    ):
        print(f"{label:34}{action[key] * 1000:>10.0f}ms{floor[key] * 1000:>10.0f}ms")


if __name__ == "__main__":
    main()
