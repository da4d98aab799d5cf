"""A Kustomize base with an overlay per environment (``manifests.kustomize``), built with the real
kubectl (its built-in kustomize), through the same checks and image substitution as templates."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.render.sandbox_run import ci_deploy_on_sandbox

from ci_deploy.config import load_config
from ci_deploy.errors import ConfigError, NothingChanged
from ci_deploy.render import render_objects

REPOSITORY = "registry.example.com/acme/web-app"
CONFIG = f"""\
app: web-app
image: {{repository: {REPOSITORY}}}
manifests:
  kustomize: deploy/overlays/{{environment}}
environments:
  staging: {{namespace: web-staging, create_namespace: true}}
  production: {{namespace: web-prod, create_namespace: true}}
"""
BASE = {
    "kustomization.yaml": "resources: [deployment.yaml, service.yaml]\n"
    "labels:\n  - pairs: {team: shop}\n",
    "deployment.yaml": f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web-app}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web-app}}}}
  template:
    metadata: {{labels: {{app: web-app}}}}
    spec:
      containers:
        - {{name: app, image: "{REPOSITORY}:base"}}
""",
    "service.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: web-app}\n"
    "spec: {selector: {app: web-app}, ports: [{port: 80}]}\n",
}
STAGING = {
    "kustomization.yaml": """\
resources: [../../base]
images:
  - {name: registry.example.com/acme/web-app, newTag: overlay}
patches:
  - target: {kind: Deployment, name: web-app}
    patch: |-
      - {op: replace, path: /spec/replicas, value: 3}
configMapGenerator:
  - {name: settings, literals: [LOG_LEVEL=debug]}
""",
}


def write(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("GITHUB_WORKSPACE", "CI_PROJECT_DIR"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "ci-deploy.yml").write_text(CONFIG)
    write(tmp_path / "deploy" / "base", BASE)
    write(tmp_path / "deploy" / "overlays" / "staging", STAGING)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_overlay_of_the_environment_is_built_and_the_image_set(repo: Path) -> None:
    assert shutil.which("kubectl") or shutil.which("kustomize")
    cfg = load_config(repo / "ci-deploy.yml")
    items = render_objects(cfg, "staging", ":1.5.0")
    by_kind = {item.kind: item for item in items}
    assert sorted(by_kind) == ["ConfigMap", "Deployment", "Service"]
    deployment = by_kind["Deployment"].obj
    assert deployment["spec"]["replicas"] == 3  # the overlay's patch
    assert deployment["metadata"]["labels"]["team"] == "shop"  # the base's labels
    # The overlay's `images:` said :overlay; the deployed image wins.
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"{REPOSITORY}:1.5.0"
    assert [s.before for s in by_kind["Deployment"].substitutions] == [f"{REPOSITORY}:overlay"]
    assert by_kind["ConfigMap"].name.startswith("settings-")  # the generator's hashed name
    assert all(item.obj["metadata"]["namespace"] == "web-staging" for item in items)


def test_a_missing_overlay_and_a_failing_build_are_located(repo: Path) -> None:
    cfg = load_config(repo / "ci-deploy.yml")
    with pytest.raises(ConfigError) as caught:
        render_objects(cfg, "production", ":1.5.0")
    assert (
        "manifests.kustomize: deploy/overlays/production is not a folder" in caught.value.render()
    )
    (repo / "deploy" / "overlays" / "staging" / "kustomization.yaml").write_text(
        "resources: [../../base, missing.yaml]\n"
    )
    with pytest.raises(ConfigError) as caught:
        render_objects(cfg, "staging", ":1.5.0")
    text = caught.value.render()
    assert "manifests.kustomize:" in text and "kustomize" in text and "missing.yaml" in text


def test_a_kustomization_may_not_read_files_outside_its_folder(
    repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    secret = tmp_path_factory.mktemp("outside") / "env"
    secret.write_text("TOKEN=from-outside\n")
    (repo / "deploy" / "overlays" / "staging" / "kustomization.yaml").write_text(
        f"resources: [../../base]\nconfigMapGenerator:\n  - {{name: leak, envs: [{secret}]}}\n"
    )
    cfg = load_config(repo / "ci-deploy.yml")
    with pytest.raises(ConfigError) as caught:
        render_objects(cfg, "staging", ":1.5.0")
    assert "from-outside" not in caught.value.render()
    assert f"security; file '{secret}' is not in or below" in caught.value.render()


def test_neither_kustomize_nor_kubectl_is_exit_4(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(repo))  # nothing there
    cfg = load_config(repo / "ci-deploy.yml")
    with pytest.raises(NothingChanged, match="needs kustomize or kubectl"):
        render_objects(cfg, "staging", ":1.5.0")


def test_deploy_from_the_overlay(repo: Path, tmp_path: Path) -> None:
    with ci_deploy_on_sandbox(
        repo, tmp_path, "deploy", "--env", "staging", "--image", ":2.0.0"
    ) as (done, sb):
        assert done.returncode == 0, done.stderr
        items, _ = sb.store.list("apps/deployments", "web-staging")
        assert items[0]["spec"]["replicas"] == 3
        assert items[0]["spec"]["template"]["spec"]["containers"][0]["image"] == (
            f"{REPOSITORY}:2.0.0"
        )
