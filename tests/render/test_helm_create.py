"""Charts as ``helm create`` makes them (the real Helm 3), one with a subchart dependency:
ci-deploy renders what ``helm template`` renders (its test Pod left out), sets the deployed
image, and deploys the chart's Deployment and its subchart's as one app to the sandbox."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.commands.files_app import App

from ci_deploy.config import load_config
from ci_deploy.render import render_objects
from kube_sandbox.testing import running_sandbox

REPOSITORY = "registry.example.com/acme/web-app"


def config(extra: str = "") -> str:
    """ci-deploy.yml of the chart; ``extra``: more ``set:`` values (``, a.b: c``)."""
    return f"""\
app: web-app
image: {{repository: {REPOSITORY}}}
manifests:
  helm:
    chart: charts/web-app
    set: {{image.repository: {REPOSITORY}{extra}}}
environments:
  staging: {{namespace: web-staging, create_namespace: true}}
"""


DEPENDENCY = """
dependencies:
  - name: worker
    version: 0.1.0
"""


def helm(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["helm", *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout


def make_repo(root: Path, *, subchart: bool, extra: str = "") -> Path:
    charts = root / "charts"
    charts.mkdir(parents=True)
    helm("create", "web-app", cwd=charts)
    if subchart:  # a second chart made by helm create, vendored under charts/ and declared
        helm("create", "worker", cwd=charts / "web-app" / "charts")
        chart_yaml = charts / "web-app" / "Chart.yaml"
        chart_yaml.write_text(chart_yaml.read_text() + DEPENDENCY)
    (root / "ci-deploy.yml").write_text(config(extra))
    return root


def helm_template(root: Path, *extra: str) -> list[dict[str, Any]]:
    text = helm(
        "template", "web-app", "charts/web-app", "--namespace", "web-staging",
        "--kube-version", "1.32", "--set-string", f"image.repository={REPOSITORY}", *extra,
        cwd=root,
    )  # fmt: skip
    return [d for d in yaml.safe_load_all(text) if d]


def key(obj: dict[str, Any]) -> tuple[str, str]:
    return str(obj["kind"]), str(obj["metadata"]["name"])


@pytest.fixture(autouse=True)
def no_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_WORKSPACE", "CI_PROJECT_DIR"):
        monkeypatch.delenv(name, raising=False)


def test_a_helm_create_chart_renders_as_helm_template_does_without_its_test_pod(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_repo(tmp_path, subchart=False)
    monkeypatch.chdir(root)
    ours = {
        key(i.obj): i.obj
        for i in render_objects(load_config(root / "ci-deploy.yml"), "staging", ":2")
    }
    theirs = {key(o): o for o in helm_template(root)}
    assert ("Pod", "web-app-test-connection") in theirs  # helm create's `helm test` Pod
    del theirs[("Pod", "web-app-test-connection")]
    assert set(ours) == set(theirs) == {
        ("ServiceAccount", "web-app"), ("Service", "web-app"), ("Deployment", "web-app")
    }  # fmt: skip
    for k, obj in theirs.items():
        mine = ours[k]
        if k[0] == "Deployment":  # the deployed image replaces the chart's tag (appVersion)
            container = obj["spec"]["template"]["spec"]["containers"][0]
            assert container["image"] == f"{REPOSITORY}:1.16.0"
            container["image"] = f"{REPOSITORY}:2"
        assert mine.get("spec") == obj.get("spec"), k
        # Helm's labels stay, but for who manages the object (ci-deploy applies it).
        labels = dict(obj["metadata"].get("labels") or {})
        labels["app.kubernetes.io/managed-by"] = "ci-deploy"
        assert mine["metadata"]["labels"] == labels, k


def test_a_chart_with_a_subchart_deploys_both_workloads_and_rolls_both_back(
    tmp_path: Path,
) -> None:
    root = make_repo(tmp_path / "repo", subchart=True)
    names = {key(o) for o in helm_template(root)}
    assert ("Deployment", "web-app-worker") in names  # the subchart's, named by its helpers
    with running_sandbox(tmp_path / "sandbox", pod_ready_delay=0.05) as sb:
        app = App(root, sb)
        done = app.run("deploy", "--env", "staging", "--image", ":1")
        out = done.stdout + done.stderr
        assert done.returncode == 0, out
        assert "rolled out: deployment/web-app-worker" in out
        # The subchart's worker gets an image that cannot start: both roll back together.
        (root / "ci-deploy.yml").write_text(config(", worker.image.tag: 1.16.0-crashloop"))
        failed = app.run("deploy", "--env", "staging", "--image", ":2")
        out = failed.stdout + failed.stderr
        assert failed.returncode == 1, out
        assert "deployment/web-app-worker: pod web-app-worker-" in out
        for name, image in (("web-app", f"{REPOSITORY}:1"), ("web-app-worker", "nginx:1.16.0")):
            live = app.get(f"deployments/{name}")
            assert live["spec"]["template"]["spec"]["containers"][0]["image"] == image


def test_a_release_named_otherwise_than_its_chart_is_deployed_through_manifests_primary(
    tmp_path: Path,
) -> None:
    root = make_repo(tmp_path / "repo", subchart=False)
    text = (
        config()
        .replace("app: web-app", "app: shop")
        .replace("    chart: charts/web-app\n", "    chart: charts/web-app\n    release: shop\n")
    )
    (root / "ci-deploy.yml").write_text(text)
    with running_sandbox(tmp_path / "sandbox", pod_ready_delay=0.05) as sb:
        app = App(root, sb)
        refused = app.run("deploy", "--env", "staging", "--image", ":1")
        assert refused.returncode == 2  # helm's fullname: <release>-<chart>
        assert "(it gives: shop-web-app; set manifests.primary to one)" in refused.stderr
        (root / "ci-deploy.yml").write_text(
            text.replace("  helm:", "  primary: shop-web-app\n  helm:")
        )
        done = app.run("deploy", "--env", "staging", "--image", ":1")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Succeeded: registry.example.com/acme/web-app:1 in staging" in done.stderr
        live = app.get("deployments/shop-web-app")
        assert live["spec"]["template"]["spec"]["containers"][0]["image"] == f"{REPOSITORY}:1"
