"""Text from the cluster is data: it never becomes a workflow command, a log section or Markdown.

A workload can put anything in its pods' status. Here a pod of the release says, in its
waiting message, what a hostile workload would say to the pipeline that deploys it; the deploy
runs as a GitHub Actions (or GitLab) job would, and its stdout, stderr, outputs and summary are
read the way the runner reads them.
"""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path
from typing import Any

import pytest

from ci_deploy.kube.errors import ApiError

IMAGE = "registry.example.com/acme/web-app"
NAMESPACE = "web-app-staging"
PAYLOAD = (
    "boom\n::set-output name=phase::Succeeded\n::add-mask::PWNED\n::stop-commands::PWNTOKEN\n"
    "::error title=PWNED::owned\n# PWNED heading\n[PWNED](https://evil.example) "
    "![PWNED](https://evil.example/x.png) <img src=x onerror=alert(1)> | cell `code` \n"
    "\x1b[0Ksection_end:1:ci_deploy_1_rollout\r\x1b[0K\u2028::warning::PWNED"
)
OURS = ("::group::", "::endgroup::", "::error::", "::warning::", "::notice::", "::add-mask::")


def crash_with_message(engine: Any, message: str) -> None:
    """Once a pod of the new release exists, make it crash-loop with ``message``."""

    def new_pod() -> dict[str, Any] | None:
        pods = engine.client.get(f"/api/v1/namespaces/{NAMESPACE}/pods")["items"]
        for pod in pods:
            if pod["spec"]["containers"][0]["image"].endswith(":neverready"):
                return pod  # type: ignore[no-any-return]
        return None

    engine.wait_until(lambda: new_pod() is not None, seconds=30)
    pod = new_pod()
    assert pod is not None
    pod["status"]["containerStatuses"] = [
        {
            "name": "app",
            "ready": False,
            "restartCount": 3,
            "image": f"{IMAGE}:neverready",
            "imageID": "",
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": message}},
        }
    ]
    name = pod["metadata"]["name"]
    engine.client.request("PUT", f"/api/v1/namespaces/{NAMESPACE}/pods/{name}/status", body=pod)


def hostile_deploy(engine: Any, **env: str) -> tuple[int, str, str]:
    assert engine.deploy("1.0.0").returncode == 0
    proc = engine.start(
        "deploy", "--env", "staging", "--image", f"{IMAGE}:neverready", "--timeout", "60s", **env
    )
    # The sandbox's kubelet rewrites the status it computes; the hostile status is written
    # again until the deploy has seen it (bounded by the deploy's own timeout).
    while proc.poll() is None:
        with contextlib.suppress(ApiError, AssertionError):
            crash_with_message(engine, PAYLOAD)
        time.sleep(0.2)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def test_a_pod_message_cannot_command_a_github_runner(engine: Any, tmp_path: Path) -> None:
    output, summary = tmp_path / "github_output", tmp_path / "summary.md"
    output.touch()
    code, out, err = hostile_deploy(
        engine,
        GITHUB_ACTIONS="true",
        GITHUB_OUTPUT=str(output),
        GITHUB_STEP_SUMMARY=str(summary),
    )
    assert code == 1, err
    assert "CrashLoopBackOff" in err and "boom" in out + err, "the message was shown, as data"
    for line in (out + err).splitlines():  # the runner reads workflow commands from both
        if line.lstrip().startswith("::"):
            assert line.startswith(OURS), f"a foreign workflow command: {line!r}"
            assert not line.startswith(("::add-mask::PWNED", "::warning::PWNED")), line
        assert "\x1b" not in line
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    assert outputs["phase"] == "RolledBack"
    assert engine.record().phase == "RolledBack"
    for line in summary.read_text().splitlines():
        assert not line.startswith("#") or line.startswith("### ci-deploy: web-app to staging")
        if line.startswith("| ") and not line.startswith("| |"):
            value = line.split(" | ", 1)[1].rsplit(" |", 1)[0]
            # Each value is one code span (nothing inside renders) or a bare phase word.
            assert re.fullmatch(r"`[^`]*`|[A-Za-z]+", value), line
    assert "PWNED" in summary.read_text(), "the message is in the summary, as a code span"


@pytest.mark.parametrize("platform", ["gitlab", "local"])
def test_a_pod_message_cannot_end_a_gitlab_section_or_split_a_line(
    engine: Any, tmp_path: Path, platform: str
) -> None:
    env = {"CI_DEPLOY_PLATFORM": platform, "CI_DEPLOY_DOTENV": str(tmp_path / "deploy.env")}
    code, out, err = hostile_deploy(engine, **env)
    assert code == 1, err
    text = out + err
    for line in text.splitlines():
        assert not line.lstrip().startswith("::"), line
        assert "\x1b[0Ksection_end:1:" not in line, "only ci-deploy ends its sections"
        assert "\u2028" not in line
    assert "␛[0Ksection_end:1:ci_deploy_1_rollout" in text, "shown, neutralized"


def test_a_record_message_cannot_command_the_runner_through_status(engine: Any) -> None:
    import json

    from ci_deploy.kube.client import DEPLOYMENT
    from ci_deploy.kube.state import STATE_ANNOTATION

    assert engine.deploy("1.0.0").returncode == 0
    record = json.loads(engine.deployment()["metadata"]["annotations"][STATE_ANNOTATION])
    record["message"] = PAYLOAD
    engine.client.request(
        "PATCH",
        DEPLOYMENT.path(NAMESPACE, "web-app"),
        body={"metadata": {"annotations": {STATE_ANNOTATION: json.dumps(record)}}},
        content_type="application/merge-patch+json",
    )
    for args in (("status", "--env", "staging"), ("status", "--env", "staging", "--json")):
        result = engine.run(*args, GITHUB_ACTIONS="true")
        assert result.returncode == 0, result.stderr
        assert "boom" in result.stdout, "the message is shown, as data"
        for line in (result.stdout + result.stderr).splitlines():
            assert not line.lstrip().startswith("::"), f"a foreign workflow command: {line!r}"
            assert "\x1b" not in line
