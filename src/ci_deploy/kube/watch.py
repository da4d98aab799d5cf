"""Watch-based rollout tracking: list once, then follow the watch stream; no polling.

Each ``ResourceWatcher`` runs in a thread and feeds one queue with the objects it sees. A cut
stream resumes from the last resourceVersion; 410 Gone (history compacted) relists, and the
relist replaces the cache so that deletions missed in between are not kept. Transient errors
reconnect with backoff; permanent ones end the watch and reach the consumer as an error.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ci_deploy.kube.cancel import CancelToken
from ci_deploy.kube.client import DEPLOYMENT, POD, REPLICASET, KubeClient, Obj, ResourceKind
from ci_deploy.kube.errors import ApiError, NetworkError
from ci_deploy.kube.health import RolloutStatus, WaitingTracker, assess
from ci_deploy.kube.retry import is_transient

WATCH_SECONDS = 300  # server-side bound per watch request; we simply reopen after it


@dataclass
class Event:
    """What a watcher saw: ``SYNC`` (full list), ``ADDED``/``MODIFIED``/``DELETED``, ``ERROR``."""

    source: str
    type: str
    objects: list[Obj] = field(default_factory=list)
    error: BaseException | None = None


class ResourceWatcher:
    """Follow one kind in one namespace (optionally label/field selected) into a queue."""

    def __init__(
        self,
        client: KubeClient,
        kind: ResourceKind,
        namespace: str,
        events: queue.Queue[Event | None],
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        max_failures: int = 10,
    ) -> None:
        self.client = client
        self.kind = kind
        self.namespace = namespace
        self.events = events
        self.query: list[tuple[str, str]] = []
        if label_selector:
            self.query.append(("labelSelector", label_selector))
        if field_selector:
            self.query.append(("fieldSelector", field_selector))
        self.max_failures = max_failures
        self.relists = 0
        self.reconnects = 0
        self._stopped = threading.Event()
        self._stream_lock = threading.Lock()
        self._stream: object | None = None
        self._thread = threading.Thread(target=self._run, name=f"watch-{kind.plural}", daemon=True)

    def start(self) -> None:
        """Start following in a daemon thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop following: abort the open stream and wait briefly for the thread."""
        self._stopped.set()
        with self._stream_lock:
            stream = self._stream
        close = getattr(stream, "close", None)
        if close is not None:
            close()
        self._thread.join(timeout=2)

    def _list(self) -> str:
        doc = self.client.get(self.kind.path(self.namespace), self.query)
        self.events.put(Event(self.kind.plural, "SYNC", list(doc.get("items") or [])))
        return str((doc.get("metadata") or {}).get("resourceVersion") or "")

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # a bug or an unexpected answer: tell the consumer, never hang
            self.events.put(Event(self.kind.plural, "ERROR", error=exc))

    def _loop(self) -> None:
        failures = 0
        try:
            rv = self._list()
        except (ApiError, NetworkError) as exc:
            self.events.put(Event(self.kind.plural, "ERROR", error=exc))
            return
        while not self._stopped.is_set():
            try:
                opened = time.monotonic()
                rv, delivered = self._follow(rv)
                if self._stopped.is_set():
                    return
                self.reconnects += 1  # the stream ended or was cut: resume from rv
                if delivered or time.monotonic() - opened > 1.0:
                    failures = 0
                    continue
                # An empty stream that ended at once: back off instead of spinning.
                failures += 1
                if self._stopped.wait(self.client.policy.delay(failures, None)):
                    return
            except (ApiError, NetworkError) as exc:
                if isinstance(exc, ApiError) and exc.status == 410:
                    self.relists += 1
                    try:
                        rv = self._list()
                        continue
                    except (ApiError, NetworkError) as again:
                        exc = again
                if self._stopped.is_set():
                    return
                failures += 1
                if not is_transient(exc) or failures > self.max_failures:
                    self.events.put(Event(self.kind.plural, "ERROR", error=exc))
                    return
                self.reconnects += 1
                delay = self.client.policy.delay(failures, getattr(exc, "retry_after", None))
                if self._stopped.wait(delay):
                    return

    def _follow(self, rv: str) -> tuple[str, int]:
        """Read one watch stream to its end: (resourceVersion to resume from, events seen)."""
        stream = self.client.open_watch(
            self.kind.path(self.namespace),
            [*self.query, ("resourceVersion", rv)],
            timeout_seconds=WATCH_SECONDS,
        )
        with self._stream_lock:
            self._stream = stream
        delivered = 0
        if self._stopped.is_set():
            stream.close()
            return rv, delivered
        try:
            for event in stream:
                kind = event.get("type")
                obj = event.get("object") or {}
                if kind == "ERROR":
                    code = int(obj.get("code") or 500)
                    raise ApiError(code, str(obj.get("reason") or "Error"), str(obj.get("message")))
                new_rv = (obj.get("metadata") or {}).get("resourceVersion")
                if new_rv:
                    rv = str(new_rv)
                delivered += 1
                if kind == "BOOKMARK":
                    continue
                self.events.put(Event(self.kind.plural, str(kind), [obj]))
        except NetworkError:
            return rv, delivered  # a cut stream: the caller resumes from rv
        finally:
            stream.close()
        return rv, delivered


class Cache:
    """The latest object per name, per watched kind."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Obj]] = {}

    def apply(self, event: Event) -> None:
        """Fold one event into the cache (SYNC replaces everything of its kind)."""
        bucket = self.objects.setdefault(event.source, {})
        if event.type == "SYNC":
            bucket.clear()
        for obj in event.objects:
            name = obj["metadata"]["name"]
            if event.type == "DELETED":
                bucket.pop(name, None)
            else:
                bucket[name] = obj

    def all(self, source: str) -> list[Obj]:
        """Every cached object of ``source`` (a plural such as "pods")."""
        return list(self.objects.get(source, {}).values())


@dataclass(frozen=True)
class RolloutOutcome:
    """How waiting ended: done, failed (reason), timed out, or cancelled."""

    result: str  # "done" | "failed" | "timeout" | "cancelled"
    message: str
    status: RolloutStatus | None = None
    deployment: Obj | None = None


def selector_text(deployment: Obj) -> str:
    """The Deployment's matchLabels as a label selector string."""
    labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def wait_for_rollout(
    client: KubeClient,
    namespace: str,
    name: str,
    selector: str,
    *,
    timeout: float,
    cancel: CancelToken,
    on_progress: Callable[[RolloutStatus], None] | None = None,
    fail_fast_grace: float = 3.0,
    extra_stop: CancelToken | None = None,
    stale_deadline: Obj | None = None,
) -> RolloutOutcome:
    """Watch Deployment ``name``, its ReplicaSets and pods until the rollout ends."""
    events: queue.Queue[Event | None] = queue.Queue()
    wakers = [cancel.on_cancel(lambda: events.put(None))]
    if extra_stop is not None:
        wakers.append(extra_stop.on_cancel(lambda: events.put(None)))
    watchers = _start_watchers(client, namespace, name, selector, events)
    cache = Cache()
    tracker = WaitingTracker(grace=fail_fast_grace)
    deadline = time.monotonic() + timeout
    recheck: float | None = None
    last: RolloutStatus | None = None
    try:
        while True:
            stopped = stopped_outcome(cancel, extra_stop, deadline, timeout, last)
            if stopped is not None:
                return stopped
            wait = deadline - time.monotonic()
            fold_events(events, cache, wait if recheck is None else min(wait, recheck))
            deployment = cache.objects.get("deployments", {}).get(name)
            if deployment is None:
                recheck = None
                continue
            last = assess(
                deployment,
                cache.all("replicasets"),
                cache.all("pods"),
                tracker,
                time.monotonic(),
                stale_deadline,
            )
            recheck = last.recheck_in
            if on_progress is not None:
                on_progress(last)
            if last.done:
                return RolloutOutcome("done", last.message, last, deployment)
            if last.failure:
                return RolloutOutcome("failed", last.failure, last, deployment)
    finally:
        for remove in wakers:
            remove()
        for watcher in watchers:
            threading.Thread(target=watcher.stop, daemon=True).start()


def _start_watchers(
    client: KubeClient, namespace: str, name: str, selector: str, events: queue.Queue[Event | None]
) -> list[ResourceWatcher]:
    """Watch the Deployment, its ReplicaSets and its pods into one event queue."""
    watchers = [
        ResourceWatcher(
            client, DEPLOYMENT, namespace, events, field_selector=f"metadata.name={name}"
        ),
        ResourceWatcher(client, REPLICASET, namespace, events, label_selector=selector),
        ResourceWatcher(client, POD, namespace, events, label_selector=selector),
    ]
    for watcher in watchers:
        watcher.start()
    return watchers


def stopped_outcome(
    cancel: CancelToken,
    extra_stop: CancelToken | None,
    deadline: float,
    timeout: float,
    last: RolloutStatus | None,
) -> RolloutOutcome | None:
    """The outcome when waiting must end for a reason other than the rollout itself."""
    if cancel.is_set():
        return RolloutOutcome("cancelled", cancel.reason or "cancelled", last)
    if extra_stop is not None and extra_stop.is_set():
        return RolloutOutcome("failed", extra_stop.reason or "stopped", last)
    if deadline - time.monotonic() <= 0:
        return RolloutOutcome("timeout", f"not complete after {timeout:.0f}s", last)
    return None


def fold_events(events: queue.Queue[Event | None], cache: Cache, wait: float) -> None:
    """Wait up to ``wait`` seconds for an event, then fold it and all queued ones into ``cache``.

    ``None`` in the queue is a wake-up (a cancel): it ends the folding early.
    """
    try:
        event = events.get(timeout=max(wait, 0.0))
    except queue.Empty:
        return
    while event is not None:
        if event.type == "ERROR":
            raise event.error or NetworkError("watch failed")
        cache.apply(event)
        try:
            event = events.get_nowait()
        except queue.Empty:
            return
