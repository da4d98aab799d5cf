"""``ci-deploy deploy`` on the sandbox: success, fail fast, deadline, rollback, exit codes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from ci_deploy.kube.client import DEPLOYMENT

IMAGE = "registry.example.com/acme/web-app"
NAMESPACE = "web-app-staging"


def test_good_image_succeeds_records_state_and_prints_outputs(engine) -> None:  # type: ignore[no-untyped-def]
    result = engine.deploy("1.0.0")
    assert result.returncode == 0, result.stderr
    record = engine.record()
    assert record is not None
    assert record.phase == "Succeeded"
    assert record.revision == f"{IMAGE}:1.0.0"
    assert record.previous_revision is None
    assert record.deployment_revision == "1"
    assert engine.serving_images() == {f"{IMAGE}:1.0.0"}
    assert result.stdout == "", "a local run prints no pipeline data on stdout"
    outputs = result.outputs
    assert outputs["phase"] == "Succeeded"
    assert outputs["revision"] == f"{IMAGE}:1.0.0"
    assert outputs["environment-url"] == "https://staging.example.com"
    assert json.loads(outputs["state"])["phase"] == "Succeeded"
    lease = engine.lease()
    assert lease is not None and not lease["spec"].get("holderIdentity"), "lock released"


def test_deploy_executes_the_plan_that_plan_prints(engine) -> None:  # type: ignore[no-untyped-def]
    assert engine.deploy("1.0.0").returncode == 0
    plan = engine.run("plan", "--env", "staging", "--image", f"{IMAGE}:2.0.0")
    assert plan.returncode == 0, plan.stderr
    assert "1. record stable revision: registry.example.com/acme/web-app:1.0.0" in plan.stdout
    deploy = engine.deploy("2.0.0")
    assert deploy.returncode == 0, deploy.stderr
    for line in plan.stdout.strip().splitlines():
        if line.strip().startswith("objects: "):
            continue  # plan's dry-run summary; deploy's apply step says what it did instead
        assert line.strip() in deploy.stderr
    assert engine.record().previous_revision == f"{IMAGE}:1.0.0"


def test_same_image_again_is_an_idempotent_noop(engine) -> None:  # type: ignore[no-untyped-def]
    assert engine.deploy("1.0.0").returncode == 0
    rv = engine.deployment()["metadata"]["resourceVersion"]
    again = engine.deploy("1.0.0")
    assert again.returncode == 0, again.stderr
    assert "already deployed" in again.stderr
    assert engine.deployment()["metadata"]["resourceVersion"] == rv, "nothing was written"


def test_crashloop_fails_fast_and_rolls_back_to_the_previous_image(engine) -> None:  # type: ignore[no-untyped-def]
    assert engine.deploy("1.0.0").returncode == 0
    started = time.monotonic()
    result = engine.deploy("crashloop")
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert elapsed < 30, f"took {elapsed:.1f}s: not fail-fast"
    assert "CrashLoopBackOff" in result.stderr
    assert f"rolled back to {IMAGE}:1.0.0" in result.stderr
    record = engine.record()
    assert record.phase == "RolledBack"
    assert record.revision == f"{IMAGE}:crashloop"
    assert record.previous_revision == f"{IMAGE}:1.0.0"
    assert engine.live_image() == f"{IMAGE}:1.0.0"
    engine.wait_until(lambda: engine.serving_images() == {f"{IMAGE}:1.0.0"})


def test_image_pull_error_fails_fast_and_rolls_back(engine) -> None:  # type: ignore[no-untyped-def]
    assert engine.deploy("1.0.0").returncode == 0
    result = engine.deploy("pullerror")
    assert result.returncode == 1, result.stderr
    assert "ImagePullBackOff" in result.stderr or "ErrImagePull" in result.stderr
    assert engine.record().phase == "RolledBack"
    assert engine.live_image() == f"{IMAGE}:1.0.0"


def test_progress_deadline_exceeded_rolls_back(engine_factory: Callable[..., object]) -> None:
    engine = engine_factory(progress_deadline="2s")
    assert engine.deploy("1.0.0").returncode == 0  # type: ignore[attr-defined]
    result = engine.deploy("neverready")  # type: ignore[attr-defined]
    assert result.returncode == 1, result.stderr
    assert "progress deadline exceeded" in result.stderr
    assert engine.record().phase == "RolledBack"  # type: ignore[attr-defined]
    assert engine.live_image() == f"{IMAGE}:1.0.0"  # type: ignore[attr-defined]


def test_timeout_rolls_back(engine) -> None:  # type: ignore[no-untyped-def]
    assert engine.deploy("1.0.0").returncode == 0
    result = engine.deploy("neverready", "--timeout", "2s")
    assert result.returncode == 1, result.stderr
    assert "not complete after 2s" in result.stderr
    assert engine.record().phase == "RolledBack"


def test_failed_first_deploy_cannot_roll_back_and_exits_3(engine) -> None:  # type: ignore[no-untyped-def]
    result = engine.deploy("crashloop")
    assert result.returncode == 3, result.stderr
    assert "no previous revision" in result.stderr
    assert "delete deployment web-app" in result.stderr  # what a human must do
    assert engine.record().phase == "Failed"


def test_broken_previous_template_makes_the_rollback_fail_with_exit_3(engine) -> None:  # type: ignore[no-untyped-def]
    assert engine.deploy("1.0.0").returncode == 0
    # Someone changes the image by hand (kubectl set image) to one that crashes, and it stays.
    patch = {
        "spec": {
            "template": {"spec": {"containers": [{"name": "app", "image": f"{IMAGE}:crashloop"}]}}
        }
    }
    engine.client.request(
        "PATCH",
        DEPLOYMENT.path(NAMESPACE, "web-app"),
        body=patch,
        content_type="application/strategic-merge-patch+json",
    )
    result = engine.deploy("pullerror")
    assert result.returncode == 3, result.stderr
    assert "rollback to registry.example.com/acme/web-app:crashloop failed too" in result.stderr
    assert "a human must act" in result.stderr
    assert engine.record().phase == "Failed"


def test_no_rollback_leaves_the_failed_rollout_in_place(engine) -> None:  # type: ignore[no-untyped-def]
    assert engine.deploy("1.0.0").returncode == 0
    result = engine.deploy("crashloop", "--no-rollback")
    assert result.returncode == 1
    assert engine.record().phase == "Failed"
    assert engine.live_image() == f"{IMAGE}:crashloop"
    # The next deploy still knows the stable template from the record.
    fixed = engine.deploy("1.0.1")
    assert fixed.returncode == 0, fixed.stderr
    assert engine.record().previous_revision == f"{IMAGE}:1.0.0"


def test_bad_input_exits_2_before_touching_the_cluster(engine) -> None:  # type: ignore[no-untyped-def]
    bad_image = engine.run("deploy", "--env", "staging", "--image", "Not An Image")
    assert bad_image.returncode == 2
    assert "not a valid image reference" in bad_image.stderr
    unknown_env = engine.run("deploy", "--env", "stagin", "--image", f"{IMAGE}:1")
    assert unknown_env.returncode == 2
    assert "did you mean 'staging'" in unknown_env.stderr
    bad_timeout = engine.run(
        "deploy", "--env", "staging", "--image", f"{IMAGE}:1", "--timeout", "soon"
    )
    assert bad_timeout.returncode == 2
    assert "--timeout" in bad_timeout.stderr
    assert "Traceback" not in bad_image.stderr + unknown_env.stderr + bad_timeout.stderr
    namespaces = engine.client.get("/api/v1/namespaces")["items"]
    assert NAMESPACE not in {n["metadata"]["name"] for n in namespaces}, "nothing was created"


def test_state_annotation_survives_a_later_server_side_apply(engine) -> None:  # type: ignore[no-untyped-def]
    assert engine.deploy("1.0.0").returncode == 0
    assert engine.deploy("2.0.0").returncode == 0
    deployment = engine.deployment()
    assert "ci-deploy.dev/state" in deployment["metadata"]["annotations"]
    assert "ci-deploy.dev/state" not in (
        deployment["spec"]["template"]["metadata"].get("annotations") or {}
    )
    managers = {m["manager"] for m in deployment["metadata"].get("managedFields") or []}
    assert {"ci-deploy", "ci-deploy-state"} <= managers


def test_dry_run_prints_the_plan_and_changes_nothing(engine) -> None:  # type: ignore[no-untyped-def]
    assert engine.deploy("1.0.0").returncode == 0
    rv = engine.deployment()["metadata"]["resourceVersion"]
    result = engine.deploy("2.0.0", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "1. record stable revision: registry.example.com/acme/web-app:1.0.0" in result.stderr
    assert "the API server accepted all 3 objects; nothing was changed" in result.stderr
    assert engine.deployment()["metadata"]["resourceVersion"] == rv
    assert engine.live_image() == f"{IMAGE}:1.0.0"


def test_namespace_and_strategy_overrides(engine) -> None:  # type: ignore[no-untyped-def]
    result = engine.deploy("1.0.0", "--namespace", "web-app-preview")
    assert result.returncode == 0, result.stderr
    preview = engine.client.get(DEPLOYMENT.path("web-app-preview", "web-app"))
    assert preview["metadata"]["namespace"] == "web-app-preview"
    status = engine.run("status", "--env", "staging", "--namespace", "web-app-preview")
    assert "Succeeded" in status.stdout
    bad = engine.deploy("1.0.0", "--namespace", "Not_A_Label")
    assert bad.returncode == 2
    assert "--namespace" in bad.stderr
    unknown = engine.deploy("1.0.0", "--strategy", "shadow")
    assert unknown.returncode == 2
    assert "--strategy: expected one of rolling, blue_green, canary, found 'shadow'" in (
        unknown.stderr
    )


def test_plan_without_an_image_plans_a_redeploy_of_the_live_one(engine) -> None:  # type: ignore[no-untyped-def]
    empty = engine.run("plan", "--env", "staging")
    assert empty.returncode == 2
    assert "no image given, and none is live in namespace web-app-staging" in empty.stderr
    assert "Traceback" not in empty.stderr
    assert engine.deploy("1.0.0").returncode == 0
    again = engine.run("plan", "--env", "staging")
    assert again.returncode == 0, again.stderr
    assert f"  image: {IMAGE}:1.0.0" in again.stdout
    assert f"nothing to do: {IMAGE}:1.0.0 is already deployed and Succeeded" in again.stdout
