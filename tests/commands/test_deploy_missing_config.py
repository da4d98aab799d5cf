"""A deploy whose pods reference a Secret that does not exist fails and rolls back.

On a cluster the kubelet leaves such a container Waiting with ``CreateContainerConfigError``
(``secret "x" not found``); the sandbox's kubelet does the same, so ci-deploy's fail-fast
check sees it rather than a rollout that reports success.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.commands.conftest import EXAMPLE, IMAGE, NAMESPACE, Engine

from ci_deploy.kube.client import connect
from kube_sandbox.testing import running_sandbox

REPO = Path(__file__).resolve().parents[2]
BUILTIN = REPO / "templates" / "manifests" / "deployment.yaml.j2"
IMAGE_LINE = "          image: {{ image | to_json }}\n"
# the container reads a Secret only for the image tag "needs-secret"
ENV_FROM = (
    '{% if image.endswith(":needs-secret") %}'
    "          envFrom: [{secretRef: {name: web-app-credentials}}]\n"
    "{% endif %}"
)


def _config(tmp: Path) -> Path:
    templates = tmp / "templates"
    templates.mkdir()
    text = BUILTIN.read_text()
    assert IMAGE_LINE in text
    (templates / "deployment.yaml.j2").write_text(text.replace(IMAGE_LINE, IMAGE_LINE + ENV_FROM))
    config = EXAMPLE.read_text().replace("manifests:\n", "manifests:\n  templates: templates\n", 1)
    path = tmp / "ci-deploy.yml"
    path.write_text(config)
    return path


def test_a_template_reading_a_missing_secret_fails_fast_and_rolls_back(tmp_path: Path) -> None:
    config = _config(tmp_path)
    with running_sandbox(tmp_path / "sb") as sb:
        client = connect(str(sb.kubeconfig))
        try:
            engine = Engine(sb, tmp_path, config, client)
            first = engine.deploy("1.0.0")
            assert first.returncode == 0, first.stderr

            started = time.monotonic()
            result = engine.deploy("needs-secret")
            elapsed = time.monotonic() - started

            assert result.returncode == 1, result.stderr
            assert elapsed < 30, f"took {elapsed:.1f}s: not fail-fast"
            assert "CreateContainerConfigError" in result.stderr
            assert f"rolled back to {IMAGE}:1.0.0" in result.stderr
            record = engine.record()
            assert record is not None and record.phase == "RolledBack"
            assert engine.live_image() == f"{IMAGE}:1.0.0"
            pods = client.get(f"/api/v1/namespaces/{NAMESPACE}/pods")["items"]
            waiting = [
                s["state"]["waiting"]
                for p in pods
                for s in (p.get("status") or {}).get("containerStatuses") or []
                if (s.get("state") or {}).get("waiting", {}).get("reason")
                == "CreateContainerConfigError"
            ]
            for state in waiting:  # pods of the failed revision still being deleted
                assert state["message"] == 'secret "web-app-credentials" not found'
        finally:
            client.close()
