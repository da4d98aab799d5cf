"""TLS and authentication, the default of ``sandbox serve``: real clients, real handshakes.

kubectl (every one of ``kubectl_binary``) and the official Python client verify the sandbox's
certificate against the CA in the kubeconfig; a wrong CA fails with the client's own TLS error;
a missing or wrong token is upstream's 401, what a ``--user``'s role does not allow upstream's
403 (the messages are kube-apiserver's, see docs/sandbox.md).
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import urllib3
import yaml
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from tests.sandbox.conftest import KubectlBinary

from kube_sandbox.apiserver.auth import Authenticator, User, parse_user, request_info
from kube_sandbox.apiserver.tls import SandboxCA
from kube_sandbox.protocol.messages import Request
from kube_sandbox.testing import SandboxHandle, deployment_manifest, running_sandbox, user

NS = "web-app-staging"
USERS = ("deployer=edit:web-app-staging", "viewer=view")
UNAUTHORIZED = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": "Unauthorized",
    "reason": "Unauthorized",
    "code": 401,
}


@pytest.fixture
def tls_sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    """A TLS sandbox with a deployer (edit in web-app-staging) and a viewer (view, cluster-wide),
    a namespace web-app-staging and a Deployment web in it and in default."""
    with running_sandbox(tmp_path, tls=True, users=tuple(user(u) for u in USERS)) as sb:
        with _api(sb.kubeconfig) as api:
            client.CoreV1Api(api).create_namespace({"metadata": {"name": NS}})
            for namespace in (NS, "default"):
                client.AppsV1Api(api).create_namespaced_deployment(
                    namespace, deployment_manifest("web", "nginx:1", 1)
                )
        yield sb


class _api:
    """The official client for one context of a kubeconfig, closed afterwards."""

    def __init__(self, kubeconfig: Path, context: str | None = None) -> None:
        self.client = config.new_client_from_config(config_file=str(kubeconfig), context=context)

    def __enter__(self) -> client.ApiClient:
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.client.close()


def kubectl(
    kc: KubectlBinary, kubeconfig: Path, *args: str, cache: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [kc.path, "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache), *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def with_ca(kubeconfig: Path, target: Path, ca_pem: bytes) -> Path:
    doc = yaml.safe_load(kubeconfig.read_text())
    doc["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    target.write_text(yaml.safe_dump(doc))
    return target


def with_token(kubeconfig: Path, target: Path, token: str) -> Path:
    doc = yaml.safe_load(kubeconfig.read_text())
    doc["users"][0]["user"] = {"token": token}
    target.write_text(yaml.safe_dump(doc))
    return target


def forbidden_body(message: str, **details: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "Forbidden",
        "details": details,
        "code": 403,
    }


# -- the kubeconfig, the certificate --------------------------------------------------------------
def test_the_kubeconfig_carries_the_ca_and_a_token_per_user(tls_sandbox: SandboxHandle) -> None:
    sb = tls_sandbox
    doc = yaml.safe_load(sb.kubeconfig.read_text())
    assert sb.kubeconfig.stat().st_mode & 0o777 == 0o600
    assert sb.url.startswith("https://127.0.0.1:")
    assert sb.ca_pem is not None
    assert doc["clusters"] == [
        {
            "name": "ci-deploy-sandbox",
            "cluster": {
                "server": sb.url,
                "certificate-authority-data": base64.b64encode(sb.ca_pem).decode(),
            },
        }
    ]
    assert doc["users"] == [
        {"name": "ci-deploy-sandbox", "user": {"token": sb.token}},
        {"name": "ci-deploy-sandbox-deployer", "user": {"token": sb.user("deployer").token}},
        {"name": "ci-deploy-sandbox-viewer", "user": {"token": sb.user("viewer").token}},
    ]
    assert [c["context"] for c in doc["contexts"]] == [
        {"cluster": "ci-deploy-sandbox", "user": "ci-deploy-sandbox", "namespace": "default"},
        {"cluster": "ci-deploy-sandbox", "user": "ci-deploy-sandbox-deployer", "namespace": NS},
        {
            "cluster": "ci-deploy-sandbox",
            "user": "ci-deploy-sandbox-viewer",
            "namespace": "default",
        },
    ]
    assert "insecure-skip-tls-verify" not in sb.kubeconfig.read_text()
    assert len({sb.token, sb.user("deployer").token, sb.user("viewer").token}) == 3


def test_the_certificate_names_every_loopback_name_and_verifies(
    tls_sandbox: SandboxHandle,
) -> None:
    sb = tls_sandbox
    assert sb.ca_pem is not None
    context = ssl.create_default_context(cadata=sb.ca_pem.decode())
    port = int(sb.url.rsplit(":", 1)[1])
    for name in ("127.0.0.1", "localhost"):
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        with context.wrap_socket(raw, server_hostname=name) as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
            sans = {value for _kind, value in tls.getpeercert()["subjectAltName"]}
    assert {"127.0.0.1", "localhost", "0:0:0:0:0:0:0:1"} <= sans


def test_kubectl_verifies_the_certificate_and_uses_the_token(
    tls_sandbox: SandboxHandle, kubectl_binary: KubectlBinary, tmp_path: Path
) -> None:
    result = kubectl(
        kubectl_binary, tls_sandbox.kubeconfig, "get", "ns", "-o", "name", cache=tmp_path / "c"
    )
    assert result.returncode == 0, result.stderr
    assert "namespace/web-app-staging" in result.stdout.splitlines()


def test_kubectl_with_the_wrong_ca_fails_with_its_own_tls_error(
    tls_sandbox: SandboxHandle, kubectl_binary: KubectlBinary, tmp_path: Path
) -> None:
    wrong = with_ca(tls_sandbox.kubeconfig, tmp_path / "wrong-ca", SandboxCA().cert_pem)
    result = kubectl(kubectl_binary, wrong, "get", "pods", cache=tmp_path / "c")
    assert result.returncode == 1
    last = result.stderr.splitlines()[-1]
    assert last.startswith(
        "Unable to connect to the server: tls: failed to verify certificate: x509: certificate "
        "signed by unknown authority"
    ), result.stderr


def test_the_python_client_verifies_the_certificate(tls_sandbox: SandboxHandle) -> None:
    with _api(tls_sandbox.kubeconfig) as api:
        assert api.configuration.verify_ssl is True
        names = [n.metadata.name for n in client.CoreV1Api(api).list_namespace().items]
    assert NS in names


def test_the_python_client_with_the_wrong_ca_fails_verification(
    tls_sandbox: SandboxHandle, tmp_path: Path
) -> None:
    wrong = with_ca(tls_sandbox.kubeconfig, tmp_path / "wrong-ca", SandboxCA().cert_pem)
    with _api(wrong) as api, pytest.raises(urllib3.exceptions.MaxRetryError) as caught:
        client.CoreV1Api(api).list_namespace()
    assert isinstance(caught.value.reason, urllib3.exceptions.SSLError)
    assert str(caught.value.reason).startswith(
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
    )


# -- 401 ------------------------------------------------------------------------------------------
def test_kubectl_with_a_wrong_token_is_told_to_log_in(
    tls_sandbox: SandboxHandle, kubectl_binary: KubectlBinary, tmp_path: Path
) -> None:
    wrong = with_token(tls_sandbox.kubeconfig, tmp_path / "wrong-token", "not-the-token")
    result = kubectl(kubectl_binary, wrong, "get", "pods", cache=tmp_path / "fresh")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    # A fresh discovery cache: discovery reads the 401 as client-go's generic message.
    assert lines[-1] == (
        "error: You must be logged in to the server "
        "(the server has asked for the client to provide credentials)"
    )
    assert all("the server has asked for the client to provide credentials" in x for x in lines)
    assert "not-the-token" not in result.stderr


def test_kubectl_with_a_warm_cache_and_a_wrong_token_shows_the_status_message(
    tls_sandbox: SandboxHandle, kubectl_binary: KubectlBinary, tmp_path: Path
) -> None:
    cache = tmp_path / "warm"
    warm = kubectl(kubectl_binary, tls_sandbox.kubeconfig, "get", "pods", cache=cache)
    assert warm.returncode == 0, warm.stderr
    wrong = with_token(tls_sandbox.kubeconfig, tmp_path / "wrong-token", "not-the-token")
    result = kubectl(kubectl_binary, wrong, "get", "pods", cache=cache)
    assert result.returncode == 1
    assert result.stderr == "error: You must be logged in to the server (Unauthorized)\n"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}], ids=["none", "bad"])
def test_requests_without_a_valid_token_get_the_upstream_401(
    tls_sandbox: SandboxHandle, headers: dict[str, str]
) -> None:
    assert tls_sandbox.ca_pem is not None
    ca = tls_sandbox.kubeconfig.with_name("ca.pem")
    ca.write_bytes(tls_sandbox.ca_pem)
    for path in ("/api", "/apis/apps/v1", "/api/v1/namespaces/default/pods", "/openapi/v2"):
        resp = requests.get(tls_sandbox.url + path, headers=headers, verify=str(ca), timeout=5)
        assert resp.status_code == 401, path
        assert resp.json() == UNAUTHORIZED
    for path in ("/version", "/healthz", "/livez", "/readyz"):
        resp = requests.get(tls_sandbox.url + path, headers=headers, verify=str(ca), timeout=5)
        # public without credentials (system:public-info-viewer); a wrong token is still 401
        assert resp.status_code == (200 if not headers else 401), path


def test_the_python_client_with_a_wrong_token_raises_unauthorized(
    tls_sandbox: SandboxHandle, tmp_path: Path
) -> None:
    wrong = with_token(tls_sandbox.kubeconfig, tmp_path / "wrong-token", "not-the-token")
    with _api(wrong) as api, pytest.raises(ApiException) as caught:
        client.AppsV1Api(api).list_namespaced_deployment(NS)
    assert caught.value.status == 401
    assert caught.value.reason == "Unauthorized"
    assert json.loads(caught.value.body) == UNAUTHORIZED


# -- 403 ------------------------------------------------------------------------------------------
def test_kubectl_viewer_patching_a_deployment_is_forbidden(
    tls_sandbox: SandboxHandle, kubectl_binary: KubectlBinary, tmp_path: Path
) -> None:
    patch = '{"spec":{"replicas":2}}'
    result = kubectl(
        kubectl_binary,
        tls_sandbox.kubeconfig,
        *("--context", "ci-deploy-sandbox-viewer", "-n", NS, "patch", "deployment", "web"),
        *("-p", patch),
        cache=tmp_path / "c",
    )
    assert result.returncode == 1
    assert result.stderr == (
        'Error from server (Forbidden): deployments.apps "web" is forbidden: User "viewer" '
        'cannot patch resource "deployments" in API group "apps" in the namespace '
        '"web-app-staging"\n'
    )
    reads = kubectl(
        kubectl_binary,
        tls_sandbox.kubeconfig,
        *("--context", "ci-deploy-sandbox-viewer", "get", "deployments", "-A", "-o", "name"),
        cache=tmp_path / "c",
    )
    assert reads.returncode == 0, reads.stderr
    assert reads.stdout.splitlines() == ["deployment.apps/web", "deployment.apps/web"]


def test_kubectl_deployer_outside_its_namespace_is_forbidden(
    tls_sandbox: SandboxHandle, kubectl_binary: KubectlBinary, tmp_path: Path
) -> None:
    deployer = ("--context", "ci-deploy-sandbox-deployer")
    inside = kubectl(
        kubectl_binary,
        tls_sandbox.kubeconfig,
        *deployer,
        *("scale", "deployment", "web", "--replicas", "2"),
        cache=tmp_path / "c",
    )
    assert inside.returncode == 0, inside.stderr  # its context's namespace: web-app-staging
    outside = kubectl(
        kubectl_binary,
        tls_sandbox.kubeconfig,
        *deployer,
        *("-n", "default", "get", "deployments"),
        cache=tmp_path / "c",
    )
    assert outside.returncode == 1
    assert outside.stderr == (
        'Error from server (Forbidden): deployments.apps is forbidden: User "deployer" cannot '
        'list resource "deployments" in API group "apps" in the namespace "default"\n'
    )
    cluster = kubectl(
        kubectl_binary,
        tls_sandbox.kubeconfig,
        *deployer,
        *("create", "namespace", "other"),
        cache=tmp_path / "c",
    )
    assert cluster.returncode == 1
    assert cluster.stderr.splitlines()[-1].endswith(
        'namespaces is forbidden: User "deployer" cannot create resource "namespaces" in API '
        'group "" at the cluster scope'
    )


def test_the_python_client_gets_the_upstream_403_status(tls_sandbox: SandboxHandle) -> None:
    with _api(tls_sandbox.kubeconfig, "ci-deploy-sandbox-viewer") as api:
        apps = client.AppsV1Api(api)
        assert apps.read_namespaced_deployment("web", NS).spec.replicas == 1
        with pytest.raises(ApiException) as caught:
            apps.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 3}})
    assert caught.value.status == 403
    assert caught.value.reason == "Forbidden"
    assert json.loads(caught.value.body) == forbidden_body(
        'deployments.apps "web" is forbidden: User "viewer" cannot patch resource '
        '"deployments/scale" in API group "apps" in the namespace "web-app-staging"',
        name="web",
        group="apps",
        kind="deployments",
    )
    deployer = _api(tls_sandbox.kubeconfig, "ci-deploy-sandbox-deployer")
    with deployer as api, pytest.raises(ApiException) as caught:
        client.CoreV1Api(api).create_namespaced_config_map("default", {"metadata": {"name": "x"}})
    assert json.loads(caught.value.body) == forbidden_body(
        'configmaps is forbidden: User "deployer" cannot create resource "configmaps" in API '
        'group "" in the namespace "default"',
        kind="configmaps",
    )


def test_a_non_resource_path_outside_discovery_is_forbidden(tls_sandbox: SandboxHandle) -> None:
    assert tls_sandbox.ca_pem is not None
    ca = tls_sandbox.kubeconfig.with_name("ca.pem")
    ca.write_bytes(tls_sandbox.ca_pem)
    viewer = {"Authorization": f"Bearer {tls_sandbox.user('viewer').token}"}
    resp = requests.get(tls_sandbox.url + "/metrics", headers=viewer, verify=str(ca), timeout=5)
    assert resp.status_code == 403
    assert resp.json() == forbidden_body('forbidden: User "viewer" cannot get path "/metrics"')
    assert requests.get(tls_sandbox.url + "/apis", headers=viewer, verify=str(ca), timeout=5).ok


def test_the_admin_endpoints_keep_their_own_token(tls_sandbox: SandboxHandle) -> None:
    """The cluster-admin token does not open /_sandbox/ (the state dump holds every Secret
    and fault settings change every client's answers), nor the admin token the API."""
    sb = tls_sandbox
    assert sb.ca_pem is not None
    ca = sb.kubeconfig.with_name("ca.pem")
    ca.write_bytes(sb.ca_pem)
    cluster_admin = {"Authorization": f"Bearer {sb.token}"}
    resp = requests.get(
        sb.url + "/_sandbox/state", headers=cluster_admin, verify=str(ca), timeout=5
    )
    assert resp.status_code == 401
    assert resp.json()["message"].startswith("the admin endpoints /_sandbox/ need")
    admin = requests.get(sb.url + "/_sandbox/state", headers=sb.admin_headers, verify=str(ca))
    assert admin.status_code == 200
    api = requests.get(sb.url + "/api/v1/pods", headers=sb.admin_headers, verify=str(ca))
    assert api.status_code == 401


def test_a_client_certificate_signed_by_the_ca_names_its_user(
    tls_sandbox: SandboxHandle, tmp_path: Path
) -> None:
    sb = tls_sandbox
    assert sb.ca_pem is not None
    ca = tmp_path / "ca.pem"
    ca.write_bytes(sb.ca_pem)
    issued = sb.server.ca.client_certificate("deployer") if sb.server.ca else None
    assert issued is not None
    cert = tmp_path / "client.pem"
    cert.write_bytes(issued.cert_pem + issued.key_pem)
    ok = requests.get(
        sb.url + f"/apis/apps/v1/namespaces/{NS}/deployments", cert=str(cert), verify=str(ca)
    )
    assert ok.status_code == 200
    assert [d["metadata"]["name"] for d in ok.json()["items"]] == ["web"]
    denied = requests.get(sb.url + "/api/v1/secrets", cert=str(cert), verify=str(ca))
    assert denied.json()["message"] == (
        'secrets is forbidden: User "deployer" cannot list resource "secrets" in API group "" '
        "at the cluster scope"
    )
    foreign = SandboxCA().client_certificate("deployer")
    cert.write_bytes(foreign.cert_pem + foreign.key_pem)
    with pytest.raises(requests.exceptions.ConnectionError):  # the handshake refuses it
        requests.get(sb.url + "/api", cert=str(cert), verify=str(ca), timeout=5)


# -- what RBAC decides on -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "target", "expected"),
    [
        ("GET", "/api/v1/namespaces/ns/pods", ("list", "", "pods", "", "", "ns")),
        ("GET", "/api/v1/namespaces/ns/pods?watch=1", ("watch", "", "pods", "", "", "ns")),
        ("GET", "/api/v1/watch/namespaces/ns/pods", ("watch", "", "pods", "", "", "ns")),
        (
            "GET",
            "/api/v1/namespaces/ns/pods?fieldSelector=metadata.name%3Dweb-0",
            ("list", "", "pods", "", "web-0", "ns"),
        ),
        ("DELETE", "/api/v1/namespaces/ns/pods", ("deletecollection", "", "pods", "", "", "ns")),
        (
            "PATCH",
            "/apis/apps/v1/namespaces/ns/deployments/web/scale",
            ("patch", "apps", "deployments", "scale", "web", "ns"),
        ),
        ("GET", "/api/v1/namespaces/foo", ("get", "", "namespaces", "", "foo", "foo")),
        (
            "PUT",
            "/api/v1/namespaces/foo/status",
            ("update", "", "namespaces", "status", "foo", "foo"),
        ),
        ("POST", "/api/v1/namespaces", ("create", "", "namespaces", "", "", "")),
        (
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/view",
            ("get", "rbac.authorization.k8s.io", "clusterroles", "", "view", ""),
        ),
    ],
)
def test_request_info_reads_requests_as_kube_apiserver(
    method: str, target: str, expected: tuple[str, ...]
) -> None:
    info = request_info(Request.parse(method, target, {}, b""))
    assert info.resource_request
    got = (info.verb, info.group, info.resource, info.subresource, info.name, info.namespace)
    assert got == expected


@pytest.mark.parametrize("path", ["/", "/api", "/apis", "/apis/apps", "/apis/apps/v1", "/version"])
def test_short_paths_are_non_resource_requests(path: str) -> None:
    info = request_info(Request.parse("GET", path, {}, b""))
    assert (info.resource_request, info.verb, info.path) == (False, "get", path)


@pytest.mark.parametrize(
    ("role", "allowed", "denied"),
    [
        ("view", ["GET /api/v1/namespaces/x/pods"], ["GET /api/v1/namespaces/x/secrets"]),
        (
            "edit",
            [
                "GET /api/v1/namespaces/x/secrets",
                "POST /apis/coordination.k8s.io/v1/namespaces/x/leases",
            ],
            [
                "POST /apis/rbac.authorization.k8s.io/v1/namespaces/x/roles",
                "PUT /apis/apps/v1/namespaces/x/deployments/web/status",
            ],
        ),
        (
            "admin",
            ["POST /apis/rbac.authorization.k8s.io/v1/namespaces/x/roles"],
            ["POST /api/v1/namespaces", "PUT /api/v1/namespaces/x/resourcequotas/q"],
        ),
        ("cluster-admin", ["POST /api/v1/namespaces", "GET /metrics"], []),
    ],
)
def test_the_built_in_roles_allow_what_upstream_allows(
    role: str, allowed: list[str], denied: list[str]
) -> None:
    who = User("u", role)
    auth = Authenticator((who,))
    for line, expect in [*((a, None) for a in allowed), *((d, 403) for d in denied)]:
        method, target = line.split(" ")
        req = Request.parse(method, target, {"Authorization": f"Bearer {who.token}"}, b"")
        refused = auth.refusal(req)
        assert (refused.code if refused else None) == expect, line


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("deployer", "'deployer': expected NAME=ROLE[:NAMESPACE]"),
        (
            "deployer=owner",
            "'deployer=owner': ROLE must be one of view, edit, admin, cluster-admin",
        ),
        (
            "d=edit:Not_A_Namespace",
            "'d=edit:Not_A_Namespace': 'Not_A_Namespace' is not a namespace",
        ),
    ],
)
def test_user_specs_are_checked(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_user(spec)


# -- sandbox serve ------------------------------------------------------------------------------
SERVE = (sys.executable, "-m", "ci_deploy", "sandbox", "serve", "--port", "0")


USER_ARGS = ("--user", "viewer=view", "--cert-user", "auditor=view:default")


def test_serve_defaults_to_tls_and_tokens_that_kubectl_uses(
    tmp_path: Path, kubectl_binary: KubectlBinary
) -> None:
    kubeconfig = tmp_path / "kc"
    proc = subprocess.Popen(
        [*SERVE, "--kubeconfig", str(kubeconfig), *USER_ARGS],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().rstrip("\n") for _ in range(5)]
        match = re.fullmatch(
            r"ci-deploy sandbox: serving (https://127\.0\.0\.1:\d+) \(kubeconfig: (.+), "
            r"context ci-deploy-sandbox\)",
            lines[0],
        )
        assert match and match.group(2) == str(kubeconfig), lines
        assert lines[1:4] == [
            "ci-deploy sandbox: TLS with a CA made now, in the kubeconfig with the cluster-admin "
            "token",
            "ci-deploy sandbox: user viewer (view cluster-wide): context ci-deploy-sandbox-viewer",
            "ci-deploy sandbox: user auditor (view in namespace default, client certificate): "
            "context ci-deploy-sandbox-auditor",
        ]
        doc = yaml.safe_load(kubeconfig.read_text())
        tokens = [u["user"]["token"] for u in doc["users"] if "token" in u["user"]]
        key = doc["users"][-1]["user"]["client-key-data"]
        assert len(tokens) == 2
        assert doc["clusters"][0]["cluster"]["certificate-authority-data"]
        assert kubeconfig.stat().st_mode & 0o777 == 0o600
        assert not any(token in "\n".join(lines) for token in tokens)
        admin = kubectl(kubectl_binary, kubeconfig, "get", "ns", "default", cache=tmp_path / "c")
        assert admin.returncode == 0, admin.stderr
        refused = kubectl(
            kubectl_binary,
            kubeconfig,
            *("--context", "ci-deploy-sandbox-viewer", "create", "configmap", "x"),
            cache=tmp_path / "c",
        )
        assert refused.returncode == 1
        assert refused.stderr.splitlines()[-1].endswith(
            'configmaps is forbidden: User "viewer" cannot create resource "configmaps" in API '
            'group "" in the namespace "default"'
        )
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert not kubeconfig.exists()
    assert not any(secret in out + err for secret in [*tokens, key])


def test_serve_without_cryptography_says_what_to_install(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow" / "cryptography"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('no cryptography here')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shadow.parent), *sys.path])}
    result = subprocess.run(
        [*SERVE, "--kubeconfig", str(tmp_path / "kc")],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "error: TLS needs the cryptography package: install ci-deploy[sandbox] (pip install "
        "'ci-deploy[sandbox]'), or pass --insecure-http for plain HTTP without authentication\n"
    )
    assert not (tmp_path / "kc").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--user", "viewer=view", "--insecure-http"), "--user needs TLS"),
        (("--cert-user", "viewer=view", "--insecure-http"), "--user needs TLS"),
        (("--user", "a=view", "--cert-user", "a=edit"), "each NAME once"),
        (("--user", "viewer=owner"), "ROLE must be one of view, edit, admin, cluster-admin"),
        (("--user", "a=view", "--user", "a=edit"), "each NAME once"),
    ],
)
def test_serve_refuses_bad_users(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = subprocess.run(
        [*SERVE, "--kubeconfig", str(tmp_path / "kc"), *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "kc").exists()


# -- more of the same, through other paths ------------------------------------------------------
def test_a_watch_over_tls_streams_and_a_forbidden_watch_is_403(tls_sandbox: SandboxHandle) -> None:
    with _api(tls_sandbox.kubeconfig, "ci-deploy-sandbox-viewer") as api:
        apps = client.AppsV1Api(api)
        events = watch.Watch().stream(
            apps.list_namespaced_deployment, NS, timeout_seconds=2, _request_timeout=10
        )
        seen = [(e["type"], e["object"].metadata.name) for e in events]
        assert seen[0] == ("ADDED", "web")  # then the controllers' status updates, if any
        assert {name for _type, name in seen} == {"web"}
        with pytest.raises(ApiException) as caught:
            client.CoreV1Api(api).list_secret_for_all_namespaces(watch=True, timeout_seconds=1)
    assert json.loads(caught.value.body)["message"] == (
        'secrets is forbidden: User "viewer" cannot watch resource "secrets" in API group "" at '
        "the cluster scope"
    )


def test_plain_http_to_the_tls_port_fails_and_the_server_serves_on(
    tls_sandbox: SandboxHandle,
) -> None:
    plain = tls_sandbox.url.replace("https://", "http://")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(plain + "/version", timeout=5)
    with _api(tls_sandbox.kubeconfig) as api:
        assert client.VersionApi(api).get_code().major == "1"


def test_a_merged_kubeconfig_gets_every_user_and_its_bytes_back(tmp_path: Path) -> None:
    from kube_sandbox.apiserver.httpd import SandboxServer

    kubeconfig = tmp_path / "config"
    original = (
        "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster: {server: 'https://x'}\n"
        "users:\n- name: me\n  user: {token: mine}\ncontexts:\n- name: prod\n"
        "  context: {cluster: prod, user: me}\ncurrent-context: prod\n"
    )
    kubeconfig.write_text(original)
    server = SandboxServer(
        kubeconfig=kubeconfig, merge_kubeconfig=True, tls=True, users=(user("viewer=view"),)
    )
    server.start()
    try:
        doc = yaml.safe_load(kubeconfig.read_text())
        assert [u["name"] for u in doc["users"]] == [
            "me",
            "ci-deploy-sandbox",
            "ci-deploy-sandbox-viewer",
        ]
        assert doc["current-context"] == "prod"
        with _api(kubeconfig, "ci-deploy-sandbox-viewer") as api:
            assert client.CoreV1Api(api).read_namespace("default").metadata.name == "default"
    finally:
        server.stop()
    assert kubeconfig.read_text() == original


def test_a_cert_user_signs_in_with_the_client_certificate_in_the_kubeconfig(
    tmp_path: Path, kubectl_binary: KubectlBinary
) -> None:
    signer = user("auditor=view:default", certificate=True)
    with running_sandbox(tmp_path, tls=True, users=(signer,)) as sb:
        doc = yaml.safe_load(sb.kubeconfig.read_text())
        entry = next(u["user"] for u in doc["users"] if u["name"] == "ci-deploy-sandbox-auditor")
        assert sorted(entry) == ["client-certificate-data", "client-key-data"]  # no token
        context = ("--context", "ci-deploy-sandbox-auditor")
        reads = kubectl(kubectl_binary, sb.kubeconfig, *context, "get", "pods", cache=tmp_path)
        assert reads.returncode == 0, reads.stderr
        writes = kubectl(
            kubectl_binary,
            sb.kubeconfig,
            *context,
            *("create", "configmap", "x"),
            cache=tmp_path,
        )
        assert writes.returncode == 1
        assert writes.stderr.splitlines()[-1].endswith(
            'configmaps is forbidden: User "auditor" cannot create resource "configmaps" in API '
            'group "" in the namespace "default"'
        )
        with _api(sb.kubeconfig, "ci-deploy-sandbox-auditor") as api:
            assert client.CoreV1Api(api).list_namespaced_pod("default").items == []
        assert sb.ca_pem is not None
        ca = tmp_path / "ca.pem"
        ca.write_bytes(sb.ca_pem)
        its_token = {"Authorization": f"Bearer {signer.token}"}  # minted, never written: refused
        resp = requests.get(sb.url + "/api/v1/pods", headers=its_token, verify=str(ca), timeout=5)
        assert resp.status_code == 401
