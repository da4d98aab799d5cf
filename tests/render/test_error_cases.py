"""Every broken template or manifest of the data table gives exactly its message, exit 2."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest


def _load_error_cases() -> ModuleType:
    # The table is a plain module beside this test (`python -m tests.render.error_cases` prints
    # it); pytest's importlib mode does not put the repository root on sys.path: load by path.
    path = Path(__file__).with_name("error_cases.py")
    spec = importlib.util.spec_from_file_location("render_error_cases", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


error_cases = _load_error_cases()


@pytest.mark.parametrize("case", error_cases.CASES, ids=[c.id for c in error_cases.CASES])
def test_broken_input_gives_exact_message_and_exit_2(case: object, tmp_path: Path) -> None:
    exit_code, message = error_cases.run_case(case, tmp_path)
    assert message == case.message  # type: ignore[attr-defined]
    assert exit_code == 2


def test_table_has_at_least_ten_distinct_cases() -> None:
    messages = {case.message for case in error_cases.CASES}
    assert len(messages) == len(error_cases.CASES) >= 10


def test_all_problems_of_a_run_are_reported_together(tmp_path: Path) -> None:
    cases = {case.id: case for case in error_cases.CASES}
    files: dict[str, str] = {}
    for name in ("undefined-variable", "sandbox", "unknown-field", "wrong-type"):
        files.update(cases[name].files)
    combined = error_cases.ErrorCase("combined", "combined", files, "")
    exit_code, message = error_cases.run_case(combined, tmp_path)
    assert exit_code == 2
    for name in ("undefined-variable", "sandbox", "unknown-field", "wrong-type"):
        assert cases[name].message in message.splitlines()
