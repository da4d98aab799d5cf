"""Run the kubectl suites once per kubectl; print the conformance table and the time of each.

    .venv/bin/python bench/conformance_table.py

The kubectls are the ones the tests use (tests/sandbox/conftest.py: CI_DEPLOY_KUBECTLS, or
the machine's kubectl >= 1.27 plus the venv's kubectl 1.37). Each test in
tests/sandbox/test_kubectl_conformance.py records (command, expected, observed) rows while
asserting, so a row appears only for steps whose assertions passed before it. For each kubectl
this prints its version, its table, the pytest summary line and the wall time of all three
kubectl suites (conformance, controllers, smoke) for that kubectl.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLE_SUITE = "tests/sandbox/test_kubectl_conformance.py"
SUITES = [
    TABLE_SUITE,
    "tests/sandbox/test_kubectl_controllers.py",
    "tests/sandbox/test_api_kubectl_smoke.py",
]


def pytest(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run pytest in the repository with this interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args, "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def kubectl_ids() -> list[str]:
    """The kubectl test ids (``kubectl-1.32``, ``kubectl-1.37``) in collection order."""
    collected = pytest("--collect-only", "-q", TABLE_SUITE).stdout
    ids: list[str] = []
    for found in re.findall(r"\[(kubectl-[^\]]+)\]", collected):
        if found not in ids:
            ids.append(found)
    return ids


def markdown_row(cells: list[str]) -> str:
    """One table row; pipes and newlines in cells escaped."""
    clean = [c.replace("|", "\\|").replace("\n", " ") for c in cells]
    return f"| `{clean[0]}` | {clean[1]} | {clean[2]} |"


def run_for(kubectl_id: str) -> int:
    """Run the suites for one kubectl and print its section; returns pytest's exit code."""
    with tempfile.TemporaryDirectory() as tmp:
        rows_file = Path(tmp) / "rows.jsonl"
        env = {**os.environ, "CONFORMANCE_TABLE": str(rows_file)}
        started = time.monotonic()
        # "-k kubectl-1.37" selects the tests parametrized with that kubectl (the id is a word)
        proc = pytest(*SUITES, "-q", "-k", kubectl_id, env=env)
        elapsed = time.monotonic() - started
        rows = (
            [json.loads(line) for line in rows_file.read_text().splitlines()]
            if (rows_file.exists())
            else []
        )
    version = rows[0]["version"] if rows else "?"
    print(f"### {kubectl_id} (Client Version: {version})\n")
    print("| kubectl command | expected | observed |")
    print("|---|---|---|")
    for row in rows:
        print(markdown_row([str(row[k]) for k in ("command", "expected", "observed")]))
    summary = [line for line in proc.stdout.splitlines() if line.strip()]
    print(f"\npytest ({len(SUITES)} kubectl suites): {summary[-1] if summary else proc.stderr}")
    print(f"wall time with start-up: {elapsed:.1f} s\n")
    return proc.returncode


def main() -> int:
    ids = kubectl_ids()
    if not ids:
        print("no kubectl tests collected: run scripts/setup.d/20-kubectl.sh", file=sys.stderr)
        return 1
    codes = [run_for(kubectl_id) for kubectl_id in ids]
    return max(codes)


if __name__ == "__main__":
    raise SystemExit(main())
