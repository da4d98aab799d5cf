"""An environment's own manifest source (``environments.<env>.manifests``) replaces the app's."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci_deploy.config import load_config, load_config_text
from ci_deploy.errors import ConfigError
from ci_deploy.render import render_objects

REPOSITORY = "registry.example.com/acme/web-app"
CONFIG = f"""\
app: web-app
image: {{repository: {REPOSITORY}}}
environments:
  development: {{namespace: web-dev}}            # the built-in templates
  staging:
    namespace: web-staging
    manifests: {{files: ["deploy/staging.yaml"]}}
"""
STAGING = f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web-app}}
spec:
  replicas: 4
  selector: {{matchLabels: {{app: web-app}}}}
  template:
    metadata: {{labels: {{app: web-app}}}}
    spec:
      containers: [{{name: app, image: "{REPOSITORY}:old"}}]
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("GITHUB_WORKSPACE", "CI_PROJECT_DIR"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "ci-deploy.yml").write_text(CONFIG)
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "staging.yaml").write_text(STAGING)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_each_environment_renders_from_its_own_source(repo: Path) -> None:
    cfg = load_config(repo / "ci-deploy.yml")
    development = {i.kind for i in render_objects(cfg, "development", ":1.0.0")}
    assert development == {"Deployment", "Service"}  # the built-in templates
    staging = render_objects(cfg, "staging", ":1.0.0")
    assert [(i.kind, i.template) for i in staging] == [("Deployment", "deploy/staging.yaml")]
    assert staging[0].obj["spec"]["replicas"] == 4
    assert staging[0].obj["spec"]["template"]["spec"]["containers"][0]["image"] == (
        f"{REPOSITORY}:1.0.0"
    )


def test_an_environments_source_is_checked_at_its_key() -> None:
    text = CONFIG.replace(
        'manifests: {files: ["deploy/staging.yaml"]}',
        'manifests: {files: ["../outside.yaml"], kustomize: overlays/staging}',
    )
    with pytest.raises(ConfigError) as caught:
        load_config_text(text)
    rendered = caught.value.render()
    assert "environments.staging.manifests.kustomize: expected one of templates, files," in rendered
    assert "environments.staging.manifests.files[0]: expected a path inside the repository" in (
        rendered
    )
