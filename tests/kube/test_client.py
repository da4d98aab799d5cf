"""The typed client wrapper: errors keep the API's message; bad kubeconfigs are bad input."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ci_deploy.errors import UserInputError
from ci_deploy.kube.client import DEPLOYMENT, KubeClient, ResourceKind, connect
from ci_deploy.kube.errors import ApiError, NetworkError
from ci_deploy.kube.retry import RetryPolicy
from kube_sandbox.testing import SandboxHandle, running_sandbox


def test_not_found_carries_the_api_reason_and_message(
    cluster: tuple[SandboxHandle, KubeClient],
) -> None:
    _, client = cluster
    with pytest.raises(ApiError) as caught:
        client.get(DEPLOYMENT.path("default", "nope"))
    assert caught.value.status == 404
    assert caught.value.reason == "NotFound"
    assert '"nope" not found' in caught.value.message
    assert client.get_or_none(DEPLOYMENT.path("default", "nope")) is None


def test_429_retry_after_is_read_from_the_answer(cluster: tuple[SandboxHandle, KubeClient]) -> None:
    sb, client = cluster
    sb.faults.set(error_429=1.0, retry_after=3)
    try:
        with pytest.raises(ApiError) as caught:
            client.request_once("GET", "/api/v1/namespaces/default/configmaps")
    finally:
        sb.faults.reset()
    assert caught.value.status == 429
    assert caught.value.retry_after == 3.0


def test_transient_errors_are_retried_until_success(
    cluster: tuple[SandboxHandle, KubeClient],
) -> None:
    sb, client = cluster
    sb.faults.set(error_503=0.5, seed=3)
    try:
        for _ in range(20):
            assert client.get("/api/v1/namespaces/default/configmaps")["items"] == []
        injected = sb.faults.describe()["counts"].get("503", 0)
    finally:
        sb.faults.reset()
    assert injected >= 5


def test_unknown_kinds_are_found_through_discovery(
    cluster: tuple[SandboxHandle, KubeClient],
) -> None:
    _, client = cluster
    kind = client.resolve_kind("discovery.k8s.io/v1", "EndpointSlice")
    assert kind == ResourceKind("discovery.k8s.io/v1", "EndpointSlice", "endpointslices", True)
    with pytest.raises(ApiError, match="does not serve Widget"):
        client.resolve_kind("v1", "Widget")


def test_a_refused_connection_is_a_network_error_after_bounded_retries(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
        "users: [{name: u, user: {}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    client = connect(str(kubeconfig), policy=RetryPolicy(attempts=3, base_delay=0.01))
    with pytest.raises(NetworkError):
        client.get("/api/v1/namespaces")
    client.close()


def test_bad_kubeconfig_or_context_is_bad_input(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(UserInputError) as caught:
        connect(str(missing))
    assert caught.value.exit_code == 2
    with (
        running_sandbox(tmp_path, controllers=False) as sb,
        pytest.raises(UserInputError, match="production"),
    ):
        connect(str(sb.kubeconfig), "production")
