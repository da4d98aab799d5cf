"""What ``deploy`` says is what the cluster holds: images, partial applies, phases, exit codes.

Each test runs the real CLI in a subprocess against the sandbox and compares what it printed,
its outputs and its exit code with the cluster read back over HTTP afterwards.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ci_deploy.kube.client import DEPLOYMENT, KubeClient
from ci_deploy.kube.state import STATE_ANNOTATION

IMAGE = "registry.example.com/acme/web-app"
NAMESPACE = "web-app-staging"

DEPLOYMENT_TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-app
spec:
  replicas: 2
  selector:
    matchLabels: {app.kubernetes.io/name: web-app, app.kubernetes.io/instance: web-app-staging}
  template:
    metadata:
      labels: {app.kubernetes.io/name: web-app, app.kubernetes.io/instance: web-app-staging}
    spec:
      containers:
        - name: app
          image: %s
"""


def with_templates(engine: Any, files: dict[str, str], **image: str) -> Path:
    """Point the engine's configuration at a template folder holding ``files``."""
    folder = engine.tmp / "templates"
    folder.mkdir(exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    for name, text in files.items():
        (folder / name).write_text(text)
    cfg = engine.config.read_text()
    if "templates: templates" not in cfg:
        cfg = cfg.replace("manifests:\n", "manifests:\n  templates: templates\n", 1)
    for key, value in image.items():
        cfg = cfg.replace(
            "  repository: registry.example.com/acme/web-app\n",
            f"  repository: registry.example.com/acme/web-app\n  {key}: {value}\n",
            1,
        )
    engine.config.write_text(cfg)
    return folder


def app_objects(client: KubeClient, namespace: str = NAMESPACE) -> dict[str, Any]:
    """Kind/name → (resourceVersion, content) of the app's objects and the namespace's Leases."""
    found: dict[str, Any] = {}
    for kind, path in (
        ("Deployment", f"/apis/apps/v1/namespaces/{namespace}/deployments"),
        ("Service", f"/api/v1/namespaces/{namespace}/services"),
        ("ConfigMap", f"/api/v1/namespaces/{namespace}/configmaps"),
        ("Lease", f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"),
    ):
        for item in client.get(path).get("items") or []:
            meta = item["metadata"]
            found[f"{kind}/{meta['name']}"] = (meta["resourceVersion"], item.get("data"))
    return found


def namespaces(client: KubeClient) -> set[str]:
    return {n["metadata"]["name"] for n in client.get("/api/v1/namespaces")["items"]}


def test_a_template_that_hard_codes_another_image_is_refused_before_anything_changes(
    engine: Any,
) -> None:
    other = "registry.example.com/acme/other"
    with_templates(engine, {"app.yaml": DEPLOYMENT_TEMPLATE % f"{other}:1.0.0"})
    before = namespaces(engine.client)
    result = engine.deploy("2.0.0")
    assert result.returncode == 2, result.stderr
    assert (
        f"no container of Deployment web-app runs the image being deployed ({IMAGE}:2.0.0); "
        f"containers: app ({other}:1.0.0)"
    ) in result.stderr
    assert "set image.container" in result.stderr
    assert "templates/app.yaml" in result.stderr
    assert namespaces(engine.client) == before, "not even the namespace was created"
    assert engine.deployment() is None
    validate = engine.run("render", "manifests", "--env", "staging", "--image", ":2.0.0")
    assert validate.returncode == 2, "render tells the same story"


def test_a_template_that_hard_codes_the_apps_repository_runs_the_deployed_image(
    engine: Any,
) -> None:
    """The deployed image replaces every image of image.repository, in any source."""
    with_templates(engine, {"app.yaml": DEPLOYMENT_TEMPLATE % f"{IMAGE}:1.0.0"})
    result = engine.deploy("2.0.0")
    assert result.returncode == 0, result.stderr
    assert f"image set in templates/app.yaml: Deployment/web-app container app: {IMAGE}:1.0.0" in (
        result.stdout + result.stderr
    )
    assert engine.live_image() == f"{IMAGE}:2.0.0"


def test_image_container_says_which_container_runs_the_deployed_image(engine: Any) -> None:
    with_templates(engine, {"app.yaml": DEPLOYMENT_TEMPLATE % f"{IMAGE}:1.0.0"}, container="app")
    result = engine.deploy("2.0.0")
    assert result.returncode == 0, result.stderr
    assert f"Succeeded: {IMAGE}:2.0.0 in staging" in result.stderr
    assert engine.live_image() == f"{IMAGE}:2.0.0"
    engine.wait_until(lambda: engine.serving_images() == {f"{IMAGE}:2.0.0"})
    assert result.outputs["revision"] == f"{IMAGE}:2.0.0"


def test_an_image_changed_by_someone_else_during_the_rollout_is_not_reported_as_deployed(
    engine_factory: Any,
) -> None:
    engine = engine_factory(pod_ready_delay=0.3)  # ":slow" is Ready after 3 s
    assert engine.deploy("1.0.0").returncode == 0
    proc = engine.start("deploy", "--env", "staging", "--image", f"{IMAGE}:slow")
    engine.wait_until(
        lambda: (r := engine.record()) is not None and "wait-rollout" in r.step, seconds=30
    )
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": f"{IMAGE}:2.1"}]}}}
    }
    engine.client.request(
        "PATCH",
        DEPLOYMENT.path(NAMESPACE, "web-app"),
        query=[("fieldManager", "intruder")],
        body=patch,
        content_type="application/strategic-merge-patch+json",
    )
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert (
        f"deployment/web-app container app is set to {IMAGE}:2.1, not {IMAGE}:slow "
        "(its image is owned by field manager intruder)"
    ) in err
    assert f"rolled back to {IMAGE}:1.0.0" in err
    assert "Succeeded:" not in err, "never reported as deployed"
    assert engine.record().phase == "RolledBack"
    assert engine.live_image() == f"{IMAGE}:1.0.0"
    engine.wait_until(lambda: engine.serving_images() == {f"{IMAGE}:1.0.0"})


APP_WITH_CONFIG = {
    "app.yaml.j2": '{% include "builtin/deployment.yaml.j2" %}\n---\n'
    '{% include "builtin/service.yaml.j2" %}\n',
    "settings.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n"
    "data:\n  version: '{{ image }}'\n",
}


def test_an_object_refused_in_the_dry_run_changes_nothing_exit_4(engine: Any) -> None:
    with_templates(engine, APP_WITH_CONFIG)
    assert engine.deploy("1.0.0").returncode == 0
    before = app_objects(engine.client)
    engine.sb.faults.set(refuse_path="/configmaps/settings", refuse_dry_run=True)
    result = engine.deploy("2.0.0")
    engine.sb.faults.reset()
    assert result.returncode == 4, result.stderr
    assert "the API server refused in a dry run" in result.stderr
    assert (
        "ConfigMap web-app-staging/settings (403 Forbidden: admission webhook denied"
        in result.stderr
    )
    assert "nothing was changed" in result.stderr
    after = app_objects(engine.client)
    lease = "Lease/ci-deploy-web-app"
    assert {k: v for k, v in after.items() if k != lease and k != "Deployment/web-app"} == {
        k: v for k, v in before.items() if k != lease and k != "Deployment/web-app"
    }
    assert engine.live_image() == f"{IMAGE}:1.0.0"
    record = engine.record()
    assert record.phase == "Aborted", "never Progressing once the process has ended"
    assert record.revision == f"{IMAGE}:2.0.0"
    assert result.outputs["phase"] == "Aborted"


def test_a_first_deploy_refused_halfway_removes_what_it_created_exit_1(engine: Any) -> None:
    with_templates(engine, APP_WITH_CONFIG)
    engine.sb.faults.set(refuse_path="/configmaps/settings")  # the dry run passes, the apply not
    result = engine.deploy("1.0.0")
    engine.sb.faults.reset()
    assert result.returncode == 1, result.stderr
    assert "applying failed: created: Service web-app-staging/web-app, Deployment " in result.stderr
    assert "refused: ConfigMap web-app-staging/settings (403 Forbidden" in result.stderr
    assert "removed what this first deploy created" in result.stderr
    assert "nothing was deployed" not in result.stderr
    left = {k for k in app_objects(engine.client) if not k.startswith("Lease/")}
    assert left == set(), f"the first deploy left {left}"
    status = engine.run("status", "--env", "staging")
    assert status.returncode == 0
    assert "none: no Deployment web-app in namespace web-app-staging" in status.stdout
    assert "last attempt  none recorded" in status.stdout, "true: nothing of the app is left"
    assert result.outputs["phase"] == "RolledBack"


def test_an_upgrade_refused_halfway_restores_every_object_it_changed_exit_1(engine: Any) -> None:
    with_templates(engine, APP_WITH_CONFIG)
    assert engine.deploy("1.0.0").returncode == 0
    with_templates(
        engine,
        {
            **APP_WITH_CONFIG,
            "extra.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n"
            "data:\n  new: 'yes'\n",
        },
    )
    engine.sb.faults.set(refuse_path="/configmaps/extra")
    result = engine.deploy("2.0.0")
    engine.sb.faults.reset()
    assert result.returncode == 1, result.stderr
    assert "changed: ConfigMap web-app-staging/settings, Deployment web-app-staging/web-app" in (
        result.stderr
    )
    assert f"rolled back to {IMAGE}:1.0.0" in result.stderr
    settings = engine.client.get(f"/api/v1/namespaces/{NAMESPACE}/configmaps/settings")
    assert settings["data"] == {"version": f"{IMAGE}:1.0.0"}, "the ConfigMap is as before"
    assert engine.client.get_or_none(f"/api/v1/namespaces/{NAMESPACE}/configmaps/extra") is None
    assert engine.live_image() == f"{IMAGE}:1.0.0"
    engine.wait_until(lambda: engine.serving_images() == {f"{IMAGE}:1.0.0"})
    assert engine.record().phase == "RolledBack"
    assert result.outputs["phase"] == "RolledBack"


def test_a_lost_final_record_write_still_reports_the_success_and_the_next_run_reconciles(
    engine_factory: Any,
) -> None:
    engine = engine_factory(pod_ready_delay=0.3)
    assert engine.deploy("1.0.0").returncode == 0
    proc = engine.start("deploy", "--env", "staging", "--image", f"{IMAGE}:slow")
    engine.wait_until(
        lambda: (r := engine.record()) is not None and "wait-rollout" in r.step, seconds=30
    )
    # From now on every write of the state record is refused: the release itself is fine.
    engine.sb.faults.set(refuse_path="fieldManager=ci-deploy-state", refuse_status=403)
    _, err = proc.communicate(timeout=60)
    engine.sb.faults.reset()
    assert proc.returncode == 0, err
    assert f"Succeeded: {IMAGE}:slow in staging" in err
    assert "the state record could not be written" in err
    engine.wait_until(lambda: engine.serving_images() == {f"{IMAGE}:slow"})
    assert engine.record().phase == "Progressing", "the cluster record is the stale one"
    # The next run reads the truth from the cluster: slow is the stable revision now.
    broken = engine.deploy("crashloop")
    assert broken.returncode == 1, broken.stderr
    assert "reconciled from the cluster" in broken.stderr
    assert f"stable now: {IMAGE}:slow" in broken.stderr
    assert engine.live_image() == f"{IMAGE}:slow"


def test_a_record_left_progressing_by_a_killed_run_is_reconciled(engine: Any) -> None:
    assert engine.deploy("1.0.0").returncode == 0
    deployment = engine.deployment()
    record = json.loads(deployment["metadata"]["annotations"][STATE_ANNOTATION])
    record.update(phase="Progressing", step="3/5 wait-rollout", finishedAt=None)
    engine.client.request(
        "PATCH",
        DEPLOYMENT.path(NAMESPACE, "web-app"),
        body={"metadata": {"annotations": {STATE_ANNOTATION: json.dumps(record)}}},
        content_type="application/merge-patch+json",
    )
    plan = engine.run("plan", "--env", "staging", "--image", f"{IMAGE}:2.0.0")
    assert f"stable now: {IMAGE}:1.0.0" in plan.stdout
    again = engine.deploy("1.0.0")
    assert again.returncode == 0, again.stderr
    assert "reconciled from the cluster" in again.stderr
    assert engine.record().phase == "Succeeded"


def test_the_plan_is_printed_once(engine: Any) -> None:
    result = engine.deploy("1.0.0")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("record stable revision") == 1
    assert result.stderr.count("apply 3 objects") == 1
    assert "step 2/6: apply" in result.stderr
    assert "applied: created: Service web-app-staging/web-app" in result.stderr


def test_deploy_without_an_image_redeploys_the_live_one_with_the_new_configuration(
    engine: Any,
) -> None:
    assert engine.deploy("1.0.0").returncode == 0
    engine.config.write_text(
        engine.config.read_text().replace("    replicas: 2\n", "    replicas: 3\n", 1)
    )
    result = engine.run("deploy", "--env", "staging")
    assert result.returncode == 0, result.stderr
    deployment = engine.deployment()
    assert deployment["spec"]["replicas"] == 3
    assert engine.live_image() == f"{IMAGE}:1.0.0"


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("1.4.0", "--image '1.4.0' is only a tag, not an image reference"),
        ("v2", "--image 'v2' is only a tag"),
    ],
)
def test_a_bare_tag_is_refused_with_the_spelling_meant(
    engine: Any, image: str, message: str
) -> None:
    before = namespaces(engine.client)
    result = engine.run("deploy", "--env", "staging", "--image", image)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert f"pass --image :{image}" in result.stderr
    assert namespaces(engine.client) == before


def test_floating_images_are_refused_where_protected_and_warned_about_elsewhere(
    engine: Any,
) -> None:
    protected = engine.run(
        "deploy", "--env", "production", "--strategy", "rolling", "--image", ":latest"
    )
    assert protected.returncode == 2, protected.stderr
    assert "environment production is protected" in protected.stderr
    untagged = engine.run(
        "deploy", "--env", "production", "--strategy", "rolling", "--image", IMAGE
    )
    assert untagged.returncode == 2
    assert "has no tag" in untagged.stderr
    staging = engine.deploy("latest")
    assert staging.returncode == 0, staging.stderr
    assert f"warning: {IMAGE}:latest is ':latest'" in staging.stderr


def test_a_missing_namespace_is_created_only_when_the_configuration_says_so(
    engine: Any,
) -> None:
    engine.config.write_text(engine.config.read_text().replace("    create_namespace: true\n", ""))
    before = namespaces(engine.client)
    result = engine.deploy("1.0.0")
    assert result.returncode == 2, result.stderr
    assert "namespace web-app-staging does not exist in the cluster" in result.stderr
    assert "create_namespace: true" in result.stderr
    assert namespaces(engine.client) == before
    engine.client.request("POST", "/api/v1/namespaces", body={"metadata": {"name": NAMESPACE}})
    assert engine.deploy("1.0.0").returncode == 0
