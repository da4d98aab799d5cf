"""``ci-deploy build`` with a real Docker engine and a real registry on loopback."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import datetime
from pathlib import Path

from tests.build.conftest import App, make_app
from tests.build.registry import running_registry

from ci_deploy.kube.client import DEPLOYMENT, connect
from kube_sandbox.testing import running_sandbox


def read_outputs(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def labels_of(image: str) -> dict[str, str]:
    done = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", image],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout))


def test_build_push_outputs_the_digest_the_registry_reports(app: App, tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    done = app.run("build", "--push", "--tag", "latest", CI_DEPLOY_OUTPUT=str(outputs))
    assert done.returncode == 0, done.stderr
    out = read_outputs(outputs)
    registry_digest = app.registry.manifest_digest("acme/web-app", app.sha)
    assert out["digest"] == f"{app.repository}@{registry_digest}"
    assert out["image"] == f"{app.repository}:{app.sha}"
    # Both tags were pushed, and name the same manifest.
    assert app.registry.tags("acme/web-app") == sorted([app.sha, "latest"])
    assert app.registry.manifest_digest("acme/web-app", "latest") == registry_digest
    labels = labels_of(out["image"])
    assert labels["org.opencontainers.image.revision"] == app.sha
    # The remote's token is not copied into a public label.
    assert labels["org.opencontainers.image.source"] == "https://git.example.com/acme/web-app"
    # created is the commit's time: rebuilding the commit gives the same image and digest.
    commit_time = subprocess.run(
        ["git", "-C", str(app.root), "log", "-1", "--format=%cI"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    created = labels["org.opencontainers.image.created"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", created)
    assert datetime.fromisoformat(created.replace("Z", "+00:00")) == datetime.fromisoformat(
        commit_time
    )
    again = app.run("build", "--push", "--tag", "latest", CI_DEPLOY_OUTPUT=str(outputs))
    assert again.returncode == 0, again.stderr
    assert read_outputs(outputs)["digest"] == out["digest"]
    assert "glpat-remote-token" not in done.stdout + done.stderr


def test_deploy_uses_the_digest_the_build_job_handed_on(app: App, tmp_path: Path) -> None:
    """GitLab: the build job's dotenv report carries CI_DEPLOY_DIGEST to the deploy job, which
    deploys exactly that digest without being told an --image."""
    dotenv = tmp_path / "build.env"
    done = app.run("build", "--push", CI_DEPLOY_PLATFORM="gitlab", CI_DEPLOY_DOTENV=str(dotenv))
    assert done.returncode == 0, done.stderr
    report = dict(line.split("=", 1) for line in dotenv.read_text().splitlines())
    digest = report["CI_DEPLOY_DIGEST"]
    assert digest == f"{app.repository}@{app.registry.manifest_digest('acme/web-app', app.sha)}"
    assert report["CI_DEPLOY_IMAGE"] == f"{app.repository}:{app.sha}"
    with running_sandbox(tmp_path / "sandbox", pod_ready_delay=0.05) as sb:
        deployed = app.run(
            "deploy", "--env", "staging", KUBECONFIG=str(sb.kubeconfig), CI_DEPLOY_DIGEST=digest
        )
        assert deployed.returncode == 0, deployed.stderr
        client = connect(str(sb.kubeconfig))
        live = client.get(DEPLOYMENT.path("web-app-staging", "web-app"))
        assert live["spec"]["template"]["spec"]["containers"][0]["image"] == digest
    assert f"Succeeded: {digest} in staging" in deployed.stdout + deployed.stderr


def test_registry_credentials_come_from_the_environment_and_never_touch_disk(
    tmp_path: Path,
) -> None:
    password = "registry-password-4f1c2a9e"
    with running_registry(tmp_path / "registry", user="ci-builder", password=password) as reg:
        app = make_app(tmp_path / "app", reg)
        home = tmp_path / "home"
        home.mkdir()
        refused = app.run("build", "--push", HOME=str(home))
        assert refused.returncode == 1
        assert "docker push" in refused.stderr
        assert "no basic auth credentials" in refused.stderr or "unauthorized" in refused.stderr

        outputs = tmp_path / "outputs"
        done = app.run(
            "build",
            "--push",
            HOME=str(home),
            CI_DEPLOY_OUTPUT=str(outputs),
            CI_REGISTRY=reg.host,
            CI_REGISTRY_USER="ci-builder",
            CI_REGISTRY_PASSWORD=password,
        )
        assert done.returncode == 0, done.stderr
        assert read_outputs(outputs)["digest"].endswith(
            reg.manifest_digest("acme/web-app", app.sha)
        )
        assert f"registry login: {reg.host} as $CI_REGISTRY_USER" in done.stderr
    assert password not in done.stdout + done.stderr + refused.stdout + refused.stderr
    # Nothing under HOME or the test's folders holds the password (the htpasswd is a hash).
    for path in [*home.rglob("*"), *tmp_path.rglob("*")]:
        if path.is_file() and not path.is_symlink():
            assert password.encode() not in path.read_bytes(), path
    assert not (home / ".docker").exists()


def test_buildkit_when_the_cli_has_it_and_the_classic_builder_otherwise(
    app: App, tmp_path: Path
) -> None:
    """Debian's docker 20.10 CLI carries BuildKit; DOCKER_BUILDKIT=0 asks for the classic one."""
    cli = tmp_path / "bin"
    cli.mkdir()
    (cli / "docker").symlink_to("/usr/bin/docker")
    path = f"{cli}:{app.env()['PATH']}"
    with_buildkit = app.run("build", PATH=path)
    assert with_buildkit.returncode == 0, with_buildkit.stderr
    assert "building with BuildKit (DOCKER_BUILDKIT=1)" in with_buildkit.stderr
    classic = app.run("build", "--tag", "classic", DOCKER_BUILDKIT="0")
    assert classic.returncode == 0, classic.stderr
    assert "building with the classic builder" in classic.stderr
    for image in (f"{app.repository}:{app.sha}", f"{app.repository}:classic"):
        assert labels_of(image)["org.opencontainers.image.revision"] == app.sha
    assert "not pushed" in classic.stderr


def test_no_engine_or_no_cli_is_one_line_and_exit_4(app: App) -> None:
    no_engine = app.run("build", DOCKER_HOST="unix:///nonexistent/docker.sock")
    assert no_engine.returncode == 4
    assert no_engine.stderr.count("error:") == 1
    assert "no Docker engine is reachable" in no_engine.stderr
    assert "Traceback" not in no_engine.stderr
    no_cli = app.run("build", PATH="/nonexistent", CI_COMMIT_SHA=app.sha)
    assert no_cli.returncode == 4
    assert "no 'docker' is on PATH" in no_cli.stderr


def test_bad_input_is_exit_2_before_docker_is_called(app: App, tmp_path: Path) -> None:
    nowhere = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}  # a Docker call would be exit 4
    (app.root / "outside").symlink_to(tmp_path)
    cases = {
        ("build", "--context-dir", "outside"): "is outside the repository",
        ("build", "--context-dir", "../.."): "is outside the repository",
        ("build", "--file", "Missing.Dockerfile"): "no Dockerfile at",
        ("build", "--build-arg", "NOVALUE"): "--build-arg 'NOVALUE': expected NAME=VALUE",
    }
    for args, message in cases.items():
        done = app.run(*args, **nowhere)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr, (args, done.stderr)
    subprocess.run(["rm", "-rf", str(app.root / ".git")], check=True)
    done = app.run("build", **nowhere)
    assert done.returncode == 2
    assert "no commit to tag the image with" in done.stderr


def test_a_failing_build_is_exit_1_and_its_output_commands_nothing(
    app: App, tmp_path: Path
) -> None:
    (app.root / "Dockerfile").write_text(
        "FROM python:3.11-slim\n"
        "RUN echo '::set-output name=digest::evil.example.com/x@sha256:0' && "
        "echo '::error::injected' && exit 3\n"
    )
    output_file = tmp_path / "github-output"
    output_file.touch()
    done = app.run(
        "build",
        "--push",
        GITHUB_ACTIONS="true",
        GITHUB_OUTPUT=str(output_file),
        GITHUB_SHA=app.sha,
    )
    assert done.returncode == 1
    assert "docker build exited" in done.stderr + done.stdout
    assert output_file.read_text() == ""  # no digest is handed on after a failed build
    for line in (done.stdout + done.stderr).splitlines():
        assert not line.lstrip().startswith("::set-output"), line
        assert not line.startswith("::error::injected"), line
