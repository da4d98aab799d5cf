"""Job outputs for the next pipeline job: GitHub ``$GITHUB_OUTPUT`` and GitLab dotenv."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.platforms.github_output import SCRIPT as READ_GITHUB_OUTPUT

IMAGE = "registry.example.com/acme/web-app"


def test_github_run_writes_outputs_that_the_next_process_reads(engine: Any, tmp_path: Path) -> None:
    output = tmp_path / "github_output"
    output.touch()
    summary = tmp_path / "step_summary.md"
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    assert engine.deploy("1.0.0", **env).returncode == 0
    failed = engine.deploy("crashloop", **env)
    assert failed.returncode == 1
    assert "::group::" in failed.stdout + failed.stderr
    assert "::error::" in failed.stdout + failed.stderr  # an annotation on the run
    assert "### ci-deploy: web-app to staging: RolledBack" in summary.read_text()
    # The "next job": a separate process that reads $GITHUB_OUTPUT as the runner does.
    read = subprocess.run(
        [sys.executable, READ_GITHUB_OUTPUT, str(output)],
        capture_output=True,
        text=True,
        check=True,
    )
    outputs = json.loads(read.stdout)  # the last value of each name wins, as on GitHub
    assert outputs["phase"] == "RolledBack"
    assert outputs["revision"] == f"{IMAGE}:crashloop"
    assert outputs["previous-revision"] == f"{IMAGE}:1.0.0"
    assert outputs["environment-url"] == "https://staging.example.com"
    state = json.loads(outputs["state"])
    assert state["apiVersion"] == "ci-deploy.dev/v1"
    assert state["phase"] == "RolledBack"
    assert "previousTemplate" not in state


def test_gitlab_run_writes_a_dotenv_within_the_limits(engine: Any, tmp_path: Path) -> None:
    dotenv = tmp_path / "deploy.env"
    env = {"GITLAB_CI": "true", "CI_DEPLOY_DOTENV": str(dotenv)}
    result = engine.deploy("1.0.0", **env)
    assert result.returncode == 0, result.stderr
    raw = dotenv.read_bytes()
    assert len(raw) < 5 * 1024
    lines = raw.decode().splitlines()
    assert 0 < len(lines) <= 20
    values = dict(line.split("=", 1) for line in lines)
    assert all(key.startswith("CI_DEPLOY_") and key.isupper() for key in values)
    assert values["CI_DEPLOY_PHASE"] == "Succeeded"
    assert values["CI_DEPLOY_REVISION"] == f"{IMAGE}:1.0.0"
    assert json.loads(values["CI_DEPLOY_STATE"])["phase"] == "Succeeded"
