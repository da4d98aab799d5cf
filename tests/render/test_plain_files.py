"""Plain manifests (``manifests.files``): the repository's YAML as it is, the deployed image set
on every container of the configured repository, the same checks as templates."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.render.sandbox_run import ci_deploy_on_sandbox

from ci_deploy.config import load_config
from ci_deploy.errors import ConfigError
from ci_deploy.render import render_objects
from ci_deploy.render.images import repository_of

REPOSITORY = "registry.example.com/acme/web-app"
CONFIG = f"""\
app: web-app
image: {{repository: {REPOSITORY}}}
manifests:
  files: ["deploy/*.yaml", "deploy/{{environment}}/*.yaml"]
environments:
  staging: {{namespace: web-staging, create_namespace: true}}
"""
WORKLOAD = f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-app
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web-app}}}}
  template:
    metadata: {{labels: {{app: web-app}}}}
    spec:
      initContainers:
        - {{name: migrate, image: "{REPOSITORY}:1.0.0", command: [./migrate]}}
      containers:
        - {{name: app, image: "{REPOSITORY}:1.0.0"}}
        - {{name: proxy, image: "registry.example.com/acme/envoy:1.30"}}
---
apiVersion: v1
kind: Service
metadata:
  name: web-app
spec:
  selector: {{app: web-app}}
  ports: [{{port: 80, targetPort: 8080}}]
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("GITHUB_WORKSPACE", "CI_PROJECT_DIR"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "deploy" / "staging").mkdir(parents=True)
    (tmp_path / "ci-deploy.yml").write_text(CONFIG)
    (tmp_path / "deploy" / "web.yaml").write_text(WORKLOAD)
    (tmp_path / "deploy" / "staging" / "settings.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {LOG_LEVEL: info}\n"
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_repository_of_image_references() -> None:
    assert repository_of("reg:5000/team/app:1.2@sha256:" + "a" * 64) == "reg:5000/team/app"
    assert repository_of("reg:5000/team/app") == "reg:5000/team/app"
    assert repository_of("app:latest") == "app"


def test_the_files_are_read_as_they_are_and_the_image_is_set_where_it_belongs(repo: Path) -> None:
    cfg = load_config(repo / "ci-deploy.yml")
    items = render_objects(cfg, "staging", ":1.5.0")
    by_kind = {item.kind: item for item in items}
    assert sorted(by_kind) == ["ConfigMap", "Deployment", "Service"]
    spec = by_kind["Deployment"].obj["spec"]["template"]["spec"]
    assert spec["initContainers"][0]["image"] == f"{REPOSITORY}:1.5.0"
    assert [c["image"] for c in spec["containers"]] == [
        f"{REPOSITORY}:1.5.0",
        "registry.example.com/acme/envoy:1.30",  # another repository: left alone
    ]
    assert [s.describe() for s in by_kind["Deployment"].substitutions] == [
        f"deploy/web.yaml: Deployment/web-app container migrate: {REPOSITORY}:1.0.0 ->"
        f" {REPOSITORY}:1.5.0",
        f"deploy/web.yaml: Deployment/web-app container app: {REPOSITORY}:1.0.0 ->"
        f" {REPOSITORY}:1.5.0",
    ]
    assert all(item.obj["metadata"]["namespace"] == "web-staging" for item in items)
    assert by_kind["ConfigMap"].template == "deploy/staging/settings.yaml"


def test_a_glob_that_matches_nothing_and_a_link_out_of_the_repository_are_refused(
    repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside") / "secret.yaml"
    outside.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: leak}\n")
    (repo / "deploy" / "leak.yaml").symlink_to(outside)
    (repo / "deploy" / "staging" / "settings.yaml").unlink()
    cfg = load_config(repo / "ci-deploy.yml")
    with pytest.raises(ConfigError) as caught:
        render_objects(cfg, "staging", ":1.5.0")
    text = caught.value.render()
    assert "manifests.files[0]: refused to read 'deploy/leak.yaml': it resolves to" in text
    assert "outside the repository" in text
    assert "manifests.files[1]: 'deploy/staging/*.yaml' matches no file" in text


def test_problems_name_the_file_and_its_own_line(repo: Path) -> None:
    (repo / "deploy" / "web.yaml").write_text(WORKLOAD.replace("replicas: 2", "replicas: two"))
    (repo / "deploy" / "staging" / "settings.yaml").write_text("data: [unclosed\n")
    cfg = load_config(repo / "ci-deploy.yml")
    with pytest.raises(ConfigError) as caught:
        render_objects(cfg, "staging", ":1.5.0")
    text = caught.value.render()
    assert "error: deploy/staging/settings.yaml:2" in text  # the file's line, not "rendered"
    assert "(rendered" not in text


def test_deploy_with_plain_files_rolls_out_the_image(repo: Path, tmp_path: Path) -> None:
    deploy = ("deploy", "--env", "staging", "--image", ":2.0.0")
    with ci_deploy_on_sandbox(repo, tmp_path, *deploy) as (done, sb):
        assert done.returncode == 0, done.stderr
        items, _ = sb.store.list("apps/deployments", "web-staging")
        spec = items[0]["spec"]["template"]["spec"]
        assert spec["containers"][0]["image"] == f"{REPOSITORY}:2.0.0"
        assert spec["initContainers"][0]["image"] == f"{REPOSITORY}:2.0.0"
        configmaps, _ = sb.store.list("/configmaps", "web-staging")
        assert "settings" in {c["metadata"]["name"] for c in configmaps}


def test_plan_shows_where_the_image_is_set(repo: Path, tmp_path: Path) -> None:
    plan = ("plan", "--env", "staging", "--image", ":2.0.0")
    with ci_deploy_on_sandbox(repo, tmp_path, *plan) as (done, _sandbox):
        pass  # the plan asks the cluster; nothing to read back
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    assert (
        f"  image set in deploy/web.yaml: Deployment/web-app container migrate:"
        f" {REPOSITORY}:1.0.0 -> {REPOSITORY}:2.0.0"
    ) in out
    assert "container proxy" not in out
