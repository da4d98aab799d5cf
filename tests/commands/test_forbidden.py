"""``ci-deploy deploy`` against a TLS sandbox whose user may not do everything: one line, exit 4.

The sandbox serves HTTPS with tokens (``running_sandbox(tls=True)``); the deployer's context is
bound to ``edit`` in one namespace, as a CI service account usually is. A 403 is met before
anything changes (reads, the lock, the server-side dry run authorize exactly what the apply
would do), so the exit code is 4 "failed before changing anything" (README, "Exit codes"),
and the one line is the API's own Status message, which names verb, resource and namespace.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.commands.access import only_line
from tests.commands.conftest import EXAMPLE, IMAGE, NAMESPACE, Engine, make_config

from ci_deploy.kube.client import DEPLOYMENT, connect
from ci_deploy.kube.errors import ApiError
from kube_sandbox.testing import running_sandbox, user

REPO = Path(__file__).resolve().parents[2]
TODO = (
    "grant that to the kubeconfig's user (a Role and RoleBinding in that namespace), or deploy "
    "with a kubeconfig whose user may; nothing was changed"
)
USERS = (
    "deployer=edit:web-app-staging",
    "viewer=view:web-app-staging",
    "orders=edit:orders-staging",
)


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one error line (the progress of the rollout before it is on stderr too)."""
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert result.stderr.splitlines()[-1] == errors[0]
    return errors[0]


@pytest.fixture
def tls_engine(tmp_path: Path) -> Iterator[Engine]:
    """The web-app example on a TLS sandbox with the namespaces made and three users."""
    with running_sandbox(tmp_path / "sb", tls=True, users=tuple(map(user, USERS))) as sb:
        client = connect(str(sb.kubeconfig))
        try:
            for namespace in (NAMESPACE, "orders-staging"):
                body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
                client.request("POST", "/api/v1/namespaces", body=body)
            assert EXAMPLE.exists()
            yield Engine(sb, tmp_path, make_config(tmp_path), client)
        finally:
            client.close()


def test_an_edit_user_in_the_namespace_deploys(tls_engine: Engine) -> None:
    result = tls_engine.deploy("1.0.0", "--context", "ci-deploy-sandbox-deployer")
    assert result.returncode == 0, result.stderr
    assert tls_engine.live_image() == f"{IMAGE}:1.0.0"
    assert tls_engine.sb.user("deployer").token not in result.stdout + result.stderr


def test_a_view_user_is_refused_the_lock_in_one_line_exit_4(tls_engine: Engine) -> None:
    result = tls_engine.deploy("1.0.0", "--context", "ci-deploy-sandbox-viewer")
    assert result.returncode == 4, result.stderr
    assert only_line(result) == (
        'error: refused by the cluster (403): leases.coordination.k8s.io "ci-deploy-web-app" is '
        'forbidden: User "viewer" cannot get resource "leases" in API group '
        f'"coordination.k8s.io" in the namespace "web-app-staging"; {TODO}'
    )
    assert tls_engine.deployment() is None
    assert tls_engine.lease() is None


def test_a_user_of_another_namespace_is_refused_before_anything(tls_engine: Engine) -> None:
    result = tls_engine.deploy("1.0.0", "--context", "ci-deploy-sandbox-orders")
    assert result.returncode == 4, result.stderr
    assert only_line(result) == (
        'error: refused by the cluster (403): namespaces "web-app-staging" is forbidden: User '
        '"orders" cannot get resource "namespaces" in API group "" in the namespace '
        f'"web-app-staging"; {TODO}'
    )
    assert tls_engine.deployment() is None


def test_an_object_the_user_may_not_write_is_refused_in_the_dry_run(
    tls_engine: Engine, tmp_path: Path
) -> None:
    project = tmp_path / "orders"
    shutil.copytree(REPO / "examples" / "custom-templates", project)
    (project / "templates" / "04-quota.yaml").write_text(
        "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: '{{ app }}'\n"
        "spec:\n  hard:\n    pods: '10'\n"
    )
    tls_engine.config = project / "ci-deploy.yml"
    result = tls_engine.run(
        *("deploy", "--env", "staging", "--image", "registry.example.com/acme/orders:1.4.0"),
        *("--context", "ci-deploy-sandbox-orders"),
    )
    assert result.returncode == 4, result.stderr
    assert error_line(result) == (
        'error: refused by the cluster (403): resourcequotas "orders" is forbidden: User '
        '"orders" cannot patch resource "resourcequotas" in API group "" in the namespace '
        f'"orders-staging"; {TODO}'
    )
    assert tls_engine.client.get_or_none(DEPLOYMENT.path("orders-staging", "orders")) is None
    configmaps = tls_engine.client.get("/api/v1/namespaces/orders-staging/configmaps")["items"]
    assert configmaps == []


def test_a_wrong_token_is_one_line_exit_4(tls_engine: Engine, tmp_path: Path) -> None:
    text = tls_engine.sb.kubeconfig.read_text()
    token = tls_engine.sb.token
    assert token is not None
    wrong = tmp_path / "wrong-kubeconfig"
    wrong.write_text(text.replace(token, "not-a-valid-token-but-long-enough"))
    result = tls_engine.deploy("1.0.0", KUBECONFIG=str(wrong))
    assert result.returncode == 4, result.stderr
    assert only_line(result) == (
        "error: the API server did not accept the kubeconfig's credentials (401 Unauthorized); "
        "the token or client certificate of the kubeconfig's user is wrong or expired: renew "
        "it; nothing was changed"
    )
    assert "not-a-valid-token" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (401, "Unauthorized", True),
        (403, 'pods is forbidden: User "a" cannot list resource "pods" in API group ""', True),
        (403, 'forbidden: User "system:anonymous" cannot get path "/"', True),
        (403, 'admission webhook "policy.example.com" denied the request: no', False),
        (404, 'deployments.apps "web" not found', False),
    ],
)
def test_only_401_and_rbac_403_are_credential_refusals(
    status: int, message: str, expected: bool
) -> None:
    assert ApiError(status, "X", message).refused_credentials is expected
