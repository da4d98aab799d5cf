"""``status`` (table and JSON) and ``rollback`` on demand."""

from __future__ import annotations

import json
from typing import Any

IMAGE = "registry.example.com/acme/web-app"


def test_status_prints_a_table_and_json(engine: Any) -> None:
    nothing = engine.run("status", "--env", "staging")
    assert nothing.returncode == 0
    assert "no rollout recorded" in nothing.stdout
    assert engine.deploy("1.0.0").returncode == 0
    table = engine.run("status", "--env", "staging")
    assert table.returncode == 0, table.stderr
    assert "Succeeded" in table.stdout
    assert f"live image           {IMAGE}:1.0.0" in table.stdout
    doc = json.loads(engine.run("status", "--env", "staging", "--json").stdout)
    assert doc["state"]["phase"] == "Succeeded"
    assert doc["state"]["revision"] == f"{IMAGE}:1.0.0"
    assert doc["live"] == {"image": f"{IMAGE}:1.0.0", "ready": "2/2"}


def test_rollback_restores_the_recorded_stable_revision(engine: Any) -> None:
    assert engine.deploy("1.0.0").returncode == 0
    assert engine.deploy("2.0.0").returncode == 0
    result = engine.run("rollback", "--env", "staging")
    assert result.returncode == 0, result.stderr
    assert engine.live_image() == f"{IMAGE}:1.0.0"
    record = engine.record()
    assert record.phase == "RolledBack"
    assert record.previous_revision == f"{IMAGE}:1.0.0"
    again = engine.run("rollback", "--env", "staging")
    assert again.returncode == 0
    assert "nothing to do" in again.stderr


def test_rollback_to_a_chosen_revision(engine: Any) -> None:
    for tag in ("1.0.0", "2.0.0", "3.0.0"):
        assert engine.deploy(tag).returncode == 0
    result = engine.run("rollback", "--env", "staging", "--to-revision", "1")
    assert result.returncode == 0, result.stderr
    assert engine.live_image() == f"{IMAGE}:1.0.0"
    missing = engine.run("rollback", "--env", "staging", "--to-revision", "99")
    assert missing.returncode == 2
    assert "no revision 99" in missing.stderr
