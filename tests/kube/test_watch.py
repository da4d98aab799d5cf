"""Watches against the sandbox: resume after a cut stream, relist after 410 Gone."""

from __future__ import annotations

import queue
import time
from collections import deque

from ci_deploy.kube.client import KubeClient, ResourceKind
from ci_deploy.kube.watch import Event, ResourceWatcher
from kube_sandbox.testing import SandboxHandle

CONFIGMAP = ResourceKind("v1", "ConfigMap", "configmaps")


def create(client: KubeClient, name: str) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"k": name},
    }
    client.request("POST", CONFIGMAP.path("default"), body=body)


def collect(events: queue.Queue[Event | None], names: set[str], seconds: float = 10) -> list[str]:
    """Names of ADDED objects until all ``names`` were seen (bounded)."""
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while not names <= set(seen) and time.monotonic() < deadline:
        try:
            event = events.get(timeout=deadline - time.monotonic())
        except queue.Empty:
            break
        assert event is not None
        assert event.type != "ERROR", event.error
        if event.type == "ADDED":
            seen += [o["metadata"]["name"] for o in event.objects]
    return seen


def test_cut_streams_resume_without_losing_or_repeating_events(
    cluster: tuple[SandboxHandle, KubeClient],
) -> None:
    sb, client = cluster
    sb.faults.set(watch_max_events=2)
    events: queue.Queue[Event | None] = queue.Queue()
    watcher = ResourceWatcher(client, CONFIGMAP, "default", events)
    watcher.start()
    try:
        assert events.get(timeout=5).type == "SYNC"  # type: ignore[union-attr]
        names = {f"cm-{i}" for i in range(10)}
        for name in sorted(names):
            create(client, name)
        seen = collect(events, names)
    finally:
        watcher.stop()
    assert sorted(seen) == sorted(names), "every object exactly once"
    assert watcher.reconnects >= 4


def test_gone_relists_and_keeps_following(cluster: tuple[SandboxHandle, KubeClient]) -> None:
    sb, client = cluster
    # Compaction: keep only the last few events, so resourceVersion 1 is long gone.
    sb.store._history = deque(sb.store._history, maxlen=5)
    for i in range(10):
        create(client, f"old-{i}")

    class StaleStart(ResourceWatcher):
        """Lists normally, but the first watch starts from a compacted version."""

        first = True

        def _list(self) -> str:
            rv = super()._list()
            if self.first:
                self.first = False
                return "1"
            return rv

    events: queue.Queue[Event | None] = queue.Queue()
    watcher = StaleStart(client, CONFIGMAP, "default", events)
    watcher.start()
    try:
        first = events.get(timeout=5)
        assert first is not None and first.type == "SYNC" and len(first.objects) == 10
        relisted = events.get(timeout=5)
        assert relisted is not None and relisted.type == "SYNC", "410 Gone → relist"
        create(client, "new-1")
        assert collect(events, {"new-1"}) == ["new-1"]
    finally:
        watcher.stop()
    assert watcher.relists == 1


def test_permanent_watch_errors_reach_the_consumer(
    cluster: tuple[SandboxHandle, KubeClient],
) -> None:
    _, client = cluster
    events: queue.Queue[Event | None] = queue.Queue()
    missing = ResourceKind("example.com/v1", "Widget", "widgets")
    watcher = ResourceWatcher(client, missing, "default", events)
    watcher.start()
    try:
        event = events.get(timeout=5)
    finally:
        watcher.stop()
    assert event is not None and event.type == "ERROR"
    assert getattr(event.error, "status", None) == 404
