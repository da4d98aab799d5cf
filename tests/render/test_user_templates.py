"""A folder of the user's templates: Jinja and plain YAML, partials, multi-document files,
the built-in templates reachable as builtin/…, objects stamped with namespace and labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci_deploy.config import load_config
from ci_deploy.errors import ConfigError
from ci_deploy.render import render_manifests, render_objects
from ci_deploy.render.validate import schema_errors

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "custom-templates" / "ci-deploy.yml"
IMAGE = "registry.example.com/acme/orders:1.4.0"


@pytest.mark.parametrize("env_name", ["staging", "production"])
def test_custom_templates_example_renders_valid_objects(env_name: str) -> None:
    cfg = load_config(EXAMPLE)
    objects = render_manifests(cfg, env_name, IMAGE)
    names = [(o["kind"], o["metadata"]["name"]) for o in objects]
    # apply order: ConfigMap, Service, Deployment, PodDisruptionBudget
    assert names == [
        ("ConfigMap", "orders-settings"),
        ("Service", "orders"),
        ("Deployment", "orders"),
        ("PodDisruptionBudget", "orders-pdb"),
    ]
    namespace = cfg.environment(env_name).namespace
    for obj in objects:
        assert schema_errors(obj, "1.32") == []
        assert obj["metadata"]["namespace"] == namespace
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "ci-deploy"


def test_plain_yaml_templates_go_through_jinja() -> None:
    objects = render_manifests(load_config(EXAMPLE), "production", IMAGE)
    config_map = next(o for o in objects if o["kind"] == "ConfigMap")
    assert config_map["data"] == {"environment": "production", "replicas": "4"}


def test_partials_macros_and_values_reach_user_templates() -> None:
    objects = render_manifests(load_config(EXAMPLE), "staging", IMAGE)
    pdb = next(o for o in objects if o["kind"] == "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1  # max(replicas - 1, 1) with 2 replicas
    assert pdb["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "orders",
        "app.kubernetes.io/instance": "orders-staging",
    }
    assert pdb["metadata"]["labels"]["app.kubernetes.io/instance"] == "orders-staging"


def test_objects_keep_their_template_and_document_index() -> None:
    items = render_objects(load_config(EXAMPLE), "staging", IMAGE)
    where = {(i.kind, i.template.rsplit("/", 1)[-1], i.index) for i in items}
    assert ("Deployment", "01-app.yaml.j2", 1) in where
    assert ("Service", "01-app.yaml.j2", 2) in where


def write_config(folder: Path, templates: dict[str, str]) -> Path:
    (folder / "tpl").mkdir()
    for name, text in templates.items():
        (folder / "tpl" / name).write_text(text, encoding="utf-8")
    config = folder / "ci-deploy.yml"
    config.write_text(
        "app: api\nimage: {repository: registry.example.com/api}\n"
        "manifests: {templates: tpl}\nenvironments:\n  dev: {replicas: 1}\n",
        encoding="utf-8",
    )
    return config


def test_other_files_and_subfolders_are_not_rendered(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        {
            "deployment.yml": '{% include "builtin/deployment.yaml.j2" %}',
            "notes.txt": "{{ broken",
            ".hidden.yaml": "{{ broken",
            "_partial.yaml": "{{ broken",
        },
    )
    (tmp_path / "tpl" / "sub").mkdir()
    (tmp_path / "tpl" / "sub" / "x.yaml").write_text("{{ broken", encoding="utf-8")
    objects = render_manifests(load_config(config), "dev", "registry.example.com/api:1")
    assert [o["kind"] for o in objects] == ["Deployment"]


def test_empty_documents_are_skipped(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        {"all.yaml.j2": '---\n{% include "builtin/deployment.yaml.j2" %}\n---\n# nothing\n---\n'},
    )
    objects = render_manifests(load_config(config), "dev", "registry.example.com/api:1")
    assert [o["kind"] for o in objects] == ["Deployment"]


def test_unknown_kinds_may_be_allowed_explicitly(tmp_path: Path) -> None:
    monitor = (
        "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: api}\n"
        "spec: {endpoints: [{port: http}]}\n"
    )
    config = write_config(
        tmp_path,
        {"a.yaml.j2": '{% include "builtin/deployment.yaml.j2" %}', "m.yaml": monitor},
    )
    cfg = load_config(config)
    unknown = r"no schema for monitoring\.coreos\.com/v1 ServiceMonitor"
    with pytest.raises(ConfigError, match=unknown):
        render_manifests(cfg, "dev", "registry.example.com/api:1")
    objects = render_manifests(cfg, "dev", "registry.example.com/api:1", allow_unknown_kinds=True)
    assert [o["kind"] for o in objects] == ["Deployment", "ServiceMonitor"]
    assert objects[1]["metadata"]["namespace"] == "api-dev"


def test_kind_with_unmatched_api_group_is_unknown(tmp_path: Path) -> None:
    # kubernetes-validate's file names drop the group's domain: apps.example.com/v1 Deployment
    # must not be checked (and passed) as apps/v1 Deployment.
    fake = (
        "apiVersion: apps.example.com/v1\nkind: Deployment\nmetadata: {name: other}\n"
        "spec: {anything: 1}\n"
    )
    config = write_config(
        tmp_path, {"a.yaml.j2": '{% include "builtin/deployment.yaml.j2" %}', "f.yaml": fake}
    )
    with pytest.raises(ConfigError, match=r"no schema for apps\.example\.com/v1 Deployment"):
        render_manifests(load_config(config), "dev", "registry.example.com/api:1")


def test_macro_imported_without_context_gets_a_hint(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        {
            "_m.j2": "{% macro name() %}{{ app }}{% endmacro %}",
            "a.yaml.j2": '{% from "_m.j2" import name %}\n'
            '{% include "builtin/deployment.yaml.j2" %}\nx: {{ name() }}\n',
        },
    )
    with pytest.raises(ConfigError) as info:
        render_manifests(load_config(config), "dev", "registry.example.com/api:1")
    assert info.value.render().endswith(
        "tpl/_m.j2:1: undefined: 'app' is undefined "
        '(import macros "with context" to use the template variables)'
    )


def test_empty_namespace_and_labels_are_filled_in(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        {
            "a.yaml.j2": '{% include "builtin/deployment.yaml.j2" %}',
            "cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace:\n"
            "  labels:\n",
        },
    )
    objects = render_manifests(load_config(config), "dev", "registry.example.com/api:1")
    config_map = next(o for o in objects if o["kind"] == "ConfigMap")
    assert config_map["metadata"] == {
        "name": "c",
        "namespace": "api-dev",
        "labels": {"app.kubernetes.io/name": "api", "app.kubernetes.io/managed-by": "ci-deploy"},
    }
