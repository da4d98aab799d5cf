"""Build, push and scan-gate times, each beside its peer on the same work.

- build: ``ci-deploy build --push`` of the demo service against ``docker build`` + ``docker
  push`` of the same context to the same loopback registry (Debian's docker-registry), with
  the layer cache warm and with app.py changed before each run (one layer rebuilt and pushed);
- scan gate: ``ci-deploy scan --report F --severity HIGH,CRITICAL`` against ``trivy convert
  --severity HIGH,CRITICAL --exit-code 1`` on each recorded Trivy report of
  tests/scan/fixtures/trivy (the vulnerability DB is unreachable here, so the scanning itself
  cannot be timed for vulnerabilities), and a real ``trivy fs`` secret + misconfiguration scan
  through ``ci-deploy scan --path`` against the same ``trivy fs`` run alone.

    .venv/bin/python bench/bench_build_scan.py [--runs 5]

Needs a Docker engine (scripts/test starts one) and docker-registry (apt).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.build.registry import running_registry  # noqa: E402 (the registry lives with the tests)

FIXTURES = REPO / "tests" / "scan" / "fixtures" / "trivy"
CI_DEPLOY = [sys.executable, "-m", "ci_deploy"]
TRIVY = shutil.which("trivy") or str(Path(sys.executable).parent / "trivy")
OFFLINE = [
    "--skip-db-update",
    "--skip-java-db-update",
    "--skip-check-update",
    "--skip-version-check",
    "--offline-scan",
]


def timed(run: Callable[[], subprocess.CompletedProcess[str]], ok: set[int]) -> float:
    started = time.perf_counter()
    done = run()
    seconds = time.perf_counter() - started
    if done.returncode not in ok:
        raise SystemExit(f"{done.args} exited {done.returncode}: {done.stderr[-2000:]}")
    return seconds


def sh(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "CI_", "GITLAB_"))}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f})"


def bench_build(runs: int, work: Path) -> None:
    with running_registry(work / "registry") as registry:
        app = work / "app"
        app.mkdir()
        for name in ("app.py", "Dockerfile"):
            shutil.copy(REPO / "examples" / "demo-service" / name, app / name)
        repository = f"{registry.host}/bench/web-app"
        (app / "ci-deploy.yml").write_text(
            f"app: web-app\nimage: {{repository: {repository}}}\n"
            "environments: {staging: {namespace: web}}\nbuild: {}\n"
        )
        sh("git", "init", "-q", cwd=app)
        sh("git", "add", ".", cwd=app)
        sh("git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "b", cwd=app)
        sha = sh("git", "rev-parse", "HEAD", cwd=app).stdout.strip()
        ref = f"{repository}:{sha}"

        def ours() -> subprocess.CompletedProcess[str]:
            return sh(*CI_DEPLOY, "build", "--push", cwd=app)

        def peer() -> subprocess.CompletedProcess[str]:
            built = sh("docker", "build", "-q", "-t", ref, ".", cwd=app)
            return built if built.returncode else sh("docker", "push", "-q", ref, cwd=app)

        timed(ours, {0})  # warm the layer cache and the registry
        for label, change in (("warm cache", False), ("app.py changed", True)):
            mine, theirs = [], []
            for run in range(runs):
                for who, fn in (("ci-deploy", ours), ("docker", peer)):
                    if change:
                        (app / "app.py").write_text(
                            (REPO / "examples/demo-service/app.py").read_text()
                            + f"\n# {who} {run} {time.time()}\n"
                        )
                    (mine if who == "ci-deploy" else theirs).append(timed(fn, {0}))
            print(
                f"build+push, {label}: ci-deploy {median(mine)};"
                f" docker build+push {median(theirs)}; {_ratio(mine, theirs)}"
            )


def _ratio(mine: list[float], theirs: list[float]) -> str:
    return f"ratio {statistics.median(mine) / statistics.median(theirs):.2f}"


def bench_scan(runs: int, work: Path) -> None:
    for fixture in sorted(FIXTURES.glob("*.json")):
        if "cyclonedx" in fixture.name:
            continue
        gate = ("--severity", "HIGH,CRITICAL")
        ours = [*CI_DEPLOY, "scan", "--report", str(fixture), *gate]
        peer = [TRIVY, "convert", "--quiet", "--format", "json", *gate, "--exit-code", "1"]
        peer += ["--output", os.devnull, str(fixture)]
        mine = [timed(partial(sh, *ours), {0, 1}) for _ in range(runs)]
        theirs = [timed(partial(sh, *peer), {0, 1}) for _ in range(runs)]
        verdict = "fails" if sh(*ours).returncode == 1 else "passes"
        print(
            f"scan gate {fixture.name:<36} ({verdict}): ci-deploy {median(mine)};"
            f" trivy convert {median(theirs)}; {_ratio(mine, theirs)}"
        )
    project = work / "project"
    project.mkdir()
    (project / "settings.env").write_text("GITHUB_TOKEN=ghp_" + "B2c3D4e5F6" * 3 + "g7H8i9\n")
    (project / "Dockerfile").write_text('FROM alpine:3.19\nCMD ["sh"]\n')
    cache = ["--cache-dir", str(work / "trivy-cache")]
    scanners = ["--scanners", "secret,misconfig"]
    ours = [*CI_DEPLOY, "scan", "--path", str(project), *scanners, "--offline", *cache]
    peer = [TRIVY, "fs", "--quiet", *cache, *OFFLINE, *scanners, "--format", "json"]
    peer += ["--output", os.devnull, str(project)]
    timed(partial(sh, *ours), {1})
    mine = [timed(partial(sh, *ours), {1}) for _ in range(runs)]
    theirs = [timed(partial(sh, *peer), {0}) for _ in range(runs)]
    print(
        f"scan trivy fs (secret, misconfig; gate fails): ci-deploy {median(mine)};"
        f" trivy fs alone {median(theirs)}; {_ratio(mine, theirs)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-build", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-build-scan-") as tmp:
        work = Path(tmp)
        bench_scan(args.runs, work)
        if not args.skip_build:
            bench_build(args.runs, work)


if __name__ == "__main__":
    main()
