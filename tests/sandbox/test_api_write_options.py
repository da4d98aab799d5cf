"""Write options: dryRun=All on every write, fieldValidation Strict/Warn/Ignore, managedFields."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from kube_sandbox.testing import SandboxHandle, deployment_manifest

CM = "/api/v1/namespaces/default/configmaps"
DEPLOY = "/apis/apps/v1/namespaces/default/deployments"


@pytest.fixture
def sandbox(bare_sandbox: SandboxHandle) -> SandboxHandle:
    return bare_sandbox


def _deployment(**spec_extra: Any) -> dict[str, Any]:
    return deployment_manifest("web", "app:1", 1, **spec_extra)


def _state(sb: SandboxHandle) -> tuple[int, list[Any]]:
    items, rv = sb.store.list("/configmaps")
    return rv, items


def test_dry_run_create_returns_defaulted_object_and_stores_nothing(sandbox: SandboxHandle) -> None:
    before = sandbox.store.resource_version
    resp = requests.post(
        sandbox.url + DEPLOY, params={"dryRun": "All"}, json=_deployment(), timeout=5
    )
    assert resp.status_code == 201
    assert resp.json()["spec"]["revisionHistoryLimit"] == 10
    assert resp.json()["metadata"]["uid"]
    assert requests.get(sandbox.url + DEPLOY + "/web", timeout=5).status_code == 404
    assert sandbox.store.resource_version == before


@pytest.mark.parametrize(
    "verb",
    ["put", "merge", "smp", "json", "apply", "delete", "deletecollection", "scale", "status"],
)
def test_dry_run_changes_nothing(sandbox: SandboxHandle, verb: str) -> None:
    created = requests.post(sandbox.url + DEPLOY, json=_deployment(), timeout=5).json()
    before = sandbox.store.resource_version
    url = sandbox.url + DEPLOY + "/web"
    params = {"dryRun": "All", "fieldManager": "tester", "force": "true"}
    changed = json.loads(json.dumps(created))
    changed["spec"]["replicas"] = 7
    if verb == "put":
        resp = requests.put(url, params=params, json=changed, timeout=5)
    elif verb in ("merge", "smp", "json", "apply"):
        ctype, body = {
            "merge": ("application/merge-patch+json", {"spec": {"replicas": 7}}),
            "smp": ("application/strategic-merge-patch+json", {"spec": {"replicas": 7}}),
            "json": (
                "application/json-patch+json",
                [{"op": "replace", "path": "/spec/replicas", "value": 7}],
            ),
            "apply": ("application/apply-patch+yaml", _deployment() | {"spec": changed["spec"]}),
        }[verb]
        resp = requests.patch(
            url, params=params, data=json.dumps(body), headers={"Content-Type": ctype}, timeout=5
        )
    elif verb == "delete":
        resp = requests.delete(url, params=params, timeout=5)
    elif verb == "deletecollection":
        resp = requests.delete(sandbox.url + DEPLOY, params=params, timeout=5)
    elif verb == "scale":
        resp = requests.patch(
            url + "/scale",
            params=params,
            data=json.dumps({"spec": {"replicas": 7}}),
            headers={"Content-Type": "application/merge-patch+json"},
            timeout=5,
        )
    else:
        changed["status"] = {"replicas": 7}
        resp = requests.put(url + "/status", params=params, json=changed, timeout=5)
    assert resp.status_code == 200, resp.text
    if verb not in ("delete", "deletecollection", "status"):
        shown = resp.json()
        assert shown["spec"]["replicas"] == 7  # the result of the write is shown ...
    after = requests.get(url, timeout=5).json()
    assert after == created  # ... but nothing changed
    assert sandbox.store.resource_version == before


def test_field_validation_strict_rejects_unknown_fields_with_their_paths(
    sandbox: SandboxHandle,
) -> None:
    body = _deployment(foo=1)
    body["spec"]["template"]["spec"]["containers"][0]["imagePolicy"] = "x"
    resp = requests.post(
        sandbox.url + DEPLOY, params={"fieldValidation": "Strict"}, json=body, timeout=5
    )
    assert resp.status_code == 400 and resp.json()["reason"] == "BadRequest"
    message = resp.json()["message"]
    assert "strict decoding error: " in message
    assert 'unknown field "spec.foo"' in message
    assert 'unknown field "spec.template.spec.containers[0].imagePolicy"' in message
    assert requests.get(sandbox.url + DEPLOY + "/web", timeout=5).status_code == 404


def test_field_validation_warn_drops_unknown_fields_and_warns(sandbox: SandboxHandle) -> None:
    resp = requests.post(
        sandbox.url + DEPLOY, params={"fieldValidation": "Warn"}, json=_deployment(foo=1), timeout=5
    )
    assert resp.status_code == 201
    assert (
        resp.headers["Warning"] == '299 - "unknown field \\"spec.foo\\""'
        or 'unknown field "spec.foo"' in resp.headers["Warning"]
    )
    assert "foo" not in resp.json()["spec"]


def test_field_validation_ignore_drops_silently(sandbox: SandboxHandle) -> None:
    resp = requests.post(
        sandbox.url + DEPLOY,
        params={"fieldValidation": "Ignore"},
        json=_deployment(foo=1),
        timeout=5,
    )
    assert resp.status_code == 201 and "Warning" not in resp.headers
    assert "foo" not in resp.json()["spec"]


def test_field_validation_strict_on_patch_and_apply(sandbox: SandboxHandle) -> None:
    requests.post(sandbox.url + DEPLOY, json=_deployment(), timeout=5)
    resp = requests.patch(
        sandbox.url + DEPLOY + "/web",
        params={"fieldValidation": "Strict"},
        data=json.dumps({"spec": {"replicaz": 2}}),
        headers={"Content-Type": "application/merge-patch+json"},
        timeout=5,
    )
    assert resp.status_code == 400 and 'unknown field "spec.replicaz"' in resp.json()["message"]
    resp = requests.patch(
        sandbox.url + DEPLOY + "/web",
        params={"fieldValidation": "Strict", "fieldManager": "t"},
        data=json.dumps(_deployment(bogus=True)),
        headers={"Content-Type": "application/apply-patch+yaml"},
        timeout=5,
    )
    assert resp.status_code == 400 and 'unknown field "spec.bogus"' in resp.json()["message"]


def test_apply_patch_accepts_yaml_bodies(sandbox: SandboxHandle) -> None:
    yaml_body = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\ndata:\n  key: value\n"
    resp = requests.patch(
        sandbox.url + CM + "/y",
        params={"fieldManager": "yaml-user"},
        data=yaml_body,
        headers={"Content-Type": "application/apply-patch+yaml"},
        timeout=5,
    )
    assert resp.status_code == 201
    assert resp.json()["data"] == {"key": "value"}
    assert resp.json()["metadata"]["managedFields"][0]["fieldsV1"] == {"f:data": {"f:key": {}}}


def test_update_moves_field_ownership_to_the_writer(sandbox: SandboxHandle) -> None:
    requests.post(
        sandbox.url + CM,
        params={"fieldManager": "alice"},
        json={"metadata": {"name": "c"}, "data": {"a": "1", "b": "1"}},
        timeout=5,
    )
    resp = requests.patch(
        sandbox.url + CM + "/c",
        params={"fieldManager": "bob"},
        data=json.dumps({"data": {"b": "2"}}),
        headers={"Content-Type": "application/merge-patch+json"},
        timeout=5,
    )
    managers = {m["manager"]: m["fieldsV1"] for m in resp.json()["metadata"]["managedFields"]}
    assert managers == {"alice": {"f:data": {"f:a": {}}}, "bob": {"f:data": {"f:b": {}}}}


def test_cbor_bodies_are_refused_with_415(sandbox: SandboxHandle) -> None:
    resp = requests.post(
        sandbox.url + CM,
        data=b"\xa1\x61a\x01",
        headers={"Content-Type": "application/cbor"},
        timeout=5,
    )
    assert resp.status_code == 415 and resp.json()["reason"] == "UnsupportedMediaType"
    assert "not CBOR" in resp.json()["message"]


def test_a_client_may_rewrite_managed_fields(sandbox: SandboxHandle) -> None:
    created = requests.post(
        sandbox.url + CM,
        params={"fieldManager": "old"},
        json={"metadata": {"name": "m"}, "data": {"a": "1"}},
        timeout=5,
    ).json()
    entry = dict(created["metadata"]["managedFields"][0], manager="renamed", operation="Apply")
    ops = [{"op": "replace", "path": "/metadata/managedFields", "value": [entry]}]
    resp = requests.patch(
        sandbox.url + CM + "/m",
        params={"fieldManager": "kubectl"},
        data=json.dumps(ops),
        headers={"Content-Type": "application/json-patch+json"},
        timeout=5,
    )
    assert [(m["manager"], m["operation"]) for m in resp.json()["metadata"]["managedFields"]] == [
        ("renamed", "Apply")
    ]
