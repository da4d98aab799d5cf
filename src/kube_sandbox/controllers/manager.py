"""The controller manager: one worker thread, a queue of store events, a timer heap.

Store changes arrive through ``Store.subscribe`` (called under the store lock, so the callback
only enqueues). The worker drains the queue, folds the events into its cache, works out which
objects need a reconcile, and runs each of them once per round, in a fixed order (autoscalers,
Deployments, ReplicaSets, pods, Services). Delayed work (a pod turning Ready, a progress
deadline) sits in a heap of timers; the worker sleeps on the queue until the earliest one.
No busy loop, no thread per object.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from kube_sandbox.controllers.common import controller_of
from kube_sandbox.controllers.context import (
    CONFIGMAPS,
    CRONJOBS,
    DAEMONSETS,
    DEPLOYMENTS,
    HPAS,
    JOBS,
    PODS,
    REPLICASETS,
    REVISIONS,
    SECRETS,
    SERVICES,
    STATEFULSETS,
    WATCHED,
    Cache,
    Context,
    Key,
)
from kube_sandbox.controllers.cronjob import CronJobController
from kube_sandbox.controllers.daemonset import DaemonSetController
from kube_sandbox.controllers.deployment import DeploymentController
from kube_sandbox.controllers.endpoints import EndpointsController
from kube_sandbox.controllers.events import EventRecorder
from kube_sandbox.controllers.hpa import HPAController
from kube_sandbox.controllers.job import JobController
from kube_sandbox.controllers.kubelet import Kubelet, config_references
from kube_sandbox.controllers.replicaset import ReplicaSetController
from kube_sandbox.controllers.statefulset import StatefulSetController
from kube_sandbox.storage.store import Store, StoreError, WatchEvent

log = logging.getLogger(__name__)

ORDER = {
    "hpa": 0,
    "deployment": 1,
    "replicaset": 2,
    "statefulset": 3,
    "daemonset": 4,
    "cronjob": 5,
    "job": 6,
    "pod": 7,
    "service": 8,
}
# The controller of each kind of owner, and the store key of the objects each controller owns.
OWNER_KEYS = {
    "ReplicaSet": "replicaset",
    "Deployment": "deployment",
    "StatefulSet": "statefulset",
    "DaemonSet": "daemonset",
    "Job": "job",
    "CronJob": "cronjob",
}
RESOURCE_OF = {
    "deployment": DEPLOYMENTS,
    "replicaset": REPLICASETS,
    "statefulset": STATEFULSETS,
    "daemonset": DAEMONSETS,
    "job": JOBS,
    "cronjob": CRONJOBS,
    "pod": PODS,
    "service": SERVICES,
    "hpa": HPAS,
}
CONFLICT_RETRY = 0.01  # seconds before a reconcile that hit a 409 runs again
ERROR_RETRY = 1.0  # seconds before a reconcile that failed unexpectedly runs again
_STOP = object()


def _selects(service: dict[str, Any], labels: dict[str, str]) -> bool:
    """The Service's selector matches ``labels`` (a Service without a selector matches none)."""
    selector: dict[str, str] = (service.get("spec") or {}).get("selector") or {}
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


class ControllerManager:
    """Runs the sandbox's controllers against a Store until ``stop()``."""

    def __init__(self, store: Store, *, pod_ready_delay: float = 0.5) -> None:
        self.store = store
        self.pod_ready_delay = pod_ready_delay
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._timers: list[tuple[float, int, Key]] = []
        self._due: dict[Key, float] = {}
        self._seq = 0
        self._cache = Cache()
        self._ctx = Context(store, self._cache, self._schedule, pod_ready_delay)
        self._ctx.events = EventRecorder(store)
        self._kubelet = Kubelet()
        self._handlers: dict[str, Callable[[Context, str, str], None]] = {
            "hpa": HPAController().reconcile,
            "deployment": DeploymentController().reconcile,
            "replicaset": ReplicaSetController().reconcile,
            "statefulset": StatefulSetController().reconcile,
            "daemonset": DaemonSetController().reconcile,
            "job": JobController().reconcile,
            "cronjob": CronJobController().reconcile,
            "pod": self._kubelet.reconcile,
            "service": EndpointsController().reconcile,
        }
        self._thread: threading.Thread | None = None
        self._running = False
        self._subscribed = False
        self.rounds = 0  # reconcile rounds run (for benchmarks and tests)
        self.idle = threading.Event()  # set whenever the worker has nothing left to do now

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Subscribe to the store, load what is already there, and start the worker thread."""
        if self._running:
            return
        self._running = True
        if not self._subscribed:
            self.store.subscribe(self._on_event)
            self._subscribed = True
        # A fresh cache: after a stop() the old one may hold objects deleted meanwhile.
        self._cache = self._ctx.cache = Cache()
        dirty: set[Key] = set()
        for resource in WATCHED:
            items, _ = self.store.list(resource)
            for obj in items:
                self._cache.put(resource, obj)
                if resource == PODS:
                    self._ctx.note_pod_ip((obj.get("status") or {}).get("podIP") or "")
                dirty |= self._keys_for(resource, obj)
        self._thread = threading.Thread(
            target=self._run, args=(dirty,), name="sandbox-controllers", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker (the store subscription stays but is ignored)."""
        if not self._running:
            return
        self._running = False
        self._queue.put(_STOP)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until the worker has drained its queue (timers may still be pending)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.idle.wait(max(deadline - time.monotonic(), 0)) and self._queue.empty():
                return True
            time.sleep(0.001)
        return False

    # -- event intake (store lock held: enqueue only) -------------------------------------------
    def _on_event(self, event: WatchEvent) -> None:
        if self._running and event.resource in WATCHED:
            self.idle.clear()
            self._queue.put(event)

    def _schedule(self, key: Key, delay: float) -> None:
        """Run ``key``'s reconcile after ``delay`` seconds (earliest request wins)."""
        due = time.monotonic() + delay
        if key in self._due and self._due[key] <= due:
            return
        self._due[key] = due
        self._seq += 1
        heapq.heappush(self._timers, (due, self._seq, key))

    def _keys_for(self, resource: str, obj: dict[str, Any]) -> set[Key]:
        """The reconciles a change of ``obj`` calls for."""
        meta: dict[str, Any] = obj["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        keys: set[Key] = set()
        owner = controller_of(obj)
        if resource == DEPLOYMENTS:
            keys.add(("deployment", ns, name))
            keys |= {("hpa", ns, h["metadata"]["name"]) for h in self._cache.list(HPAS, ns)}
        elif resource == REPLICASETS:
            keys.add(("replicaset", ns, name))
            if owner and owner.get("kind") == "Deployment":
                keys.add(("deployment", ns, owner["name"]))
        elif resource == CRONJOBS:
            keys.add(("cronjob", ns, name))
        elif resource in (STATEFULSETS, DAEMONSETS):
            keys.add(("statefulset" if resource == STATEFULSETS else "daemonset", ns, name))
        elif resource == JOBS:
            keys.add(("job", ns, name))
            if owner and owner.get("kind") == "CronJob":
                keys.add(("cronjob", ns, owner["name"]))
        elif resource == REVISIONS:
            if owner and owner.get("kind") in ("StatefulSet", "DaemonSet"):
                keys.add((OWNER_KEYS[owner["kind"]], ns, owner["name"]))
        elif resource == PODS:
            keys.add(("pod", ns, name))
            if owner and owner.get("kind") in ("ReplicaSet", "StatefulSet", "DaemonSet", "Job"):
                keys.add((OWNER_KEYS[owner["kind"]], ns, owner["name"]))
            labels: dict[str, str] = meta.get("labels") or {}
            keys |= {
                ("service", ns, s["metadata"]["name"])
                for s in self._cache.list(SERVICES, ns)
                if _selects(s, labels)
            }
        elif resource == SERVICES:
            keys.add(("service", ns, name))
        elif resource == HPAS:
            keys.add(("hpa", ns, name))
        elif resource in (SECRETS, CONFIGMAPS):
            # pods waiting for it (CreateContainerConfigError, FailedMount) may start now
            kind = "secret" if resource == SECRETS else "configmap"
            keys |= {
                ("pod", ns, p["metadata"]["name"])
                for p in self._cache.list(PODS, ns)
                if (kind, name) in config_references(p.get("spec") or {})
            }
        return keys

    # -- the worker -----------------------------------------------------------------------------
    def _run(self, dirty: set[Key]) -> None:
        while True:
            if not dirty:
                self.idle.set()
                item = self._next_item()
                if item is _STOP:
                    return
                if item is not None:
                    dirty |= self._take(item)
            while True:  # drain everything that is already queued
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    return
                dirty |= self._take(item)
            dirty |= self._expired_timers()
            if dirty:
                self._round(sorted(dirty, key=lambda k: (ORDER[k[0]], k[1], k[2])))
                dirty = set()

    def _next_item(self) -> object | None:
        timeout = None
        if self._timers:
            timeout = max(self._timers[0][0] - time.monotonic(), 0.0)
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def _take(self, item: object) -> set[Key]:
        assert isinstance(item, WatchEvent)
        meta = item.obj["metadata"]
        before = self._cache.get(item.resource, meta.get("namespace", ""), meta["name"])
        self._cache.apply(item)
        keys = self._keys_for(item.resource, before) if before is not None else set()
        if item.type == "DELETED" and item.resource == PODS:
            self._kubelet.forget(item.obj["metadata"].get("uid", ""))
        return keys | self._keys_for(item.resource, item.obj)

    def _expired_timers(self) -> set[Key]:
        now, keys = time.monotonic(), set()
        while self._timers and self._timers[0][0] <= now:
            due, _, key = heapq.heappop(self._timers)
            if self._due.get(key) == due:
                del self._due[key]
                keys.add(key)
        return keys

    def _round(self, keys: list[Key]) -> None:
        self.rounds += 1
        for key in keys:
            # Let the API threads have the GIL between reconciles: a long round would otherwise
            # hold it for whole switch intervals while requests wait to read their sockets.
            time.sleep(0)
            kind, namespace, name = key
            try:
                self._handlers[kind](self._ctx, namespace, name)
            except StoreError as err:
                if err.code == 404:
                    continue  # deleted meanwhile; its DELETED event is queued
                retry = CONFLICT_RETRY if err.code == 409 else ERROR_RETRY
                if err.code == 409:
                    self._refresh(key)
                else:
                    log.warning("reconcile %s failed: %s", key, err.message)
                self._schedule(key, retry)
            except Exception:
                log.exception("reconcile %s failed", key)
                self._schedule(key, ERROR_RETRY)

    def _refresh(self, key: Key) -> None:
        """After a 409, reload the object from the store so the retry sees its latest version."""
        resource = RESOURCE_OF[key[0]]
        with contextlib.suppress(StoreError):
            self._cache.put(resource, self.store.get(resource, key[1], key[2]))
