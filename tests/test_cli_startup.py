"""``ci-deploy --help`` / ``--version`` stay light: a fresh interpreter running them imports
neither kubernetes, jinja2, requests nor the schema validator (issue 2, "Speed")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "web-app" / "ci-deploy.yml"

HEAVY = ("kubernetes", "jinja2", "requests", "jsonschema", "kubernetes_validate")

# Run the real entry point in a fresh interpreter, then report which heavy packages got imported.
PROBE = (
    f"HEAVY = {HEAVY!r}\n"
    + """
import json, sys
from ci_deploy.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
else:
    code = 0
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))
sys.stderr.write(json.dumps({"code": code, "heavy": heavy}) + "\\n")
"""
)


def imported_after(args: list[str]) -> tuple[int, list[str], str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True
    )
    report = json.loads(result.stderr.strip().splitlines()[-1])
    return report["code"], report["heavy"], result.stdout


@pytest.mark.parametrize(
    "args",
    [["--help"], ["--version"], ["-h"], ["render", "--help"], ["render", "manifests", "--help"]],
    ids=" ".join,
)
def test_help_and_version_import_no_heavy_package(args: list[str]) -> None:
    code, heavy, out = imported_after(args)
    assert code == 0
    assert out  # it did print the help or the version
    assert heavy == []


def test_the_probe_sees_heavy_imports_when_rendering() -> None:
    # The same probe on a command that renders must report jinja2: the check can fail.
    args = ["-c", str(EXAMPLE), "render", "manifests", "--env", "staging", "--image", ":1"]
    code, heavy, _ = imported_after(args)
    assert code == 0
    assert "jinja2" in heavy and "jsonschema" in heavy


def test_importtime_of_help_lists_no_heavy_module() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ci_deploy", "--help"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    modules = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "ci_deploy.cli" in modules
    assert not {m.split(".")[0] for m in modules} & set(HEAVY)
