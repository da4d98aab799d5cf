"""Undefined attributes in a user template are named as the template wrote them (``env``,
``config.manifests``, a loop variable), never by ci-deploy's internal class names, with the
nearest field or key of that value as the suggestion. Through ``ci-deploy render manifests``."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci_deploy.cli import main

DEPLOYMENT = '{% include "builtin/deployment.yaml.j2" %}\n'
CONFIG_MAP = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  x: "{{ EXPR }}"\n'
CONFIG = """\
app: api
image: {repository: registry.example.com/api}
manifests: {templates: tpl}
canary:
  stages:
    - {name: first, traffic_percentage: 10, duration: 5m}
    - {name: full, traffic_percentage: 100}
environments:
  dev: {replicas: 1, database: dev-db}
"""


def render_error(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> str:
    """The stderr of ``render manifests`` for a folder with ``text`` as tpl/cm.yaml.j2."""
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "deployment.yaml.j2").write_text(DEPLOYMENT)
    (tmp_path / "tpl" / "cm.yaml.j2").write_text(text)
    (tmp_path / "ci-deploy.yml").write_text(CONFIG)
    with pytest.raises(SystemExit) as exited:
        main(
            [
                "-c",
                str(tmp_path / "ci-deploy.yml"),
                "render",
                "manifests",
                "--env",
                "dev",
                "--image",
                ":1",
            ]
        )
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "ci_deploy" not in err
    return err.rstrip("\n").split("tpl/cm.yaml.j2:", 1)[1]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("env.databse", "env has no attribute 'databse' (did you mean 'database'?)"),
        (
            "config.manifests.ingres",
            "config.manifests has no attribute 'ingres' (did you mean 'ingress'?)",
        ),
        ('env["replcas"]', "env has no attribute 'replcas' (did you mean 'replicas'?)"),
        (
            'config.environments["dev"].replcas',
            "config.environments[\"dev\"] has no attribute 'replcas' (did you mean 'replicas'?)",
        ),
        ("container_env[5]", "container_env has no element 5 (1 items)"),
        ("rolling.max_surg", "rolling has no attribute 'max_surg' (did you mean 'max_surge'?)"),
        (
            "rolling.progress_deadline.secs",
            "rolling.progress_deadline has no attribute 'secs' (did you mean 'seconds'?)",
        ),
        (
            "config.canary.stages[0].durration",
            "config.canary.stages[0] has no attribute 'durration' (did you mean 'duration'?)",
        ),
        (
            "labels.team",
            "labels has no attribute 'team' (keys of labels: app.kubernetes.io/instance,"
            " app.kubernetes.io/managed-by, app.kubernetes.io/name, ci-deploy.dev/environment)",
        ),
        (
            "manifests.ingress.host",
            "manifests.ingress has no attribute 'host': it is not set (None)"
            " ({% if manifests.ingress %} tests it)",
        ),
    ],
)
def test_undefined_attribute_is_named_as_the_template_wrote_it(
    expression: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = render_error(tmp_path, CONFIG_MAP.replace("EXPR", expression), capsys)
    assert err == f"6: undefined: {message}"


def test_loop_and_set_variables_keep_their_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = CONFIG_MAP.replace(
        '  x: "{{ EXPR }}"\n',
        "{% set stages = config.canary.stages %}\n"
        "{% for stage in stages %}\n"
        '  {{ stage.name }}: "{{ stage.traffic_percent }}"\n'
        "{% endfor %}\n",
    )
    err = render_error(tmp_path, text, capsys)
    assert err == (
        "8: undefined: stage has no attribute 'traffic_percent'"
        " (did you mean 'traffic_percentage'?)"
    )


def test_set_variable_subscript_keeps_its_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = CONFIG_MAP.replace("{{ EXPR }}", "{% set e = env %}{{ e['databse'] }}")
    err = render_error(tmp_path, text, capsys)
    assert err == "6: undefined: e has no attribute 'databse' (did you mean 'database'?)"


def test_without_a_close_match_the_attributes_are_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = render_error(tmp_path, CONFIG_MAP.replace("EXPR", "config.image.zzz"), capsys)
    assert err == (
        "6: undefined: config.image has no attribute 'zzz'"
        " (attributes of config.image: container, repository)"
    )
