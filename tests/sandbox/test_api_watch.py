"""Watch streams over raw HTTP: framing, resume, bookmarks, timeouts, 410 Gone."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from ci_deploy.sandbox import watch
from ci_deploy.sandbox.testing import SandboxHandle, running_sandbox

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


@pytest.fixture
def sandbox(bare_sandbox: SandboxHandle) -> SandboxHandle:
    return bare_sandbox


def _events(resp: requests.Response, limit: int) -> list[dict[str, Any]]:
    events = []
    for line in resp.iter_lines():
        if line:
            events.append(json.loads(line))
        if len(events) >= limit:
            break
    resp.close()
    return events


def _create(url: str, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    body = {"metadata": {"name": name, "labels": labels or {}}, "data": {"k": name}}
    resp = requests.post(url + CONFIGMAPS, json=body, timeout=5)
    assert resp.status_code == 201
    return dict(resp.json())


def test_watch_is_chunked_json_lines(sandbox: SandboxHandle) -> None:
    _create(sandbox.url, "a")
    resp = requests.get(
        sandbox.url + CONFIGMAPS,
        params={"watch": "true", "timeoutSeconds": "1"},
        stream=True,
        timeout=5,
    )
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["Transfer-Encoding"] == "chunked"
    events = _events(resp, 10)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "a")]
    assert events[0]["object"]["kind"] == "ConfigMap"


def test_watch_from_resource_version_replays_later_changes_in_order(sandbox: SandboxHandle) -> None:
    first = _create(sandbox.url, "a")
    rv = first["metadata"]["resourceVersion"]
    _create(sandbox.url, "b")
    requests.delete(sandbox.url + CONFIGMAPS + "/a", timeout=5)
    resp = requests.get(
        sandbox.url + CONFIGMAPS,
        params={"watch": "1", "resourceVersion": rv, "timeoutSeconds": "2"},
        stream=True,
        timeout=5,
    )
    events = _events(resp, 2)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "b"),
        ("DELETED", "a"),
    ]
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(versions) and versions[0] > int(rv)


def test_watch_delivers_live_changes(sandbox: SandboxHandle) -> None:
    rv = str(sandbox.store.resource_version)
    resp = requests.get(
        sandbox.url + CONFIGMAPS,
        params={"watch": "true", "resourceVersion": rv, "timeoutSeconds": "5"},
        stream=True,
        timeout=10,
    )
    _create(sandbox.url, "live")
    events = _events(resp, 1)
    assert events[0]["type"] == "ADDED" and events[0]["object"]["metadata"]["name"] == "live"


def test_watch_field_selector_on_name(sandbox: SandboxHandle) -> None:
    rv = str(sandbox.store.resource_version)
    for name in ("x", "y"):
        _create(sandbox.url, name)
    resp = requests.get(
        sandbox.url + CONFIGMAPS,
        params={
            "watch": "true",
            "resourceVersion": rv,
            "fieldSelector": "metadata.name=y",
            "timeoutSeconds": "1",
        },
        stream=True,
        timeout=5,
    )
    assert [e["object"]["metadata"]["name"] for e in _events(resp, 5)] == ["y"]


def test_watch_timeout_ends_with_a_bookmark(sandbox: SandboxHandle) -> None:
    rv = str(sandbox.store.resource_version)
    started = time.monotonic()
    resp = requests.get(
        sandbox.url + CONFIGMAPS,
        params={
            "watch": "true",
            "resourceVersion": rv,
            "timeoutSeconds": "1",
            "allowWatchBookmarks": "true",
        },
        stream=True,
        timeout=5,
    )
    events = _events(resp, 5)
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 4
    assert events == [
        {
            "type": "BOOKMARK",
            "object": {
                "kind": "ConfigMap",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": rv},
            },
        }
    ]


def test_watch_sends_periodic_bookmarks(
    sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watch, "BOOKMARK_INTERVAL", 0.2)
    rv = str(sandbox.store.resource_version)
    resp = requests.get(
        sandbox.url + CONFIGMAPS,
        params={
            "watch": "true",
            "resourceVersion": rv,
            "timeoutSeconds": "3",
            "allowWatchBookmarks": "true",
        },
        stream=True,
        timeout=5,
    )
    events = _events(resp, 2)
    assert [e["type"] for e in events] == ["BOOKMARK", "BOOKMARK"]


def test_watch_from_compacted_version_is_an_error_event_410(tmp_path: Path) -> None:
    with running_sandbox(tmp_path, controllers=False, history=10) as sb:
        for n in range(15):
            _create(sb.url, f"c{n}")
        resp = requests.get(
            sb.url + CONFIGMAPS,
            params={"watch": "true", "resourceVersion": "2"},
            stream=True,
            timeout=5,
        )
        assert resp.status_code == 200
        events = _events(resp, 5)
    assert len(events) == 1 and events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert status["kind"] == "Status" and status["code"] == 410 and status["reason"] == "Expired"


def test_list_with_exact_old_resource_version_is_http_410(sandbox: SandboxHandle) -> None:
    _create(sandbox.url, "a")
    _create(sandbox.url, "b")
    resp = requests.get(
        sandbox.url + CONFIGMAPS,
        params={"resourceVersion": "1", "resourceVersionMatch": "Exact"},
        timeout=5,
    )
    assert resp.status_code == 410
    assert resp.json()["reason"] == "Expired"


def test_watch_across_namespaces_sees_each_namespace(sandbox: SandboxHandle) -> None:
    requests.post(
        sandbox.url + "/api/v1/namespaces", json={"metadata": {"name": "second"}}, timeout=5
    )
    rv = str(sandbox.store.resource_version)
    _create(sandbox.url, "one")
    requests.post(
        sandbox.url + "/api/v1/namespaces/second/configmaps",
        json={"metadata": {"name": "two"}},
        timeout=5,
    )
    resp = requests.get(
        sandbox.url + "/api/v1/configmaps",
        params={"watch": "true", "resourceVersion": rv, "timeoutSeconds": "1"},
        stream=True,
        timeout=5,
    )
    seen = [
        (e["object"]["metadata"]["namespace"], e["object"]["metadata"]["name"])
        for e in _events(resp, 5)
    ]
    assert seen == [("default", "one"), ("second", "two")]


def test_watch_with_selector_turns_label_changes_into_added_and_deleted(
    sandbox: SandboxHandle,
) -> None:
    _create(sandbox.url, "flip", {"track": "canary"})
    rv = str(sandbox.store.resource_version)
    resp = requests.get(
        sandbox.url + CONFIGMAPS,
        params={
            "watch": "true",
            "resourceVersion": rv,
            "labelSelector": "track=stable",
            "timeoutSeconds": "2",
        },
        stream=True,
        timeout=5,
    )
    for track in ("stable", "stable", "canary"):
        patch = {"metadata": {"labels": {"track": track}}, "data": {"n": str(time.monotonic())}}
        requests.patch(
            sandbox.url + CONFIGMAPS + "/flip",
            data=json.dumps(patch),
            headers={"Content-Type": "application/merge-patch+json"},
            timeout=5,
        )
    events = _events(resp, 3)
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert events[2]["object"]["metadata"]["labels"] == {
        "track": "stable"
    }  # the last matching state


def test_watch_sees_every_version_in_order_under_concurrent_writes(sandbox: SandboxHandle) -> None:
    import threading

    rv = str(sandbox.store.resource_version)
    resp = requests.get(
        sandbox.url + CONFIGMAPS,
        params={"watch": "true", "resourceVersion": rv, "timeoutSeconds": "10"},
        stream=True,
        timeout=15,
    )

    def writer(prefix: str) -> None:
        session = requests.Session()
        for n in range(20):
            session.post(
                sandbox.url + CONFIGMAPS, json={"metadata": {"name": f"{prefix}-{n}"}}, timeout=5
            )

    threads = [threading.Thread(target=writer, args=(p,)) for p in ("a", "b", "c")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    events = _events(resp, 60)
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(versions) and len(set(versions)) == 60
    assert {e["object"]["metadata"]["name"] for e in events} == {
        f"{p}-{n}" for p in "abc" for n in range(20)
    }
