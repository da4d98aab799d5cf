"""Watch streams over raw HTTP: framing, resume, bookmarks, timeouts, 410 Gone."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from kube_sandbox.testing import SandboxHandle, running_sandbox
from kube_sandbox.verbs import watch

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


def _watch(url: str, path: str, **params: str) -> requests.Response:
    resp = requests.get(url + path, params=params, stream=True, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp


def _create(url: str, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    body = {"metadata": {"name": name, "labels": labels or {}}, "data": {"k": name}}
    resp = requests.post(url + CONFIGMAPS, json=body, timeout=5)
    assert resp.status_code == 201
    return dict(resp.json())


def test_watch_is_chunked_json_lines(sandbox: SandboxHandle) -> None:
    _create(sandbox.url, "a")
    resp = _watch(sandbox.url, CONFIGMAPS, watch="true", timeoutSeconds="1")
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
    resp = _watch(sandbox.url, CONFIGMAPS, watch="1", resourceVersion=rv, timeoutSeconds="2")
    events = _events(resp, 2)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "b"),
        ("DELETED", "a"),
    ]
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(versions) and versions[0] > int(rv)


def test_watch_delivers_live_changes(sandbox: SandboxHandle) -> None:
    rv = str(sandbox.store.resource_version)
    resp = _watch(sandbox.url, CONFIGMAPS, watch="true", resourceVersion=rv, timeoutSeconds="5")
    _create(sandbox.url, "live")
    events = _events(resp, 1)
    assert events[0]["type"] == "ADDED" and events[0]["object"]["metadata"]["name"] == "live"


def test_watch_field_selector_on_name(sandbox: SandboxHandle) -> None:
    rv = str(sandbox.store.resource_version)
    for name in ("x", "y"):
        _create(sandbox.url, name)
    resp = _watch(
        sandbox.url,
        CONFIGMAPS,
        watch="true",
        resourceVersion=rv,
        fieldSelector="metadata.name=y",
        timeoutSeconds="1",
    )
    assert [e["object"]["metadata"]["name"] for e in _events(resp, 5)] == ["y"]


def test_watch_timeout_ends_with_a_bookmark(sandbox: SandboxHandle) -> None:
    rv = str(sandbox.store.resource_version)
    started = time.monotonic()
    resp = _watch(
        sandbox.url,
        CONFIGMAPS,
        watch="true",
        resourceVersion=rv,
        timeoutSeconds="1",
        allowWatchBookmarks="true",
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
    resp = _watch(
        sandbox.url,
        CONFIGMAPS,
        watch="true",
        resourceVersion=rv,
        timeoutSeconds="3",
        allowWatchBookmarks="true",
    )
    events = _events(resp, 2)
    assert [e["type"] for e in events] == ["BOOKMARK", "BOOKMARK"]


def test_watch_from_compacted_version_is_an_error_event_410(tmp_path: Path) -> None:
    with running_sandbox(tmp_path, controllers=False, history=10) as sb:
        for n in range(15):
            _create(sb.url, f"c{n}")
        resp = _watch(sb.url, CONFIGMAPS, watch="true", resourceVersion="2")
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
    resp = _watch(
        sandbox.url,
        CONFIGMAPS,
        watch="true",
        resourceVersion=rv,
        labelSelector="track=stable",
        timeoutSeconds="2",
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
    resp = _watch(sandbox.url, CONFIGMAPS, watch="true", resourceVersion=rv, timeoutSeconds="10")

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


# -- initial events: watch-list (sendInitialEvents), legacy "from now", validation -----------
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
NAMESPACES = "/api/v1/namespaces"
WATCH_LIST = {
    "watch": "true",
    "sendInitialEvents": "true",
    "resourceVersionMatch": "NotOlderThan",
    "allowWatchBookmarks": "true",
}
END = "k8s.io/initial-events-end"


def _summary(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(type, name) per event; a bookmark shows its initial-events-end annotation or ''."""
    rows = []
    for e in events:
        meta = e["object"]["metadata"]
        if e["type"] == "BOOKMARK":
            rows.append(("BOOKMARK", (meta.get("annotations") or {}).get(END, "")))
        else:
            rows.append((e["type"], meta["name"]))
    return rows


def _deployment(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    labels = labels or {"app": name}
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1"}]},
            },
        },
    }


@pytest.mark.parametrize(
    ("path", "create"),
    [
        (CONFIGMAPS, lambda n: {"metadata": {"name": n}}),
        (DEPLOYMENTS, _deployment),
        (NAMESPACES, lambda n: {"metadata": {"name": n}}),
    ],
    ids=["configmaps", "deployments", "namespaces"],
)
def test_watch_list_sends_state_then_an_annotated_bookmark_then_changes(
    sandbox: SandboxHandle, path: str, create: Any
) -> None:
    for name in ("a1", "a2"):
        assert requests.post(sandbox.url + path, json=create(name), timeout=5).status_code == 201
    existing, state_rv = sandbox.store.list(
        {CONFIGMAPS: "/configmaps", DEPLOYMENTS: "apps/deployments", NAMESPACES: "/namespaces"}[
            path
        ],
        None if path == NAMESPACES else "default",
    )
    resp = _watch(sandbox.url, path, **WATCH_LIST, timeoutSeconds="3")
    assert requests.post(sandbox.url + path, json=create("later"), timeout=5).status_code == 201
    events = _events(resp, len(existing) + 2)
    names = [o["metadata"]["name"] for o in existing]
    assert _summary(events) == [
        *[("ADDED", n) for n in names],
        ("BOOKMARK", "true"),
        ("ADDED", "later"),
    ]
    bookmark = events[len(names)]["object"]
    kind = existing[0]["kind"]
    assert bookmark["kind"] == kind and bookmark["metadata"]["resourceVersion"] == str(state_rv)
    assert int(events[-1]["object"]["metadata"]["resourceVersion"]) > state_rv


def test_watch_list_applies_label_and_field_selectors_to_the_initial_events(
    sandbox: SandboxHandle,
) -> None:
    _create(sandbox.url, "web-1", {"app": "web"})
    _create(sandbox.url, "web-2", {"app": "web"})
    _create(sandbox.url, "db-1", {"app": "db"})
    by_label = _watch(sandbox.url, CONFIGMAPS, **WATCH_LIST, labelSelector="app=web")
    assert _summary(_events(by_label, 3)) == [
        ("ADDED", "web-1"),
        ("ADDED", "web-2"),
        ("BOOKMARK", "true"),
    ]
    by_name = _watch(sandbox.url, CONFIGMAPS, **WATCH_LIST, fieldSelector="metadata.name=web-2")
    assert _summary(_events(by_name, 2)) == [("ADDED", "web-2"), ("BOOKMARK", "true")]
    nothing = _watch(sandbox.url, CONFIGMAPS, **WATCH_LIST, labelSelector="app=none")
    events = _events(nothing, 1)
    assert _summary(events) == [("BOOKMARK", "true")]
    assert events[0]["object"]["metadata"]["resourceVersion"] == str(sandbox.store.resource_version)


def test_watch_list_without_bookmarks_sends_no_bookmark(sandbox: SandboxHandle) -> None:
    _create(sandbox.url, "a")
    params = {k: v for k, v in WATCH_LIST.items() if k != "allowWatchBookmarks"}
    resp = _watch(sandbox.url, CONFIGMAPS, **params, timeoutSeconds="1")
    _create(sandbox.url, "b")
    assert _summary(_events(resp, 5)) == [("ADDED", "a"), ("ADDED", "b")]


def test_watch_list_from_a_resource_version_older_than_the_history_is_not_gone(
    tmp_path: Path,
) -> None:
    with running_sandbox(tmp_path, controllers=False, history=10) as sb:
        for n in range(15):
            _create(sb.url, f"c{n}")
        resp = _watch(sb.url, CONFIGMAPS, **WATCH_LIST, resourceVersion="2")
        events = _events(resp, 16)
    assert _summary(events) == [
        *[("ADDED", f"c{n}") for n in sorted(range(15), key=str)],
        (
            "BOOKMARK",
            "true",
        ),
    ]


def test_watch_list_from_a_future_resource_version_is_504_too_large(
    sandbox: SandboxHandle,
) -> None:
    future = str(sandbox.store.resource_version + 100)
    resp = requests.get(
        sandbox.url + CONFIGMAPS, params={**WATCH_LIST, "resourceVersion": future}, timeout=5
    )
    assert resp.status_code == 504
    status = resp.json()
    assert status["reason"] == "Timeout"
    assert status["message"].startswith(f"Timeout: Too large resource version: {future}, current:")
    assert status["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge"


def test_watch_without_initial_events_starts_at_the_latest_version(sandbox: SandboxHandle) -> None:
    _create(sandbox.url, "old")
    for rv in ("", "0"):
        params = {**WATCH_LIST, "sendInitialEvents": "false", "timeoutSeconds": "1"}
        if rv:
            params["resourceVersion"] = rv
        resp = _watch(sandbox.url, CONFIGMAPS, **params)
        _create(sandbox.url, f"new{rv or 'unset'}")
        # no initial events and no initial-events-end bookmark: the change, then the
        # bookmark that ends every stream that allows them
        assert _summary(_events(resp, 5)) == [("ADDED", f"new{rv or 'unset'}"), ("BOOKMARK", "")]


def test_watch_without_initial_events_from_a_version_replays_after_it(
    sandbox: SandboxHandle,
) -> None:
    rv = _create(sandbox.url, "a")["metadata"]["resourceVersion"]
    _create(sandbox.url, "b")
    params = {**WATCH_LIST, "sendInitialEvents": "false", "resourceVersion": rv}
    resp = _watch(sandbox.url, CONFIGMAPS, **params, timeoutSeconds="1")
    assert _summary(_events(resp, 5)) == [("ADDED", "b"), ("BOOKMARK", "")]


@pytest.mark.parametrize("rv", ["", "0"], ids=["unset", "zero"])
def test_legacy_watch_from_now_sends_the_state_first(sandbox: SandboxHandle, rv: str) -> None:
    _create(sandbox.url, "x", {"keep": "yes"})
    _create(sandbox.url, "y", {"keep": "no"})
    params = {"watch": "true", "labelSelector": "keep=yes", "timeoutSeconds": "1"}
    if rv:
        params["resourceVersion"] = rv
    plain = _watch(sandbox.url, CONFIGMAPS, **params)
    _create(sandbox.url, "z", {"keep": "yes"})
    assert _summary(_events(plain, 5)) == [("ADDED", "x"), ("ADDED", "z")]
    # defaulted to a watch-list (as upstream with WatchList on): with bookmarks, the end is marked
    marked = _watch(sandbox.url, CONFIGMAPS, **params, allowWatchBookmarks="true")
    assert _summary(_events(marked, 3)) == [
        ("ADDED", "x"),
        ("ADDED", "z"),
        ("BOOKMARK", "true"),
    ]


def test_watch_from_the_bookmark_version_resumes_exactly_after_the_state(
    sandbox: SandboxHandle,
) -> None:
    _create(sandbox.url, "a")
    first = _events(_watch(sandbox.url, CONFIGMAPS, **WATCH_LIST), 2)
    assert _summary(first) == [("ADDED", "a"), ("BOOKMARK", "true")]
    resume_rv = first[1]["object"]["metadata"]["resourceVersion"]
    _create(sandbox.url, "b")
    resp = _watch(
        sandbox.url, CONFIGMAPS, watch="true", resourceVersion=resume_rv, timeoutSeconds="1"
    )
    assert _summary(_events(resp, 5)) == [("ADDED", "b")]


@pytest.mark.parametrize(
    ("params", "causes"),
    [
        (
            {"watch": "true", "sendInitialEvents": "true"},
            [
                (
                    "resourceVersionMatch",
                    "FieldValueForbidden",
                    "Forbidden: sendInitialEvents requires setting resourceVersionMatch to "
                    "NotOlderThan",
                )
            ],
        ),
        (
            {"watch": "true", "resourceVersionMatch": "NotOlderThan"},
            [
                (
                    "resourceVersionMatch",
                    "FieldValueForbidden",
                    "Forbidden: resourceVersionMatch is forbidden for watch unless "
                    "sendInitialEvents is provided",
                )
            ],
        ),
        (
            {"watch": "true", "sendInitialEvents": "true", "resourceVersionMatch": "Exact"},
            [
                (
                    "resourceVersionMatch",
                    "FieldValueForbidden",
                    "Forbidden: sendInitialEvents requires setting resourceVersionMatch to "
                    "NotOlderThan",
                ),
                (
                    "resourceVersionMatch",
                    "FieldValueNotSupported",
                    'Unsupported value: "Exact": supported values: "NotOlderThan"',
                ),
            ],
        ),
        (
            {"sendInitialEvents": "true"},
            [
                (
                    "sendInitialEvents",
                    "FieldValueForbidden",
                    "Forbidden: sendInitialEvents is forbidden for list",
                )
            ],
        ),
        (
            {"resourceVersionMatch": "NotOlderThan"},
            [
                (
                    "resourceVersionMatch",
                    "FieldValueForbidden",
                    "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is "
                    "provided",
                )
            ],
        ),
        (
            {"resourceVersion": "0", "resourceVersionMatch": "Exact", "continue": "x"},
            [
                (
                    "resourceVersionMatch",
                    "FieldValueForbidden",
                    'Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
                ),
                (
                    "resourceVersionMatch",
                    "FieldValueForbidden",
                    "Forbidden: resourceVersionMatch is forbidden when continue is provided",
                ),
            ],
        ),
    ],
    ids=[
        "watch-initial-events-without-match",
        "watch-match-without-initial-events",
        "watch-initial-events-with-exact",
        "list-initial-events",
        "list-match-without-version",
        "list-exact-at-zero-with-continue",
    ],
)
def test_invalid_list_options_are_422_naming_each_field(
    sandbox: SandboxHandle, params: dict[str, str], causes: list[tuple[str, str, str]]
) -> None:
    resp = requests.get(sandbox.url + DEPLOYMENTS, params=params, timeout=5)
    assert resp.status_code == 422
    status = resp.json()
    assert (status["kind"], status["reason"], status["code"]) == ("Status", "Invalid", 422)
    texts = [f"{field}: {body}" for field, _, body in causes]
    joined = texts[0] if len(texts) == 1 else f"[{', '.join(texts)}]"
    assert status["message"] == f'ListOptions.meta.k8s.io "" is invalid: {joined}'
    assert status["details"]["kind"] == "ListOptions"
    assert status["details"]["group"] == "meta.k8s.io"
    assert [(c["field"], c["reason"], c["message"]) for c in status["details"]["causes"]] == causes


def test_watch_list_without_bookmarks_is_valid(sandbox: SandboxHandle) -> None:
    # upstream keeps allowWatchBookmarks optional (a resourceVersion=0 watch always got the state)
    params = {k: v for k, v in WATCH_LIST.items() if k != "allowWatchBookmarks"}
    resp = _watch(sandbox.url, NAMESPACES, **params, timeoutSeconds="1")
    assert {e["object"]["metadata"]["name"] for e in _events(resp, 10)} == {
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
    }
