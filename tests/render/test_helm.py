"""A Helm chart of the repository (``manifests.helm``), rendered by the real Helm 3 (installed by
scripts/setup.d/22-helm.sh), through the same checks and image substitution as templates."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.render.sandbox_run import ci_deploy_on_sandbox

from ci_deploy.config import load_config
from ci_deploy.errors import ConfigError, NothingChanged
from ci_deploy.render import render_objects

REPOSITORY = "registry.example.com/acme/web-app"
CONFIG = """\
app: web-app
image: {repository: registry.example.com/acme/web-app}
manifests:
  helm:
    chart: charts/web-app
    values: [charts/web-app/values.yaml, "deploy/values-{environment}.yaml"]
    set: {podLabels.environment: "{environment}", podLabels.tier: "1"}
environments:
  staging: {namespace: web-staging, create_namespace: true}
  production: {namespace: web-prod, create_namespace: true}
"""
CHART = {
    "Chart.yaml": "apiVersion: v2\nname: web-app\nversion: 0.1.0\nappVersion: '1.0.0'\n",
    "values.yaml": f"replicaCount: 1\nimage: {{repository: {REPOSITORY}, tag: chart}}\n"
    "podLabels: {}\n",
    "templates/_helpers.tpl": """\
{{- define "web-app.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}
""",
    "templates/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  namespace: {{ .Release.Namespace }}
  labels: {{- include "web-app.labels" . | nindent 4 }}
  annotations:
    example.com/kube-version: {{ .Capabilities.KubeVersion.Version | quote }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels: {app.kubernetes.io/instance: {{ .Release.Name }}}
  template:
    metadata:
      labels:
        app.kubernetes.io/instance: {{ .Release.Name }}
        {{- with .Values.podLabels }}{{ toYaml . | nindent 8 }}{{ end }}
    spec:
      containers:
        - name: app
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
""",
    "templates/service.yaml": """\
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
  labels: {{- include "web-app.labels" . | nindent 4 }}
spec:
  selector: {app.kubernetes.io/instance: {{ .Release.Name }}}
  ports: [{port: 80, targetPort: 8080}]
""",
}


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("GITHUB_WORKSPACE", "CI_PROJECT_DIR"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "ci-deploy.yml").write_text(CONFIG)
    for name, text in CHART.items():
        path = tmp_path / "charts" / "web-app" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "values-staging.yaml").write_text("replicaCount: 3\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_chart_is_rendered_for_the_environment_with_its_values(repo: Path) -> None:
    cfg = load_config(repo / "ci-deploy.yml")
    items = render_objects(cfg, "staging", ":1.5.0")
    by_kind = {item.kind: item for item in items}
    assert sorted(by_kind) == ["Deployment", "Service"]
    deployment = by_kind["Deployment"].obj
    assert deployment["metadata"]["name"] == "web-app"  # the release is the app by default
    assert deployment["metadata"]["namespace"] == "web-staging"
    assert deployment["spec"]["replicas"] == 3  # values-staging.yaml after values.yaml
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["labels"]["environment"] == "staging"  # set:, {environment}
    assert pod["metadata"]["labels"]["tier"] == "1"  # set as a string
    assert pod["spec"]["containers"][0]["image"] == f"{REPOSITORY}:1.5.0"
    assert [s.before for s in by_kind["Deployment"].substitutions] == [f"{REPOSITORY}:chart"]
    # Helm says it manages them; ci-deploy applies them, so it does.
    assert deployment["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "ci-deploy"
    # Rendered for the Kubernetes version the objects are validated against.
    assert deployment["metadata"]["annotations"]["example.com/kube-version"] == "v1.32"


def test_bad_charts_and_values_are_located(repo: Path) -> None:
    cfg = load_config(repo / "ci-deploy.yml")
    with pytest.raises(ConfigError) as caught:
        render_objects(cfg, "production", ":1.5.0")  # deploy/values-production.yaml is missing
    assert "manifests.helm.values[1]: deploy/values-production.yaml does not exist" in (
        caught.value.render()
    )
    template = repo / "charts" / "web-app" / "templates" / "service.yaml"
    template.write_text(template.read_text() + "{{ .Values.nope.deeper }}\n")
    with pytest.raises(ConfigError) as caught:
        render_objects(cfg, "staging", ":1.5.0")
    text = caught.value.render()
    assert "manifests.helm: helm template charts/web-app failed:" in text
    assert "service.yaml" in text and "nil pointer" in text


def test_a_chart_linked_from_outside_the_repository_is_refused(
    repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (repo / "charts" / "web-app").rename(outside / "web-app")
    (repo / "charts" / "web-app").symlink_to(outside / "web-app")
    cfg = load_config(repo / "ci-deploy.yml")
    with pytest.raises(ConfigError, match="outside the repository"):
        render_objects(cfg, "staging", ":1.5.0")


def test_no_helm_is_exit_4(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(repo))
    cfg = load_config(repo / "ci-deploy.yml")
    with pytest.raises(NothingChanged, match="needs Helm 3"):
        render_objects(cfg, "staging", ":1.5.0")


def test_deploy_from_the_chart(repo: Path, tmp_path: Path) -> None:
    with ci_deploy_on_sandbox(
        repo, tmp_path, "deploy", "--env", "staging", "--image", ":2.0.0"
    ) as (done, sb):
        assert done.returncode == 0, done.stderr
        items, _ = sb.store.list("apps/deployments", "web-staging")
        assert items[0]["spec"]["replicas"] == 3
        assert items[0]["spec"]["template"]["spec"]["containers"][0]["image"] == (
            f"{REPOSITORY}:2.0.0"
        )
