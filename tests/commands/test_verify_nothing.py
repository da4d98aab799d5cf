"""`ci-deploy verify` with nothing configured to check: exit 2 before any cluster is asked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CONFIG = """\
app: shop
image: {repository: registry.example.com/acme/shop}
environments:
  staging: {replicas: 2}
canary:
  stages: [{name: full, traffic_percentage: 100}]
  rollback_triggers:
    - manual_trigger: true
"""


def test_verify_without_checks_says_so_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / "ci-deploy.yml").write_text(CONFIG, encoding="utf-8")
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "no-such-kubeconfig")}  # never read
    for name in [k for k in env if k.startswith(("GITHUB_", "GITLAB_", "CI_"))]:
        env.pop(name)
    result = subprocess.run(
        [sys.executable, "-m", "ci_deploy", "verify", "--env", "staging"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 2, result.stderr
    assert "nothing to verify in staging" in result.stderr  # the manual trigger measures nothing
    assert "Traceback" not in result.stderr
    assert "no-such-kubeconfig" not in result.stderr
