"""``ci-deploy render manifests``: YAML on stdout or one file per object, exit 2 on bad input,
nothing written when anything is wrong."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ci_deploy.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "web-app" / "ci-deploy.yml"
IMAGE = "registry.example.com/acme/web-app:1.2.3"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_stdout_is_multi_document_yaml_in_a_real_process() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ci_deploy", "-c", str(EXAMPLE), "render", "manifests",
         "--env", "staging", "--image", IMAGE],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    documents = list(yaml.safe_load_all(result.stdout))
    assert [d["kind"] for d in documents] == ["Service", "Deployment", "Ingress"]
    assert documents[1]["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE
    assert result.stderr == ""


def test_output_dir_gets_one_file_per_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "rendered" / "staging"
    code, out, err = run(
        ["-c", str(EXAMPLE), "render", "manifests", "--env", "staging", "--image", IMAGE,
         "-o", str(out_dir)],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert out == ""
    assert err == f"wrote 3 objects to {out_dir}\n"
    files = sorted(p.name for p in out_dir.iterdir())
    assert files == [
        "01-service-web-app.yaml",
        "02-deployment-web-app.yaml",
        "03-ingress-web-app.yaml",
    ]
    deployment = yaml.safe_load((out_dir / "02-deployment-web-app.yaml").read_text())
    assert deployment["kind"] == "Deployment"
    assert deployment["metadata"]["namespace"] == "web-app-staging"
    # no staging folder left behind
    assert sorted(p.name for p in out_dir.parent.iterdir()) == ["staging"]


def test_rerender_replaces_stale_object_files_and_keeps_other_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "07-configmap-gone.yaml").write_text("stale", encoding="utf-8")
    (out_dir / "kustomization.yaml").write_text("keep", encoding="utf-8")
    code, _, err = run(
        [
            "-c",
            str(EXAMPLE),
            "render",
            "manifests",
            "--env",
            "production",
            "--image",
            ":1.0.0",
            "-o",
            str(out_dir),
        ],
        capsys,
    )
    assert code == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "01-service-web-app.yaml",
        "02-deployment-web-app.yaml",
        "03-ingress-web-app.yaml",
        "kustomization.yaml",
    ]


def test_bad_template_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "d.yaml.j2").write_text(
        '{% include "builtin/deployment.yaml.j2" %}\n---\n{{ nope }}\n', encoding="utf-8"
    )
    config = tmp_path / "ci-deploy.yml"
    config.write_text(
        "app: api\nimage: {repository: registry.example.com/api}\n"
        "manifests: {templates: tpl}\nenvironments:\n  dev: {}\n",
        encoding="utf-8",
    )
    out_dir = tmp_path / "out"
    code, out, err = run(
        [
            "-c",
            str(config),
            "render",
            "manifests",
            "--env",
            "dev",
            "--image",
            ":1",
            "-o",
            str(out_dir),
        ],
        capsys,
    )
    assert code == 2
    assert out == ""
    assert err.startswith("error: ") and "d.yaml.j2:3: undefined: 'nope' is undefined" in err
    assert "Traceback" not in err
    assert not out_dir.exists()


def test_missing_env_option_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["-c", str(EXAMPLE), "render", "manifests"], capsys)
    assert code == 2
    assert "Missing option '--env'" in err


def test_output_path_that_is_a_file_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "file.yaml"
    target.write_text("x", encoding="utf-8")
    code, _, err = run(
        [
            "-c",
            str(EXAMPLE),
            "render",
            "manifests",
            "--env",
            "staging",
            "--image",
            ":1",
            "-o",
            str(target),
        ],
        capsys,
    )
    assert code == 2
    assert "is a file" in err
    assert target.read_text() == "x"


def test_render_group_lists_its_verbs(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["render", "--help"], capsys)
    assert code == 0
    assert "manifests" in out
    has_pipeline_module = (ROOT / "src" / "ci_deploy" / "commands" / "render_pipeline.py").exists()
    assert ("pipeline" in out.split("Commands:")[1]) == has_pipeline_module


def test_kube_version_and_unknown_kinds_options_reach_the_renderer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "a.yaml.j2").write_text(
        '{% include "builtin/deployment.yaml.j2" %}\n---\n'
        "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: api}\n",
        encoding="utf-8",
    )
    config = tmp_path / "ci-deploy.yml"
    config.write_text(
        "app: api\nimage: {repository: registry.example.com/api}\n"
        "manifests: {templates: tpl}\nenvironments:\n  dev: {}\n",
        encoding="utf-8",
    )
    base = ["-c", str(config), "render", "manifests", "--env", "dev", "--image", ":1"]
    code, _, err = run(base, capsys)
    assert code == 2 and "no schema for monitoring.coreos.com/v1 ServiceMonitor" in err
    code, out, err = run([*base, "--allow-unknown-kinds", "--kube-version", "1.30"], capsys)
    assert code == 0, err
    assert [d["kind"] for d in yaml.safe_load_all(out)] == ["Deployment", "ServiceMonitor"]
    code, _, err = run([*base, "--kube-version", "1.99"], capsys)
    assert code == 2
    assert err == (
        "error: --kube-version '1.99': schemas exist for Kubernetes 1.25 to 1.37 (e.g. 1.32)\n"
    )


def test_render_needs_an_image_and_refuses_floating_ones_where_protected(
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = ["-c", str(EXAMPLE), "render", "manifests"]
    code, out, err = run([*base, "--env", "staging"], capsys)
    assert code == 2
    assert out == ""
    assert "no image given (this verb does not ask the cluster which image is live)" in err
    assert "pass --image :TAG" in err
    code, _, err = run([*base, "--env", "staging", "--image", "1.4.0"], capsys)
    assert code == 2
    assert "--image '1.4.0' is only a tag, not an image reference" in err
    assert "pass --image :1.4.0 (that is registry.example.com/acme/web-app:1.4.0)" in err
    code, _, err = run([*base, "--env", "production", "--image", ":latest"], capsys)
    assert code == 2
    assert "environment production is protected" in err
    code, _, err = run(
        [*base, "--env", "production", "--image", "registry.example.com/acme/web-app"], capsys
    )
    assert code == 2
    assert "has no tag" in err
    code, out, err = run([*base, "--env", "staging", "--image", ":latest"], capsys)
    assert code == 0, err
    assert "warning: registry.example.com/acme/web-app:latest is ':latest'" in err
    assert "image: registry.example.com/acme/web-app:latest" in out
