"""Who may talk to the sandbox: loopback only, no foreign Host, no browsers, admin by token."""

from __future__ import annotations

import base64
import http.client
import json
import socket
from pathlib import Path
from typing import Any

import pytest
import requests

from kube_sandbox.apiserver.httpd import SandboxServer
from kube_sandbox.testing import SandboxHandle

CM = "/api/v1/namespaces/default/configmaps"
SECRET_VALUE = "hunter2-do-not-leak"


@pytest.fixture
def sandbox(bare_sandbox: SandboxHandle) -> SandboxHandle:
    return bare_sandbox


def raw(
    sb: SandboxHandle, method: str, path: str, body: bytes = b"", **headers: str
) -> tuple[int, dict[str, Any]]:
    """One request with exactly these headers (``Host`` included when given)."""
    host, port = sb.url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.putrequest(method, path, skip_host="Host" in headers, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name.replace("_", "-"), value)
        if body:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


def port(sb: SandboxHandle) -> str:
    return sb.url.rsplit(":", 1)[1]


def configmaps(sb: SandboxHandle) -> list[str]:
    return [obj["metadata"]["name"] for obj in sb.store.list("/configmaps")[0]]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.com"])
def test_a_server_off_loopback_is_refused(tmp_path: Path, host: str) -> None:
    with pytest.raises(ValueError, match="not a loopback address"):
        SandboxServer(host, 0, kubeconfig=tmp_path / "kc")
    assert not (tmp_path / "kc").exists()


@pytest.mark.parametrize("host", ["localhost", "127.0.0.2", "::1"])
def test_localhost_the_127_network_and_ipv6_loopback_are_served(host: str) -> None:
    if ":" in host and not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    server = SandboxServer(host, 0)
    server.start()
    try:
        assert requests.get(server.url + "/version", timeout=5).status_code == 200
    finally:
        server.stop()


def test_a_foreign_host_header_is_403(sandbox: SandboxHandle) -> None:
    """DNS rebinding: evil.example resolves to 127.0.0.1, the browser still sends its name."""
    code, body = raw(sandbox, "GET", CM, Host=f"evil.example:{port(sandbox)}")
    assert code == 403 and body["reason"] == "Forbidden" and body["kind"] == "Status"
    assert "items" not in body
    for host in (
        f"127.0.0.1:{port(sandbox)}",
        f"localhost:{port(sandbox)}",
        f"LocalHost:{port(sandbox)}",
    ):
        assert raw(sandbox, "GET", CM, Host=host)[0] == 200


def test_a_request_without_a_host_header_is_403(sandbox: SandboxHandle) -> None:
    code, body = raw(sandbox, "GET", CM, Host="")
    assert code == 403 and "Host" in body["message"]


def test_a_cross_origin_text_plain_post_creates_nothing(sandbox: SandboxHandle) -> None:
    manifest = json.dumps({"metadata": {"name": "from-a-web-page"}, "data": {"a": "1"}}).encode()
    headers = {"Host": f"127.0.0.1:{port(sandbox)}", "Content_Type": "text/plain"}
    code, body = raw(sandbox, "POST", CM, manifest, Origin="https://evil.example", **headers)
    assert code == 403 and body["reason"] == "Forbidden"
    assert "from-a-web-page" not in configmaps(sandbox)


def test_any_request_from_a_web_page_is_403(sandbox: SandboxHandle) -> None:
    code, _ = raw(sandbox, "GET", "/version", Origin="null")
    assert code == 403


@pytest.mark.parametrize(
    "ctype",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_a_write_with_a_form_content_type_is_415_and_creates_nothing(
    sandbox: SandboxHandle, ctype: str
) -> None:
    manifest = json.dumps({"metadata": {"name": "formed"}}).encode()
    code, body = raw(sandbox, "POST", CM, manifest, Content_Type=ctype)
    assert code == 415 and body["reason"] == "UnsupportedMediaType"
    assert "application/json" in body["message"]
    assert configmaps(sandbox) == []


@pytest.mark.parametrize(
    "ctype", ["application/json", "application/json; charset=utf-8", "application/yaml", ""]
)
def test_json_and_yaml_bodies_are_accepted(sandbox: SandboxHandle, ctype: str) -> None:
    manifest = json.dumps({"metadata": {"name": "ok"}}).encode()
    headers = {"Content_Type": ctype} if ctype else {}
    assert raw(sandbox, "POST", CM, manifest, **headers)[0] == 201


def secret(sb: SandboxHandle) -> None:
    value = base64.b64encode(SECRET_VALUE.encode()).decode()
    body = {"metadata": {"name": "db-credentials"}, "data": {"password": value}}
    resp = requests.post(sb.url + "/api/v1/namespaces/default/secrets", json=body, timeout=5)
    assert resp.status_code == 201


def test_the_state_dump_needs_the_admin_token(sandbox: SandboxHandle) -> None:
    secret(sandbox)
    encoded = base64.b64encode(SECRET_VALUE.encode()).decode()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": sandbox.admin_token}):
        resp = requests.get(sandbox.url + "/_sandbox/state", headers=headers, timeout=5)
        assert resp.status_code == 401 and resp.json()["reason"] == "Unauthorized"
        assert encoded not in resp.text and "db-credentials" not in resp.text
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    resp = requests.get(sandbox.url + "/_sandbox/state", headers=sandbox.admin_headers, timeout=5)
    assert resp.status_code == 200 and encoded in resp.text


def test_the_fault_settings_need_the_admin_token(sandbox: SandboxHandle) -> None:
    url = sandbox.url + "/_sandbox/faults"
    assert requests.get(url, timeout=5).status_code == 401
    assert requests.post(url, json={"error_503": 1.0}, timeout=5).status_code == 401
    assert sandbox.faults.settings.error_503 == 0.0
    resp = requests.post(url, json={"error_503": 1.0}, headers=sandbox.admin_headers, timeout=5)
    assert resp.status_code == 200 and sandbox.faults.settings.error_503 == 1.0


def test_the_admin_token_is_written_next_to_the_kubeconfig_mode_0600(
    sandbox: SandboxHandle,
) -> None:
    token_file = sandbox.kubeconfig.with_name(sandbox.kubeconfig.name + ".admin-token")
    assert token_file.read_text().strip() == sandbox.admin_token
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert len(sandbox.admin_token) >= 32
