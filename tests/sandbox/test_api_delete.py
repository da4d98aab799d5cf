"""Deletion: propagation policies through the garbage collector, finalizers, namespaces."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from kube_sandbox.testing import SandboxHandle

CM = "/api/v1/namespaces/default/configmaps"


@pytest.fixture
def sandbox(bare_sandbox: SandboxHandle) -> SandboxHandle:
    return bare_sandbox


def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


def _owned(url: str, name: str, owner: dict[str, Any] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if owner is not None:
        meta["ownerReferences"] = [
            {
                "apiVersion": owner["apiVersion"],
                "kind": owner["kind"],
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    resp = requests.post(url + CM, json={"metadata": meta}, timeout=5)
    assert resp.status_code == 201
    return dict(resp.json())


def _exists(url: str, name: str) -> bool:
    return requests.get(f"{url}{CM}/{name}", timeout=5).status_code == 200


def _tree(url: str) -> None:
    """root ← child ← grandchild, plus an unrelated object."""
    root = _owned(url, "root", None)
    child = _owned(url, "child", root)
    _owned(url, "grandchild", child)
    _owned(url, "unrelated", None)


def test_background_delete_collects_owned_objects_recursively(sandbox: SandboxHandle) -> None:
    _tree(sandbox.url)
    resp = requests.delete(sandbox.url + CM + "/root", timeout=5)
    assert resp.status_code == 200 and resp.json()["status"] == "Success"
    assert not _exists(sandbox.url, "root")
    assert wait_until(
        lambda: not _exists(sandbox.url, "child") and not _exists(sandbox.url, "grandchild")
    )
    assert _exists(sandbox.url, "unrelated")


def test_foreground_delete_removes_dependents_before_the_owner(sandbox: SandboxHandle) -> None:
    _tree(sandbox.url)
    resp = requests.delete(
        sandbox.url + CM + "/root",
        json={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"},
        timeout=5,
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["kind"] == "ConfigMap" and body["metadata"]["deletionTimestamp"]
    assert "foregroundDeletion" in body["metadata"]["finalizers"]
    assert wait_until(lambda: not _exists(sandbox.url, "root"))
    assert not _exists(sandbox.url, "child") and not _exists(sandbox.url, "grandchild")
    assert _exists(sandbox.url, "unrelated")


def test_orphan_delete_keeps_dependents_without_the_owner_reference(sandbox: SandboxHandle) -> None:
    _tree(sandbox.url)
    resp = requests.delete(
        sandbox.url + CM + "/root", params={"propagationPolicy": "Orphan"}, timeout=5
    )
    assert resp.status_code == 200
    assert not _exists(sandbox.url, "root")
    child = requests.get(sandbox.url + CM + "/child", timeout=5).json()
    assert "ownerReferences" not in child["metadata"]
    assert _exists(sandbox.url, "grandchild")


def test_object_with_a_second_living_owner_survives(sandbox: SandboxHandle) -> None:
    first = _owned(sandbox.url, "first", None)
    second = _owned(sandbox.url, "second", None)
    shared = _owned(sandbox.url, "shared", first)
    shared["metadata"]["ownerReferences"].append(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": "second",
            "uid": second["metadata"]["uid"],
        }
    )
    requests.put(sandbox.url + CM + "/shared", json=shared, timeout=5)
    requests.delete(sandbox.url + CM + "/first", timeout=5)
    assert sandbox.server.gc.wait_idle()
    assert _exists(sandbox.url, "shared")
    requests.delete(sandbox.url + CM + "/second", timeout=5)
    assert wait_until(lambda: not _exists(sandbox.url, "shared"))


def test_finalizers_hold_deletion_until_removed(sandbox: SandboxHandle) -> None:
    resp = requests.post(
        sandbox.url + CM,
        json={"metadata": {"name": "held", "finalizers": ["example.com/hold"]}},
        timeout=5,
    )
    assert resp.status_code == 201
    deleting = requests.delete(sandbox.url + CM + "/held", timeout=5).json()
    assert deleting["metadata"]["deletionTimestamp"]
    assert _exists(sandbox.url, "held")
    current = requests.get(sandbox.url + CM + "/held", timeout=5).json()
    current["metadata"]["finalizers"] = []
    requests.put(sandbox.url + CM + "/held", json=current, timeout=5)
    assert wait_until(lambda: not _exists(sandbox.url, "held"))


def test_delete_preconditions(sandbox: SandboxHandle) -> None:
    obj = _owned(sandbox.url, "pre", None)
    resp = requests.delete(
        sandbox.url + CM + "/pre", json={"preconditions": {"resourceVersion": "1"}}, timeout=5
    )
    assert resp.status_code == 409
    resp = requests.delete(
        sandbox.url + CM + "/pre",
        json={"preconditions": {"uid": obj["metadata"]["uid"]}},
        timeout=5,
    )
    assert resp.status_code == 200


def test_delete_missing_is_404(sandbox: SandboxHandle) -> None:
    resp = requests.delete(sandbox.url + CM + "/ghost", timeout=5)
    assert resp.status_code == 404 and resp.json()["message"] == 'configmaps "ghost" not found'


def test_deletecollection_with_label_selector(sandbox: SandboxHandle) -> None:
    for name, team in (("a", "x"), ("b", "x"), ("c", "y")):
        requests.post(
            sandbox.url + CM, json={"metadata": {"name": name, "labels": {"team": team}}}, timeout=5
        )
    resp = requests.delete(sandbox.url + CM, params={"labelSelector": "team=x"}, timeout=5)
    assert resp.status_code == 200 and resp.json()["kind"] == "ConfigMapList"
    assert sorted(i["metadata"]["name"] for i in resp.json()["items"]) == ["a", "b"]
    left = [
        i["metadata"]["name"] for i in requests.get(sandbox.url + CM, timeout=5).json()["items"]
    ]
    assert left == ["c"]


def test_namespace_delete_terminates_then_removes_contents(sandbox: SandboxHandle) -> None:
    requests.post(
        sandbox.url + "/api/v1/namespaces", json={"metadata": {"name": "doomed"}}, timeout=5
    )
    requests.post(
        sandbox.url + "/api/v1/namespaces/doomed/configmaps",
        json={"metadata": {"name": "x"}},
        timeout=5,
    )
    resp = requests.delete(sandbox.url + "/api/v1/namespaces/doomed", timeout=5)
    assert resp.status_code == 200 and resp.json()["status"]["phase"] == "Terminating"
    assert wait_until(
        lambda: (
            requests.get(sandbox.url + "/api/v1/namespaces/doomed", timeout=5).status_code == 404
        )
    )
    assert sandbox.store.list("/configmaps", "doomed")[0] == []


def test_object_created_for_a_missing_owner_is_collected(sandbox: SandboxHandle) -> None:
    ghost = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "ghost", "uid": "no-such-uid"},
    }
    orphan = _owned(sandbox.url, "orphan", ghost)
    assert orphan["metadata"]["ownerReferences"][0]["uid"] == "no-such-uid"
    assert wait_until(lambda: not _exists(sandbox.url, "orphan"))
    assert _owned(sandbox.url, "standalone", None)  # objects without owners stay
    assert sandbox.server.gc.wait_idle()
    assert _exists(sandbox.url, "standalone")
