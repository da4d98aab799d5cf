"""Pruning through the app's ApplySet: what an earlier deploy applied and this one no longer
renders is deleted once the new version is healthy; never on failure, never with --no-prune,
never an object ci-deploy did not apply. The real kubectl sees the same set."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.commands.files_app import NAMESPACE, WEB, App, app_on_sandbox

from kube_sandbox.testing import running_sandbox

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{a: b}}\n"
CRONJOB = """\
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: report, image: "registry.example.com/acme/report:1"}]
"""
SERVICE = "apiVersion: v1\nkind: Service\nmetadata: {name: web-app}\n"
SERVICE += "spec: {selector: {app: web-app}, ports: [{port: 80}]}\n"
# The KEP's id of the parent Secret applyset-web-app in web-staging, computed independently.
EXPECTED_ID = (
    "applyset-"
    + base64.urlsafe_b64encode(
        hashlib.sha256(f"applyset-web-app.{NAMESPACE}.Secret.".encode()).digest()
    )
    .decode()
    .rstrip("=")
    + "-v1"
)


class PruneApp(App):
    def configmaps(self) -> set[str]:
        items = self.client.get(f"/api/v1/namespaces/{NAMESPACE}/configmaps")["items"]
        return {i["metadata"]["name"] for i in items}

    def parent(self) -> dict[str, str]:
        secret = self.client.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/applyset-web-app")
        assert secret["metadata"]["labels"]["applyset.kubernetes.io/id"] == EXPECTED_ID
        return dict(secret["metadata"]["annotations"])


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PruneApp]:
    with app_on_sandbox(tmp_path, monkeypatch, app=PruneApp) as made:
        assert isinstance(made, PruneApp)
        yield made


def test_what_is_no_longer_rendered_is_pruned_once_the_new_version_is_healthy(
    app: PruneApp,
) -> None:
    app.files(web=WEB, old=CONFIGMAP.format(name="old"), svc=SERVICE, cron=CRONJOB)
    first = app.deploy("1")
    assert first.returncode == 0, first.stderr
    assert "prune: nothing left over from earlier deploys" in first.stdout + first.stderr
    assert {"old"} <= app.configmaps()
    notes = app.parent()
    assert (
        notes["applyset.kubernetes.io/contains-group-kinds"]
        == "ConfigMap,CronJob.batch,Deployment.apps,Service"
    )
    assert notes["applyset.kubernetes.io/tooling"] == "ci-deploy/v1"

    app.files(web=WEB, new=CONFIGMAP.format(name="new"))  # old, the Service and CronJob go
    plan = app.run("plan", "--env", "staging", "--image", ":2")
    assert plan.returncode == 0, plan.stderr
    assert "prune 3 objects no longer rendered: ConfigMap web-staging/old, CronJob" in plan.stdout
    second = app.deploy("2")
    assert second.returncode == 0, second.stderr
    out = second.stdout + second.stderr
    assert "pruned ConfigMap web-staging/old (no longer rendered)" in out
    assert "pruned Service web-staging/web-app (no longer rendered)" in out
    assert "pruned CronJob web-staging/nightly (no longer rendered)" in out
    cronjob = f"/apis/batch/v1/namespaces/{NAMESPACE}/cronjobs/nightly"
    assert app.client.get_or_none(cronjob) is None
    assert "old" not in app.configmaps() and "new" in app.configmaps()
    assert app.client.get_or_none(f"/api/v1/namespaces/{NAMESPACE}/services/web-app") is None
    # After the prune the parent lists only the kinds it still has members of.
    assert app.parent()["applyset.kubernetes.io/contains-group-kinds"] == (
        "ConfigMap,Deployment.apps"
    )
    # kubectl sees the same set by its label.
    listed = subprocess.run(
        [os.environ.get("KUBECTL", "kubectl"), "--kubeconfig", str(app.sb.kubeconfig), "get",
         "configmaps,deployments", "-n", NAMESPACE, "-l",
         f"applyset.kubernetes.io/part-of={EXPECTED_ID}", "-o", "json"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    names = {(i["kind"], i["metadata"]["name"]) for i in json.loads(listed.stdout)["items"]}
    assert names == {("ConfigMap", "new"), ("Deployment", "web-app")}


def test_nothing_is_pruned_when_the_deploy_fails_or_with_no_prune(app: PruneApp) -> None:
    app.files(web=WEB, old=CONFIGMAP.format(name="old"))
    assert app.deploy("1").returncode == 0
    app.files(web=WEB)
    failed = app.deploy("crashloop")
    assert failed.returncode == 1, failed.stderr
    assert "old" in app.configmaps()  # rolled back: the old set stands
    kept = app.deploy("2", "--no-prune")
    assert kept.returncode == 0, kept.stderr
    assert "prune skipped (--no-prune)" in kept.stdout + kept.stderr
    assert "old" in app.configmaps()
    pruned = app.deploy("3")
    assert pruned.returncode == 0, pruned.stderr
    assert "old" not in app.configmaps()


def test_an_object_ci_deploy_did_not_apply_is_never_pruned(app: PruneApp) -> None:
    app.files(web=WEB)
    assert app.deploy("1").returncode == 0
    # Someone creates a ConfigMap by hand and gives it the set's label: not ci-deploy's.
    app.make_by_hand(EXPECTED_ID)
    done = app.deploy("2")
    assert done.returncode == 0, done.stderr
    assert "by-hand" in app.configmaps()


def test_a_prune_the_cluster_refuses_is_a_warning_and_the_next_deploy_prunes_it(
    app: PruneApp,
) -> None:
    app.files(web=WEB, old=CONFIGMAP.format(name="old"))
    assert app.deploy("1").returncode == 0
    app.files(web=WEB)
    # RBAC (or a webhook) refuses the delete: the healthy release stays, Succeeded, exit 0.
    app.sb.faults.set(refuse_path=f"/namespaces/{NAMESPACE}/configmaps/old", refuse_status=403)
    warned = app.deploy("2")
    out = warned.stdout + warned.stderr
    assert warned.returncode == 0, out
    assert "warning: pruning failed, nothing more was deleted:" in out
    assert (
        "admission webhook denied the request for /api/v1/namespaces/web-staging/configmaps/old"
        in out
    )
    assert "Succeeded:" in out
    assert "old" in app.configmaps()
    # Still a member of the set: the next deploy, allowed to delete it, prunes it.
    assert "ConfigMap" in app.parent()["applyset.kubernetes.io/contains-group-kinds"]
    app.sb.faults.reset()
    pruned = app.deploy("3")
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    assert "pruned ConfigMap web-staging/old (no longer rendered)" in pruned.stdout + pruned.stderr
    assert "old" not in app.configmaps()


def test_kubectl_writes_the_same_applyset_for_the_same_objects_and_leaves_ours_alone(
    app: PruneApp, tmp_path: Path
) -> None:
    kubectl = os.environ.get("KUBECTL", "kubectl")
    app.files(web=WEB, old=CONFIGMAP.format(name="old"), svc=SERVICE)
    assert app.deploy("1").returncode == 0
    rendered = app.run("render", "manifests", "--env", "staging", "--image", ":1")
    manifest = tmp_path / "rendered.yaml"
    manifest.write_text(rendered.stdout)
    env = {**os.environ, "KUBECTL_APPLYSET": "true"}
    apply = [kubectl, "apply", "-n", NAMESPACE, "--prune", "--applyset=secret/applyset-web-app",
             "--server-side", "-f", str(manifest)]  # fmt: skip
    # kubectl will not prune a set another tool manages (the KEP's tooling rule) ...
    ours = subprocess.run(
        [*apply[:1], "--kubeconfig", str(app.sb.kubeconfig), *apply[1:]],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert ours.returncode != 0
    assert 'is managed by tooling "ci-deploy" instead of "kubectl"' in ours.stderr
    # ... and on another cluster, applying the same objects itself, it writes the same set: the
    # same parent id, the same part-of label on the members, the same group kinds.
    with running_sandbox(tmp_path / "other", pod_ready_delay=0.05) as other:
        client = PruneApp(app.root, other).client
        client.request("POST", "/api/v1/namespaces", body={"metadata": {"name": NAMESPACE}})
        done = subprocess.run(
            [*apply[:1], "--kubeconfig", str(other.kubeconfig), *apply[1:]],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        theirs = client.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/applyset-web-app")
        assert theirs["metadata"]["labels"]["applyset.kubernetes.io/id"] == EXPECTED_ID
        kinds = theirs["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"]
        assert kinds == app.parent()["applyset.kubernetes.io/contains-group-kinds"]
        member = client.get(f"/api/v1/namespaces/{NAMESPACE}/configmaps/old")
        assert member["metadata"]["labels"]["applyset.kubernetes.io/part-of"] == EXPECTED_ID
