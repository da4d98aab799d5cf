"""Run the kubectl conformance suite and print its (command, expected, observed) rows as markdown.

    .venv/bin/python bench/conformance_table.py

Each test in tests/sandbox/test_kubectl_conformance.py records rows while asserting; a row
appears only for steps whose assertions passed before it. The pytest summary line follows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUITE = "tests/sandbox/test_kubectl_conformance.py"


def kubectl_version() -> str:
    """The client version line of the kubectl the suite will use."""
    for candidate in (os.environ.get("KUBECTL", ""), str(Path(sys.executable).parent / "kubectl")):
        if candidate and Path(candidate).is_file():
            binary = candidate
            break
    else:
        binary = "kubectl"
    out = subprocess.run([binary, "version", "--client"], capture_output=True, text=True)
    return f"{binary}: {out.stdout.splitlines()[0] if out.stdout else out.stderr.strip()}"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        rows_file = Path(tmp) / "rows.jsonl"
        env = {**os.environ, "CONFORMANCE_TABLE": str(rows_file)}
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", SUITE, "-q", "-p", "no:cacheprovider"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        rows = (
            [json.loads(line) for line in rows_file.read_text().splitlines()]
            if rows_file.exists()
            else []
        )
    print(f"{kubectl_version()}\n")
    print("| kubectl command | expected | observed |")
    print("|---|---|---|")
    for row in rows:
        cells = [
            str(row[k]).replace("|", "\\|").replace("\n", " ")
            for k in ("command", "expected", "observed")
        ]
        print(f"| `{cells[0]}` | {cells[1]} | {cells[2]} |")
    summary = [line for line in proc.stdout.splitlines() if line.strip()]
    print(f"\npytest: {summary[-1] if summary else proc.stderr.strip()}")
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
