"""Hook Jobs (``ci-deploy.dev/hook: pre-deploy | post-deploy``) on the sandbox: run around the
rollout and awaited; a failed pre-deploy hook stops the deploy before any workload changes and
shows its pod's log; a failed post-deploy hook rolls the release back; hooks are never pruned."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.commands.files_app import CONFIG, NAMESPACE, REPOSITORY, WEB, App, app_on_sandbox
from tests.commands.test_workloads import WORKER, image

HOOK = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
  annotations: {{ci-deploy.dev/hook: {when}}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{{name: {name}, image: "registry.example.com/acme/tools:{tag}"}}]
"""
JOBS = f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs"


def hook(name: str, when: str, tag: str = "1") -> str:
    return HOOK.format(name=name, when=when, tag=tag)


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    with app_on_sandbox(tmp_path, monkeypatch) as made:
        yield made


def test_hooks_run_before_and_after_the_rollout_and_are_replaced_by_the_next_run(
    app: App,
) -> None:
    app.files(
        web=WEB,
        worker=WORKER.format(tag="1"),
        migrate=hook("migrate", "pre-deploy"),
        smoke=hook("smoke", "post-deploy"),
    )
    plan = app.run("plan", "--env", "staging", "--image", ":1")
    assert plan.returncode == 0, plan.stderr
    assert "the pre-deploy hooks (one fails: stop, no workload changed)" in plan.stdout
    assert "1. run pre-deploy hook job/migrate" in plan.stdout
    assert "run post-deploy hook job/smoke" in plan.stdout
    assert "Job migrate" not in plan.stdout  # not applied with the rest
    done = app.deploy("1")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    # In order: the pre-deploy hook, the apply, the rollout, the post-deploy hook, the record.
    marks = [
        "pre-deploy hook job/migrate completed",
        "step 2/",
        "rolled out: deployment/worker",
        "post-deploy hook job/smoke completed",
        "Succeeded:",
    ]
    at = [out.index(m) for m in marks]
    assert at == sorted(at), out
    first = app.client.get(f"{JOBS}/migrate")
    assert any(c["type"] == "Complete" for c in first["status"]["conditions"])
    # Hook Jobs are not members of the app's ApplySet: never pruned.
    assert "applyset.kubernetes.io/part-of" not in (first["metadata"].get("labels") or {})

    second = app.deploy("2")
    assert second.returncode == 0, second.stdout + second.stderr
    again = app.client.get(f"{JOBS}/migrate")
    assert again["metadata"]["uid"] != first["metadata"]["uid"]  # the old Job was replaced
    assert any(c["type"] == "Complete" for c in again["status"]["conditions"])
    assert app.client.get_or_none(f"{JOBS}/smoke") is not None


def test_a_failed_pre_deploy_hook_stops_the_deploy_before_any_workload_changes(app: App) -> None:
    app.files(web=WEB, worker=WORKER.format(tag="1"))
    assert app.deploy("1").returncode == 0
    web_before = app.get("deployments/web-app")
    worker_before = app.get("deployments/worker")

    app.files(
        web=WEB, worker=WORKER.format(tag="2"), migrate=hook("migrate", "pre-deploy", "crashloop")
    )
    failed = app.deploy("2")
    out = failed.stdout + failed.stderr
    assert failed.returncode == 1, out
    assert "pre-deploy hook job/migrate failed: BackoffLimitExceeded" in out
    assert "the deploy stopped before any workload changed" in out
    # The failed pod's log is shown (the sandbox kubelet's own lines for the container).
    assert "logs of the failed pods of job/migrate:" in out
    assert "container migrate: [ci-deploy sandbox] simulated container migrate" in out
    # Nothing of the release was applied.
    for name, before in (("web-app", web_before), ("worker", worker_before)):
        now = app.get(f"deployments/{name}")
        assert now["metadata"]["generation"] == before["metadata"]["generation"]
    assert image(app.get("deployments/web-app")) == f"{REPOSITORY}:1"
    assert image(app.get("deployments/worker")) == "registry.example.com/acme/worker:1"
    status = app.run("status", "--env", "staging", "--json")
    assert '"phase": "Aborted"' in status.stdout, status.stdout + status.stderr


def test_a_failed_post_deploy_hook_rolls_the_release_back(app: App) -> None:
    app.files(web=WEB, worker=WORKER.format(tag="1"))
    assert app.deploy("1").returncode == 0
    app.files(
        web=WEB, worker=WORKER.format(tag="2"), smoke=hook("smoke", "post-deploy", "crashloop")
    )
    failed = app.deploy("2")
    out = failed.stdout + failed.stderr
    assert failed.returncode == 1, out
    assert "post-deploy hook job/smoke failed: BackoffLimitExceeded" in out
    assert f"rolled back to {REPOSITORY}:1" in out
    assert image(app.get("deployments/web-app")) == f"{REPOSITORY}:1"
    assert image(app.get("deployments/worker")) == "registry.example.com/acme/worker:1"


def test_a_hook_annotation_on_anything_but_a_job_is_refused_before_anything_changes(
    app: App,
) -> None:
    broken = WORKER.format(tag="1").replace(
        "metadata: {name: worker}",
        "metadata: {name: worker, annotations: {ci-deploy.dev/hook: pre-deploy}}",
    )
    app.files(web=WEB, worker=broken)
    refused = app.deploy("1")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "deploy/worker.yaml" in refused.stderr
    assert "annotation ci-deploy.dev/hook is for Jobs (batch/v1), not a Deployment" in (
        refused.stderr
    )
    app.files(web=WEB, migrate=hook("migrate", "pre-install"))
    unknown = app.deploy("1")
    assert unknown.returncode == 2
    assert "is 'pre-install'; expected one of pre-deploy, post-deploy" in unknown.stderr
    assert app.client.get_or_none(f"/api/v1/namespaces/{NAMESPACE}") is None  # nothing made


HOOKS_BY_NAME = CONFIG.replace(
    '  files: ["deploy/*.yaml"]\n',
    '  files: ["deploy/*.yaml"]\n  hooks: {pre_deploy: [migrate], post_deploy: [smoke]}\n',
)


def plain_job(name: str, tag: str = "1") -> str:
    """A Job with no hook annotation (a chart or folder the team cannot annotate)."""
    return hook(name, "pre-deploy", tag).replace(
        "  annotations: {ci-deploy.dev/hook: pre-deploy}\n", ""
    )


def test_hooks_can_be_named_in_the_configuration_instead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with app_on_sandbox(tmp_path, monkeypatch, HOOKS_BY_NAME) as app:
        app.files(web=WEB, migrate=plain_job("migrate"), smoke=plain_job("smoke"))
        done = app.deploy("1")
        out = done.stdout + done.stderr
        assert done.returncode == 0, out
        assert out.index("pre-deploy hook job/migrate completed") < out.index("step 2/")
        assert out.index("post-deploy hook job/smoke completed") < out.index("Succeeded:")
        app.files(web=WEB, migrate=plain_job("migrate", "crashloop"), smoke=plain_job("smoke"))
        failed = app.deploy("2")
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert "the deploy stopped before any workload changed" in failed.stderr
        assert image(app.get("deployments/web-app")) == f"{REPOSITORY}:1"
        app.files(web=WEB, smoke=plain_job("smoke"))  # migrate is gone from the files
        missing = app.deploy("3")
        assert missing.returncode == 2, missing.stderr
        assert (
            "manifests.hooks.pre_deploy[0]: no Job named 'migrate' is rendered "
            "(no object of that name)" in missing.stderr
        )
