"""A small hostile ci-deploy.yml cannot exhaust memory or crash the loader: exit 2, located.

Each case runs ``ci-deploy config validate`` in a subprocess whose address space is capped
(512 MB: a 9×9 alias bomb needed 1.6 GB before) and whose run is bounded by a timeout.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

LIMIT = 512 * 1024 * 1024


def bomb(width: int, depth: int) -> str:
    lines = ["app: web", "image: {repository: r.example.com/web}", "environments: {dev: {}}"]
    lines.append(f"a0: &a0 [{', '.join(['x'] * width)}]")
    for i in range(1, depth):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


CASES = {
    "billion laughs 9x9": (bomb(9, 9), "expands to more than 100000 values through aliases"),
    "self-referential alias": (
        "app: web\nimage: {repository: r.example.com/web}\nenvironments: {dev: {}}\nx: &r [*r]\n",
        "an alias (*name) refers to a value that contains it",
    ),
    "deep nesting": ("app: " + "[" * 900 + "]" * 900 + "\n", "nested too deeply to read"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_yaml_is_bad_input_not_a_crash(tmp_path: Path, case: str) -> None:
    text, message = CASES[case]
    assert len(text.encode()) < 2000, "a small file"
    (tmp_path / "ci-deploy.yml").write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "ci_deploy", "config", "validate"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=capped,
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert "MemoryError" not in result.stderr
