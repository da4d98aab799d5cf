"""The credentials CI hands a deploy, against the sandbox behind TLS with users and RBAC: a
token, a client certificate, an exec plugin that prints an ExecCredential (and the same plugin
missing), a token the cluster refuses, a cluster without certificate checks, and a KUBECONFIG
path a container action cannot see."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.commands.files_app import NAMESPACE, WEB, App, app_on_sandbox

from kube_sandbox.testing import user

USERS = (
    user(f"deployer=admin:{NAMESPACE}"),
    user(f"viewer=view:{NAMESPACE}"),
    user(f"certdeployer=admin:{NAMESPACE}", certificate=True),
)
CONFIG = f"""\
app: web-app
image: {{repository: registry.example.com/acme/web-app}}
manifests:
  files: ["deploy/*.yaml"]
environments:
  staging: {{namespace: {NAMESPACE}}}
"""


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    with app_on_sandbox(tmp_path, monkeypatch, CONFIG, tls=True, users=USERS) as made:
        made.client.request(
            "POST",
            "/api/v1/namespaces",
            body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        )
        made.files(web=WEB)
        yield made


def kubeconfig(app: App, context: str, path: Path, edit: Any = None) -> Path:
    """The sandbox's kubeconfig reduced to ``context`` (its cluster and user), edited."""
    doc = yaml.safe_load(app.sb.kubeconfig.read_text())
    ctx = next(c for c in doc["contexts"] if c["name"] == context)
    doc["contexts"] = [ctx]
    doc["current-context"] = context
    doc["users"] = [u for u in doc["users"] if u["name"] == ctx["context"]["user"]]
    doc["clusters"] = [c for c in doc["clusters"] if c["name"] == ctx["context"]["cluster"]]
    if edit is not None:
        edit(doc)
    path.write_text(yaml.safe_dump(doc))
    return path


def deploy(app: App, config: Path, *extra: str, **env: str) -> Any:
    return app.run(
        "deploy", "--env", "staging", "--image", ":1", *extra, KUBECONFIG=str(config), **env
    )


def test_a_token_and_a_client_certificate_each_deploy_through_tls(app: App, tmp_path: Path) -> None:
    token = kubeconfig(app, "ci-deploy-sandbox-deployer", tmp_path / "token")
    assert "token" in json.dumps(yaml.safe_load(token.read_text())["users"])
    done = deploy(app, token)
    assert done.returncode == 0, done.stderr
    cert = kubeconfig(app, "ci-deploy-sandbox-certdeployer", tmp_path / "cert")
    assert "client-key-data" in cert.read_text()
    done = app.run("deploy", "--env", "staging", "--image", ":2", KUBECONFIG=str(cert))
    assert done.returncode == 0, done.stderr


def test_an_exec_plugin_that_prints_an_exec_credential_authenticates(
    app: App, tmp_path: Path
) -> None:
    token = app.sb.user("deployer").token
    plugin = tmp_path / "get-token"
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "status": {"token": token},
    }
    plugin.write_text(f"#!/bin/sh\necho '{json.dumps(credential)}'\n")
    plugin.chmod(0o755)

    def use_plugin(doc: dict[str, Any]) -> None:
        doc["users"][0]["user"] = {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": str(plugin),
                "interactiveMode": "Never",
            }
        }

    config = kubeconfig(app, "ci-deploy-sandbox-deployer", tmp_path / "exec", use_plugin)
    done = deploy(app, config)
    assert done.returncode == 0, done.stderr
    assert token not in done.stdout + done.stderr


def test_an_exec_plugin_that_is_not_installed_names_it_and_the_ways_out(
    app: App, tmp_path: Path
) -> None:
    def aws(doc: dict[str, Any]) -> None:  # what `aws eks update-kubeconfig` writes
        doc["users"][0]["user"] = {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": "aws",
                "args": ["--region", "eu-west-1", "eks", "get-token", "--cluster-name", "prod"],
            }
        }

    config = kubeconfig(app, "ci-deploy-sandbox-deployer", tmp_path / "eks", aws)
    done = deploy(app, config, PATH="/usr/bin:/bin")
    assert done.returncode == 2, done.stderr
    assert "gets its credentials from the exec plugin 'aws', which is not installed here" in (
        done.stderr
    )
    assert "aws eks get-token --cluster-name NAME" in done.stderr
    assert "run the ci-deploy CLI on the runner" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_token_the_cluster_refuses_is_one_line_exit_4_nothing_changed(
    app: App, tmp_path: Path
) -> None:
    viewer = kubeconfig(app, "ci-deploy-sandbox-viewer", tmp_path / "viewer")
    done = deploy(app, viewer)
    assert done.returncode == 4, done.stderr
    assert 'User "viewer" cannot' in done.stderr and "nothing was changed" in done.stderr
    assert (
        app.client.get_or_none(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/web-app") is None
    )


def test_a_cluster_without_certificate_checks_is_refused_unless_allowed(
    app: App, tmp_path: Path
) -> None:
    def insecure(doc: dict[str, Any]) -> None:
        cluster = doc["clusters"][0]["cluster"]
        del cluster["certificate-authority-data"]
        cluster["insecure-skip-tls-verify"] = True

    config = kubeconfig(app, "ci-deploy-sandbox-deployer", tmp_path / "insecure", insecure)
    refused = deploy(app, config)
    assert refused.returncode == 2, refused.stderr
    assert "sets insecure-skip-tls-verify: true" in refused.stderr
    assert "--allow-insecure-tls" in refused.stderr
    allowed = deploy(app, config, "--allow-insecure-tls")
    assert allowed.returncode == 0, allowed.stderr
    assert "the API server's certificate is not checked" in allowed.stderr


def test_a_kubeconfig_path_a_container_action_cannot_see_says_what_to_pass(app: App) -> None:
    done = app.run(
        "status",
        "--env",
        "staging",
        KUBECONFIG="/home/runner/work/_temp/kubeconfig_1733216444",
        GITHUB_ACTIONS="true",
        GITHUB_WORKSPACE="/github/workspace",
    )
    assert done.returncode == 2, done.stderr
    assert (
        "kubeconfig /home/runner/work/_temp/kubeconfig_1733216444 does not exist in this "
        "container" in done.stderr
    )
    assert "kubeconfig input" in done.stderr and "$RUNNER_TEMP" in done.stderr
