"""Pruning through the app's ApplySet: what an earlier deploy applied and this one no longer
renders is deleted once the new version is healthy; never on failure, never with --no-prune,
never an object ci-deploy did not apply. The real kubectl sees the same set."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ci_deploy.kube.client import KubeClient, connect
from kube_sandbox.testing import SandboxHandle, running_sandbox

REPOSITORY = "registry.example.com/acme/web-app"
NAMESPACE = "web-staging"
CONFIG = f"""\
app: web-app
image: {{repository: {REPOSITORY}}}
manifests:
  files: ["deploy/*.yaml"]
environments:
  staging: {{namespace: {NAMESPACE}, create_namespace: true}}
"""
DEPLOYMENT = f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web-app}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web-app}}}}
  template:
    metadata: {{labels: {{app: web-app}}}}
    spec:
      containers: [{{name: app, image: "{REPOSITORY}:1"}}]
"""
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{a: b}}\n"
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


class App:
    def __init__(self, root: Path, sb: SandboxHandle) -> None:
        self.root, self.sb = root, sb
        self.client: KubeClient = connect(str(sb.kubeconfig))

    def files(self, **files: str) -> None:
        folder = self.root / "deploy"
        for old in folder.glob("*.yaml"):
            old.unlink()
        for name, text in files.items():
            (folder / f"{name}.yaml").write_text(text)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CI_", "GITHUB_"))}
        env["KUBECONFIG"] = str(self.sb.kubeconfig)
        return subprocess.run(
            [sys.executable, "-m", "ci_deploy", *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def deploy(self, tag: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.run("deploy", "--env", "staging", "--image", f":{tag}", *extra)

    def configmaps(self) -> set[str]:
        items = self.client.get(f"/api/v1/namespaces/{NAMESPACE}/configmaps")["items"]
        return {i["metadata"]["name"] for i in items}

    def parent(self) -> dict[str, str]:
        secret = self.client.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/applyset-web-app")
        assert secret["metadata"]["labels"]["applyset.kubernetes.io/id"] == EXPECTED_ID
        return dict(secret["metadata"]["annotations"])


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    for name in ("GITHUB_WORKSPACE", "CI_PROJECT_DIR"):
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "repo"
    (root / "deploy").mkdir(parents=True)
    (root / "ci-deploy.yml").write_text(CONFIG)
    with running_sandbox(tmp_path / "sandbox", pod_ready_delay=0.05) as sb:
        yield App(root, sb)


def test_what_is_no_longer_rendered_is_pruned_once_the_new_version_is_healthy(app: App) -> None:
    app.files(web=DEPLOYMENT, old=CONFIGMAP.format(name="old"), svc=SERVICE)
    first = app.deploy("1")
    assert first.returncode == 0, first.stderr
    assert "prune: nothing left over from earlier deploys" in first.stdout + first.stderr
    assert {"old"} <= app.configmaps()
    notes = app.parent()
    assert (
        notes["applyset.kubernetes.io/contains-group-kinds"] == "ConfigMap,Deployment.apps,Service"
    )
    assert notes["applyset.kubernetes.io/tooling"] == "ci-deploy/v1"

    app.files(web=DEPLOYMENT, new=CONFIGMAP.format(name="new"))  # old and the Service go
    plan = app.run("plan", "--env", "staging", "--image", ":2")
    assert plan.returncode == 0, plan.stderr
    assert "prune 2 objects no longer rendered: ConfigMap web-staging/old, Service" in plan.stdout
    second = app.deploy("2")
    assert second.returncode == 0, second.stderr
    out = second.stdout + second.stderr
    assert "pruned ConfigMap web-staging/old (no longer rendered)" in out
    assert "pruned Service web-staging/web-app (no longer rendered)" in out
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


def test_nothing_is_pruned_when_the_deploy_fails_or_with_no_prune(app: App) -> None:
    app.files(web=DEPLOYMENT, old=CONFIGMAP.format(name="old"))
    assert app.deploy("1").returncode == 0
    app.files(web=DEPLOYMENT)
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


def test_an_object_ci_deploy_did_not_apply_is_never_pruned(app: App) -> None:
    app.files(web=DEPLOYMENT)
    assert app.deploy("1").returncode == 0
    # Someone creates a ConfigMap by hand and gives it the set's label: not ci-deploy's.
    app.client.request(
        "POST",
        f"/api/v1/namespaces/{NAMESPACE}/configmaps",
        body={
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "by-hand",
                "labels": {"applyset.kubernetes.io/part-of": EXPECTED_ID},
            },
        },
        query=[("fieldManager", "kubectl-create")],
    )
    done = app.deploy("2")
    assert done.returncode == 0, done.stderr
    assert "by-hand" in app.configmaps()
