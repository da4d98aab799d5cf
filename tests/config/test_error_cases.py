"""Every broken configuration in the table exits 2 with its exact message and no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.config.error_cases import CASES, Case, markdown_table, run_case

SUBPROCESS_CASES = ["yaml-syntax", "stages-not-increasing", "many-problems", "missing-file"]


def test_the_table_has_at_least_30_cases_with_unique_ids() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) >= 30
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_broken_configuration_gives_exact_message(case: Case, tmp_path: Path) -> None:
    outcome = run_case(case, tmp_path)
    assert outcome.exit_code == 2
    assert outcome.stdout == ""
    assert outcome.stderr == case.expected + "\n"
    assert "Traceback" not in outcome.stderr


@pytest.mark.parametrize("case_id", SUBPROCESS_CASES)
def test_installed_cli_reports_the_same_message(case_id: str, tmp_path: Path) -> None:
    case = next(c for c in CASES if c.id == case_id)
    if "-c" not in case.args:
        (tmp_path / "ci-deploy.yml").write_text(case.yaml, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "GITLAB_CI")}
    done = subprocess.run(
        [sys.executable, "-m", "ci_deploy", *case.args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr == case.expected + "\n"
    assert "Traceback" not in done.stdout + done.stderr


def test_markdown_table_lists_every_case_with_its_message() -> None:
    table = markdown_table()
    lines = table.splitlines()
    assert lines[0] == "| case | what is wrong | exact message (stderr, exit 2) |"
    assert len(lines) == len(CASES) + 2
    for case, line in zip(CASES, lines[2:], strict=True):
        assert line.startswith(f"| `{case.id}` |")
        first_message_line = case.expected.splitlines()[0].replace("|", "\\|")
        assert first_message_line in line
