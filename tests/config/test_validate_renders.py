"""``ci-deploy config validate`` renders every environment as deploy would (offline, with schema
validation), so a configuration whose templates do not render fails validation, not the deploy."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.config.error_cases import run_cli

ROOT = Path(__file__).resolve().parents[2]
WEB_APP = ROOT / "examples" / "web-app" / "ci-deploy.yml"
CUSTOM = ROOT / "examples" / "custom-templates" / "ci-deploy.yml"

CONFIG = """\
app: api
image: {repository: registry.example.com/api}
manifests: {templates: tpl}
environments:
  dev: {replicas: 1}
  staging: {replicas: 2}
  prod: {replicas: 3}
"""
DEPLOYMENT = '{% include "builtin/deployment.yaml.j2" %}\n'
# Only production's branch uses an undefined variable: dev and staging render.
SETTINGS = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
{% if environment == "prod" %}
  pager: {{ pager_key }}
{% endif %}
  replicas: "{{ env.replicas }}"
"""


def write_project(folder: Path, templates: dict[str, str], config: str = CONFIG) -> None:
    (folder / "tpl").mkdir()
    for name, text in templates.items():
        (folder / "tpl" / name).write_text(text, encoding="utf-8")
    (folder / "ci-deploy.yml").write_text(config, encoding="utf-8")


def test_undefined_variable_in_one_environment_fails_validation(tmp_path: Path) -> None:
    write_project(tmp_path, {"deployment.yaml.j2": DEPLOYMENT, "settings.yaml.j2": SETTINGS})
    outcome = run_cli(("config", "validate"), tmp_path)
    assert outcome.exit_code == 2
    assert outcome.stdout == ""
    lines = outcome.stderr.splitlines()
    assert lines[0].startswith(
        "error: tpl/settings.yaml.j2:7: environment prod: undefined: 'pager_key' is undefined"
    )
    assert lines[1:] == [
        "  hint: config validate renders every environment as deploy does, with the image"
        " registry.example.com/api:validate; --no-render checks only the configuration file",
    ]


def test_problems_of_all_environments_are_reported_together(tmp_path: Path) -> None:
    broken = SETTINGS.replace('"{{ env.replicas }}"', "{{ env.replicas + [] }}").replace(
        '"prod"', '"staging"'
    )
    write_project(tmp_path, {"deployment.yaml.j2": DEPLOYMENT, "settings.yaml.j2": broken})
    outcome = run_cli(("config", "validate"), tmp_path)
    assert outcome.exit_code == 2
    errors = [line for line in outcome.stderr.splitlines() if line.startswith("error: ")]
    # the same problem in several environments is reported once, naming all of them (staging
    # stops at its own error, one line earlier)
    assert errors == [
        "error: tpl/settings.yaml.j2:9: environments dev, prod: template error:"
        " TypeError: unsupported operand type(s) for +: 'int' and 'list'",
        "error: tpl/settings.yaml.j2:7: environment staging: undefined: 'pager_key' is undefined"
        + errors[1].split("is undefined", 1)[1],
    ]


def test_schema_errors_name_the_environment_too(tmp_path: Path) -> None:
    settings = SETTINGS.replace('"{{ env.replicas }}"', "{{ env.replicas }}")  # not a string
    write_project(tmp_path, {"deployment.yaml.j2": DEPLOYMENT, "settings.yaml.j2": settings})
    outcome = run_cli(("config", "validate", "--no-render"), tmp_path)
    assert outcome.exit_code == 0
    outcome = run_cli(("config", "validate"), tmp_path)
    assert outcome.exit_code == 2
    assert (
        "error: tpl/settings.yaml.j2: environment dev: document 1 (ConfigMap/settings)"
        " data.replicas: 1 is not of type 'string', 'null' (rendered line 6)"
    ) in outcome.stderr.splitlines()


def test_no_render_checks_only_the_configuration_file(tmp_path: Path) -> None:
    write_project(tmp_path, {"deployment.yaml.j2": DEPLOYMENT, "settings.yaml.j2": SETTINGS})
    outcome = run_cli(("config", "validate", "--no-render"), tmp_path)
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stdout == (
        "ok: ci-deploy.yml: app api; environments: dev (rolling), staging (rolling),"
        " prod (rolling)\n"
        "manifests not rendered (--no-render)\n"
    )


def test_web_app_example_validates_with_every_environment_rendered(tmp_path: Path) -> None:
    outcome = run_cli(("-c", str(WEB_APP), "config", "validate"), tmp_path)
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stderr == ""
    assert outcome.stdout == (
        f"ok: {WEB_APP}: app web-app; environments: development (rolling, 3 objects),"
        " staging (rolling, 3 objects), production (canary, 3 objects)\n"
        "rendered every environment offline with the placeholder image"
        " registry.example.com/acme/web-app:validate, objects checked against the"
        " Kubernetes 1.32 schemas\n"
    )


def test_custom_templates_example_validates(tmp_path: Path) -> None:
    outcome = run_cli(("-c", str(CUSTOM), "config", "validate"), tmp_path)
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stdout.splitlines()[0] == (
        f"ok: {CUSTOM}: app orders; environments: staging (rolling, 4 objects),"
        " production (rolling, 4 objects)"
    )


def test_template_errors_are_github_annotations_under_actions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    write_project(tmp_path, {"deployment.yaml.j2": DEPLOYMENT, "settings.yaml.j2": SETTINGS})
    outcome = run_cli(("config", "validate"), tmp_path)
    assert outcome.exit_code == 2
    annotations = outcome.stdout.splitlines()
    assert len(annotations) == 1
    assert annotations[0].startswith(
        "::error file=tpl/settings.yaml.j2,line=7::environment prod: undefined: 'pager_key'"
    )
