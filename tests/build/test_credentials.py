"""Registry credentials: which variables are used, and the credential helper's protocol."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import pytest

from ci_deploy.build.credentials import (
    RegistryLogin,
    docker_config,
    helper_main,
    login_for,
    registry_host,
)
from ci_deploy.config.model import RegistryLoginConfig
from ci_deploy.errors import UserInputError


def test_registry_host_of_repositories() -> None:
    assert registry_host("registry.gitlab.com/acme/web") == "registry.gitlab.com"
    assert registry_host("127.0.0.1:5000/web") == "127.0.0.1:5000"
    assert registry_host("localhost/web") == "localhost"
    assert registry_host("acme/web") == "docker.io"
    assert registry_host("web") == "docker.io"


def test_gitlab_and_github_credentials_are_picked_by_registry() -> None:
    gitlab = {"CI_REGISTRY": "registry.gitlab.com", "CI_REGISTRY_PASSWORD": "x" * 20}
    assert login_for("registry.gitlab.com/acme/web", None, gitlab) == RegistryLogin(
        "registry.gitlab.com", "CI_REGISTRY_USER", "CI_REGISTRY_PASSWORD"
    )
    # GitLab's job credentials are for GitLab's registry only, never sent elsewhere.
    assert login_for("ghcr.io/acme/web", None, gitlab) is None
    github = {"GITHUB_TOKEN": "ghs_" + "x" * 20, "GITHUB_ACTOR": "octocat"}
    assert login_for("ghcr.io/acme/web", None, github) == RegistryLogin(
        "ghcr.io", "GITHUB_ACTOR", "GITHUB_TOKEN"
    )
    assert login_for("docker.io/acme/web", None, github) is None


def test_configured_variables_must_be_set() -> None:
    configured = RegistryLoginConfig(username_env="REG_USER", password_env="REG_PASSWORD")
    with pytest.raises(UserInputError, match=r"build.registry.password_env names \$REG_PASSWORD"):
        login_for("registry.example.com/web", configured, {"REG_USER": "me"})
    env = {"REG_USER": "me", "REG_PASSWORD": "p" * 16}
    assert login_for("registry.example.com/web", configured, env) == RegistryLogin(
        "registry.example.com", "REG_USER", "REG_PASSWORD"
    )


def run_helper(
    argv: list[str],
    stdin: str,
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[int, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = helper_main(argv, env)
    return code, capsys.readouterr().out


def test_helper_answers_only_for_its_registry(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "CI_DEPLOY_HELPER_REGISTRY": "registry.example.com",
        "CI_DEPLOY_HELPER_USERNAME_ENV": "REG_USER",
        "CI_DEPLOY_HELPER_PASSWORD_ENV": "REG_PASSWORD",
        "REG_USER": "builder",
        "REG_PASSWORD": "s3cret-password-value",
    }
    code, out = run_helper(["get"], "registry.example.com\n", env, capsys, monkeypatch)
    assert code == 0
    assert json.loads(out) == {
        "ServerURL": "registry.example.com",
        "Username": "builder",
        "Secret": "s3cret-password-value",
    }
    code, out = run_helper(["get"], "https://evil.example.com/v2/", env, capsys, monkeypatch)
    assert code == 1
    assert "s3cret" not in out
    assert run_helper(["store"], "{}", env, capsys, monkeypatch)[0] == 1
    assert run_helper(["list"], "", env, capsys, monkeypatch) == (0, "{}\n")


def test_private_config_keeps_the_users_other_logins_and_holds_no_secret(tmp_path: Path) -> None:
    user_config = tmp_path / "user-docker"
    user_config.mkdir()
    (user_config / "config.json").write_text(
        json.dumps(
            {
                "auths": {
                    "other.example.com": {"auth": "b3RoZXI="},
                    "registry.example.com": {"auth": "c3RhbGU="},
                },
                "credHelpers": {"gcr.io": "gcloud"},
            }
        )
    )
    login = RegistryLogin("registry.example.com", "REG_USER", "REG_PASSWORD")
    env = {"DOCKER_CONFIG": str(user_config), "PATH": os.defpath, "REG_PASSWORD": "p" * 20}
    with docker_config(login, env) as extra:
        folder = Path(extra["DOCKER_CONFIG"])
        assert oct(folder.stat().st_mode & 0o777) == "0o700"
        config = json.loads((folder / "config.json").read_text())
        assert config["credHelpers"] == {"gcr.io": "gcloud", "registry.example.com": "ci-deploy"}
        # A stale login for the same registry would win over the helper: dropped from the copy.
        assert config["auths"] == {"other.example.com": {"auth": "b3RoZXI="}}
        assert "p" * 20 not in (folder / "config.json").read_text()
        # The helper executable answers through the protocol, as the Docker CLI calls it.
        answer = subprocess.run(
            ["docker-credential-ci-deploy", "get"],
            input="registry.example.com",
            capture_output=True,
            text=True,
            env={**env, **extra, "REG_USER": "builder"},
            check=True,
        )
        assert json.loads(answer.stdout)["Secret"] == "p" * 20
    assert not folder.exists()
    assert json.loads((user_config / "config.json").read_text())["credHelpers"] == {
        "gcr.io": "gcloud"
    }
