"""The sandbox's object store: versioned objects, an event history for watches, subscriptions.

One global, monotonically increasing resourceVersion (as etcd's revision on a real server).
Every change appends a WatchEvent to a bounded history; a watch from a resourceVersion older
than the history answers 410 Gone, as a real API server does after compaction.

Thread-safe: the HTTP server threads and the controllers share one Store and one lock.
Objects handed out by get/list/create/update/delete are copies the caller may change. Stored
objects are immutable: a write replaces the whole object, so ``WatchEvent.obj`` is the stored
object itself, shared with every subscriber (read-only: never mutate it). Stored copies intern
their keys and short strings, which keeps thousands of similar objects small.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

Obj = dict[str, Any]
_INTERN_MAX = 64  # strings up to this length are interned in stored objects


def clone(value: Any) -> Any:
    """A deep copy of JSON-like data (dicts, lists, scalars); much faster than copy.deepcopy."""
    if type(value) is dict:
        return {k: clone(v) for k, v in value.items()}
    if type(value) is list:
        return [clone(v) for v in value]
    return value


_SHARED: dict[bytes, Any] = {}  # digest of canonical JSON → one stored value
_SHARED_MAX = 10_000


def _shared(value: Any) -> Any:
    """One stored copy per distinct value (specs, managedFields trees of one shape)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    digest = hashlib.blake2b(text.encode(), digest_size=16).digest()
    hit = _SHARED.get(digest)
    if hit is None:
        if len(_SHARED) >= _SHARED_MAX:
            _SHARED.clear()
        hit = _SHARED[digest] = _frozen(value)
    return hit


def _frozen_object(obj: Obj) -> Obj:
    """The stored form of an object: its ``spec`` is shared with identical specs (the pods of
    one ReplicaSet, successive versions of an object whose status changes)."""
    return {
        sys.intern(str(k)): _shared(v) if k == "spec" and isinstance(v, dict) else _frozen(v)
        for k, v in obj.items()
    }


def _frozen(value: Any) -> Any:
    """A copy for storage: like :func:`clone`, with keys and short strings interned."""
    if isinstance(value, dict):
        if "fieldsV1" in value:  # a managedFields entry: its field tree is often repeated
            return {
                sys.intern(str(k)): _shared(v) if k == "fieldsV1" else _frozen(v)
                for k, v in value.items()
            }
        return {sys.intern(str(k)): _frozen(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_frozen(v) for v in value]
    if type(value) is str and len(value) <= _INTERN_MAX:
        return sys.intern(value)
    return value


@dataclass(frozen=True)
class ResourceType:
    """One REST resource: ``apps/v1`` ``deployments`` of kind ``Deployment``."""

    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()  # e.g. ("status", "scale")

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """Store key independent of version: ``apps/deployments``, ``/pods``."""
        return f"{self.group}/{self.plural}"


class StoreError(Exception):
    """An API-level failure with the HTTP status and Kubernetes reason it maps to."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason  # NotFound, AlreadyExists, Conflict, Gone, Invalid, ...
        self.message = message


@dataclass(frozen=True)
class WatchEvent:
    """One change; ``obj`` is the stored object itself (shared: read-only).

    ``prev`` is the object before a MODIFIED change (None otherwise): a watch with a selector
    turns a change that makes an object stop (or start) matching into DELETED (or ADDED).
    """

    resource_version: int
    type: str  # ADDED | MODIFIED | DELETED
    resource: str  # ResourceType.key
    obj: Obj
    prev: Obj | None = None


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Store:
    """In-memory objects keyed by (resource key, namespace, name)."""

    def __init__(self, history: int = 20_000) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._objects: dict[tuple[str, str, str], Obj] = {}
        # the same objects by resource, so a list does not scan every resource
        self._by_resource: dict[str, dict[tuple[str, str], Obj]] = {}
        self._rv = 0
        self._history: deque[WatchEvent] = deque(maxlen=history)
        self._subscribers: list[Callable[[WatchEvent], None]] = []

    # -- versions -------------------------------------------------------------------------
    @property
    def resource_version(self) -> int:
        with self.lock:
            return self._rv

    def oldest_watchable(self) -> int:
        """The lowest resourceVersion a watch can start from without 410 Gone."""
        with self.lock:
            if not self._history:
                return self._rv
            return self._history[0].resource_version - 1

    # -- reads ----------------------------------------------------------------------------
    def get(self, resource: str, namespace: str, name: str) -> Obj:
        with self.lock:
            obj = self._objects.get((resource, namespace, name))
            if obj is None:
                raise StoreError(404, "NotFound", f'{resource.split("/")[-1]} "{name}" not found')
            return clone(obj)  # type: ignore[no-any-return]

    def list(
        self,
        resource: str,
        namespace: str | None = None,
        predicate: Callable[[Obj], bool] | None = None,
        *,
        shared: bool = False,
    ) -> tuple[list[Obj], int]:
        """Objects of ``resource`` (in ``namespace`` unless None), sorted by namespace/name.

        With ``shared=True`` the items are the stored objects themselves (read-only).
        """
        with self.lock:
            bucket = self._by_resource.get(resource, {})
            copy: Callable[[Obj], Obj] = (lambda o: o) if shared else clone
            items = [
                copy(bucket[where])
                for where in sorted(bucket)
                if (namespace is None or where[0] == namespace)
                and (predicate is None or predicate(bucket[where]))
            ]
            return items, self._rv

    # -- writes ---------------------------------------------------------------------------
    def create(self, resource: str, obj: Obj, *, shared: bool = False) -> Obj:
        """Store a new object (409 AlreadyExists); returns it as stored.

        With ``shared=True`` the returned dict is the stored object itself (read-only: for
        callers that only serialize it), saving a copy.
        """
        meta = obj.setdefault("metadata", {})
        key = (resource, meta.get("namespace", ""), meta["name"])
        with self.lock:
            if key in self._objects:
                raise StoreError(
                    409,
                    "AlreadyExists",
                    f'{resource.split("/")[-1]} "{meta["name"]}" already exists',
                )
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", now_iso())
            meta.setdefault("generation", 1)
            return self._commit(resource, key, obj, "ADDED", shared)

    def update(
        self, resource: str, obj: Obj, *, expect_rv: str | None = None, shared: bool = False
    ) -> Obj:
        """Replace a stored object; with ``expect_rv`` a stale version answers 409 Conflict.

        ``shared`` as for :meth:`create`.
        """
        meta = obj["metadata"]
        key = (resource, meta.get("namespace", ""), meta["name"])
        with self.lock:
            current = self._objects.get(key)
            if current is None:
                raise StoreError(
                    404, "NotFound", f'{resource.split("/")[-1]} "{meta["name"]}" not found'
                )
            if expect_rv and expect_rv != current["metadata"]["resourceVersion"]:
                raise StoreError(
                    409,
                    "Conflict",
                    f"Operation cannot be fulfilled on {resource.split('/')[-1]} "
                    f'"{meta["name"]}": the object has been modified; please apply your '
                    "changes to the latest version and try again",
                )
            meta["uid"] = current["metadata"]["uid"]
            meta["creationTimestamp"] = current["metadata"]["creationTimestamp"]
            if obj == current:
                return current if shared else clone(current)
            return self._commit(resource, key, obj, "MODIFIED", shared)

    def delete(self, resource: str, namespace: str, name: str) -> Obj:
        key = (resource, namespace, name)
        with self.lock:
            obj = self._objects.pop(key, None)
            self._by_resource.get(resource, {}).pop((namespace, name), None)
            if obj is None:
                raise StoreError(404, "NotFound", f'{resource.split("/")[-1]} "{name}" not found')
            self._rv += 1
            # a new top level around the shared, immutable rest of the stored object
            obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self._rv)}}
            self._emit(WatchEvent(self._rv, "DELETED", resource, obj))
            return clone(obj)  # type: ignore[no-any-return]

    def _commit(
        self, resource: str, key: tuple[str, str, str], obj: Obj, kind: str, shared: bool = False
    ) -> Obj:
        self._rv += 1
        obj = _frozen_object(obj)
        obj["metadata"]["resourceVersion"] = str(self._rv)
        prev = self._objects.get(key)
        self._objects[key] = obj
        self._by_resource.setdefault(key[0], {})[key[1:]] = obj
        self._emit(WatchEvent(self._rv, kind, resource, obj, prev))
        return obj if shared else clone(obj)

    # -- watching -------------------------------------------------------------------------
    def _emit(self, event: WatchEvent) -> None:
        self._history.append(event)
        self.changed.notify_all()
        for callback in list(self._subscribers):
            callback(event)

    def subscribe(self, callback: Callable[[WatchEvent], None]) -> None:
        """Call ``callback`` (under the store lock: keep it short, e.g. enqueue) on every change."""
        with self.lock:
            self._subscribers.append(callback)

    def events_since(self, resource_version: int) -> Iterator[WatchEvent]:
        """History after ``resource_version``; 410 Gone when it has been compacted away."""
        with self.lock:
            if resource_version < self.oldest_watchable():
                raise StoreError(
                    410,
                    "Expired",
                    f"too old resource version: {resource_version} ({self.oldest_watchable()})",
                )
            return iter([e for e in self._history if e.resource_version > resource_version])

    def events_after(self, resource_version: int) -> Sequence[WatchEvent]:
        """Like :meth:`events_since` as a list, found by index (history versions are contiguous)."""
        with self.lock:
            oldest = self.oldest_watchable()
            if resource_version < oldest:
                raise StoreError(
                    410, "Expired", f"too old resource version: {resource_version} ({oldest})"
                )
            if not self._history:
                return []
            start = max(0, resource_version - self._history[0].resource_version + 1)
            return [self._history[i] for i in range(start, len(self._history))]

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to restore the store (for ``--state-file``)."""
        with self.lock:
            return {
                "resourceVersion": self._rv,
                "objects": [
                    {"resource": res, "object": clone(obj)}
                    for (res, _, _), obj in sorted(self._objects.items())
                ],
            }

    def restore(self, data: dict[str, Any]) -> None:
        with self.lock:
            self._objects.clear()
            self._by_resource.clear()
            self._history.clear()
            for entry in data.get("objects", []):
                obj = _frozen_object(entry["object"])
                meta = obj["metadata"]
                where = (meta.get("namespace", ""), meta["name"])
                full_key = (entry["resource"], where[0], where[1])
                self._objects[full_key] = obj
                self._by_resource.setdefault(entry["resource"], {})[where] = obj
            self._rv = int(data.get("resourceVersion", 0))
