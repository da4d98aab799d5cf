"""Templates read files of the repository only (issue 16 item 1).

The attack: a template folder holding a symlink ``leak.yaml -> /proc/self/environ``, included by
a ConfigMap template, rendered the job's environment (the action's ``INPUT_KUBECONFIG``, the
GitHub token) into a manifest, spaced out so that exact-string masking misses it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.config.error_cases import run_cli

SECRET = "secret-value"
SPACED = " ".join(SECRET)  # what masking the exact string does not catch
DEPLOYMENT = '{% include "builtin/deployment.yaml.j2" %}\n'
CONFIG = (
    "app: api\nimage: {{repository: registry.example.com/acme/api}}\n"
    "manifests:\n  templates: {templates}\n"
    "environments:\n  staging: {{replicas: 1}}\n"
)
LEAKING_CONFIGMAP = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leak\ndata:\n"
    '{% set stolen %}{% include "leak.yaml" %}{% endset %}\n'
    "  plain: {{ stolen | to_json }}\n"
    '  spaced: {{ stolen | list | join(" ") | to_json }}\n'
)


def project(folder: Path, templates: str = "tpl", files: dict[str, str] | None = None) -> Path:
    (folder / "tpl").mkdir(exist_ok=True)
    (folder / "tpl" / "app.yaml.j2").write_text(DEPLOYMENT, encoding="utf-8")
    for name, text in (files or {}).items():
        (folder / "tpl" / name).write_text(text, encoding="utf-8")
    config = folder / "ci-deploy.yml"
    config.write_text(CONFIG.format(templates=templates), encoding="utf-8")
    return config


def render_in_process(
    folder: Path, *args: str, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """``render manifests`` in a fresh process: /proc/self/environ is that process's environment."""
    env = {
        **os.environ,
        "INPUT_KUBECONFIG": SECRET,
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    for name in ("GITHUB_WORKSPACE", "CI_PROJECT_DIR", "GITHUB_ACTIONS", "GITLAB_CI"):
        env.pop(name, None)
    command = [sys.executable, "-m", "ci_deploy", "render", "manifests", "--env", "staging"]
    return subprocess.run(
        [*command, "--image", ":1", *args],
        cwd=folder, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_a_symlink_to_the_process_environment_is_refused(tmp_path: Path) -> None:
    project(tmp_path, files={"cm.yaml.j2": LEAKING_CONFIGMAP})
    (tmp_path / "tpl" / "leak.yaml").symlink_to("/proc/self/environ")
    result = render_in_process(tmp_path)
    output = result.stdout + result.stderr
    assert SECRET not in output and SPACED not in output
    assert result.returncode == 2, output
    lines = result.stderr.splitlines()
    assert len(lines) == 2, lines  # the include, and leak.yaml rendered on its own
    for line, where in zip(lines, ["tpl/cm.yaml.j2:6", "tpl/leak.yaml"], strict=True):
        assert line.startswith(
            f"error: {where}: refused to read 'leak.yaml': it resolves to /proc/"
        )
        assert line.endswith("environ, outside the templates folder tpl")


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_a_partial_linked_to_the_process_environment_is_refused(tmp_path: Path) -> None:
    # As a partial (``_``), the link is only included: without the check the ConfigMap
    # carried the environment, plain and spaced out.
    project(tmp_path, files={"cm.yaml.j2": LEAKING_CONFIGMAP.replace("leak.yaml", "_leak.yaml")})
    (tmp_path / "tpl" / "_leak.yaml").symlink_to("/proc/self/environ")
    result = render_in_process(tmp_path)
    output = result.stdout + result.stderr
    assert SECRET not in output and SPACED not in output
    assert result.returncode == 2, output
    assert result.stdout == ""
    assert result.stderr.startswith(
        "error: tpl/cm.yaml.j2:6: refused to read '_leak.yaml': it resolves to /proc/"
    )


def test_a_symlink_to_a_file_elsewhere_in_the_repository_is_refused(tmp_path: Path) -> None:
    project(tmp_path, files={"cm.yaml.j2": LEAKING_CONFIGMAP})
    (tmp_path / ".env").write_text(f"TOKEN={SECRET}\n", encoding="utf-8")
    (tmp_path / "tpl" / "_leak.yaml").symlink_to(tmp_path / ".env")
    (tmp_path / "tpl" / "cm.yaml.j2").write_text(LEAKING_CONFIGMAP.replace("leak", "_leak"))
    outcome = run_cli(("render", "manifests", "--env", "staging", "--image", ":1"), tmp_path)
    assert outcome.exit_code == 2
    assert SECRET not in outcome.stdout + outcome.stderr
    assert outcome.stderr == (
        "error: tpl/cm.yaml.j2:6: refused to read '_leak.yaml': it resolves to .env, outside the"
        " templates folder tpl\n"
    )


@pytest.mark.parametrize(
    "statement",
    [
        '{% import "_leak.yaml" as leak %}',
        '{% from "_leak.yaml" import x %}',
        '{% extends "_leak.yaml" %}',
        '{{ "x" if 1 }}{% include ["_missing.yaml", "_leak.yaml"] %}',
    ],
    ids=["import", "from-import", "extends", "include-list"],
)
def test_imports_and_extends_are_refused_too(statement: str, tmp_path: Path) -> None:
    project(tmp_path, files={"cm.yaml.j2": statement + "\n"})
    (tmp_path / ".env").write_text(f"TOKEN={SECRET}\n", encoding="utf-8")
    (tmp_path / "tpl" / "_leak.yaml").symlink_to(tmp_path / ".env")
    outcome = run_cli(("render", "manifests", "--env", "staging", "--image", ":1"), tmp_path)
    assert outcome.exit_code == 2
    assert SECRET not in outcome.stdout + outcome.stderr
    assert outcome.stderr == (
        "error: tpl/cm.yaml.j2:1: refused to read '_leak.yaml': it resolves to .env, outside the"
        " templates folder tpl\n"
    )


def test_a_symlinked_subfolder_pointing_outside_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.yaml").write_text(f"token: {SECRET}\n", encoding="utf-8")
    project(tmp_path, files={"cm.yaml.j2": '{% include "sub/x.yaml" %}\n'})
    (tmp_path / "tpl" / "sub").symlink_to(outside)
    outcome = run_cli(("render", "manifests", "--env", "staging", "--image", ":1"), tmp_path)
    assert outcome.exit_code == 2
    assert SECRET not in outcome.stdout + outcome.stderr
    assert outcome.stderr == (
        "error: tpl/cm.yaml.j2:1: refused to read 'sub/x.yaml': it resolves to outside/x.yaml,"
        " outside the templates folder tpl\n"
    )


def test_symlinks_inside_the_templates_folder_still_work(tmp_path: Path) -> None:
    project(tmp_path, files={"_cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"})
    (tmp_path / "tpl" / "cm.yaml").symlink_to("_cm.yaml")
    outcome = run_cli(("render", "manifests", "--env", "staging", "--image", ":1"), tmp_path)
    assert outcome.exit_code == 0, outcome.stderr
    assert "kind: ConfigMap" in outcome.stdout


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    project(tmp_path, files={"cm.yaml.j2": '{% include "_pipe.yaml" %}\n'})
    os.mkfifo(tmp_path / "tpl" / "_pipe.yaml")
    result = render_in_process(tmp_path, timeout=20)
    assert result.returncode == 2
    assert result.stderr == (
        "error: tpl/cm.yaml.j2:1: refused to read '_pipe.yaml': not a regular file (a FIFO)\n"
    )


def test_an_absolute_templates_folder_is_refused(tmp_path: Path) -> None:
    project(tmp_path, templates="/etc")
    outcome = run_cli(("render", "manifests", "--env", "staging", "--image", ":1"), tmp_path)
    assert outcome.exit_code == 2
    assert outcome.stdout == ""
    assert outcome.stderr == (
        "error: ci-deploy.yml:4:14: manifests.templates: expected a folder inside the"
        " repository, relative to the configuration file, found an absolute path '/etc'\n"
    )


def test_a_templates_folder_outside_the_repository_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "a" / "b"
    repo.mkdir(parents=True)
    project(repo, templates="../..")
    outcome = run_cli(("config", "validate", "--no-render"), repo)
    assert outcome.exit_code == 2
    assert outcome.stderr == (
        "error: ci-deploy.yml:4:14: manifests.templates: expected a folder inside the"
        f" repository ({repo}, the configuration file's folder), found '../..', which is"
        f" {tmp_path}\n"
    )


def test_a_symlinked_templates_folder_pointing_outside_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "app.yaml.j2").write_text(DEPLOYMENT, encoding="utf-8")
    config = repo / "ci-deploy.yml"
    config.write_text(CONFIG.format(templates="k8s"), encoding="utf-8")
    (repo / "k8s").symlink_to(outside)
    outcome = run_cli(("config", "validate"), repo)
    assert outcome.exit_code == 2
    assert outcome.stderr == (
        "error: ci-deploy.yml:4:14: manifests.templates: expected a folder inside the"
        f" repository ({repo}, the configuration file's folder), found 'k8s', which is"
        f" {outside}\n"
    )


@pytest.mark.parametrize("variable", ["GITHUB_WORKSPACE", "CI_PROJECT_DIR"])
def test_the_ci_workspace_is_the_repository(
    variable: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    project(tmp_path)
    (deploy / "ci-deploy.yml").write_text(CONFIG.format(templates="../tpl"), encoding="utf-8")
    args = ("-c", "deploy/ci-deploy.yml", "config", "validate")
    refused = run_cli(args, tmp_path)
    assert refused.exit_code == 2
    assert "deploy/ci-deploy.yml:4:14: manifests.templates: expected a folder inside" in (
        refused.stderr
    )
    monkeypatch.setenv(variable, str(tmp_path))
    allowed = run_cli(args, tmp_path)
    assert allowed.exit_code == 0, allowed.stderr
    monkeypatch.setenv(variable, str(deploy))  # the workspace, not the file's folder, decides
    assert run_cli(args, tmp_path).exit_code == 2
