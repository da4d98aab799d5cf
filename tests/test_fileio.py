"""``write_atomically``: readers see the old file or the new one, never a part."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ci_deploy.fileio import write_atomically


def test_writes_the_text_and_creates_parent_folders(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "out.yml"
    write_atomically(target, "one: 1\n")
    assert target.read_text(encoding="utf-8") == "one: 1\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.yml"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.yml"
    target.write_text("old\n", encoding="utf-8")

    def fail(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, "new\n")
    assert target.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.yml"]
