"""What a controller sees: a read cache fed by store events, write helpers, timers, events.

The cache plays the part of client-go informers: controllers read from it (cheap, no copies of
the whole store) and write to the Store. Writes go through to the cache at once, so a
controller never acts twice on its own stale view; other writers' changes arrive as events.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable

from kube_sandbox.controllers.events import EventRecorder
from kube_sandbox.storage.store import Obj, Store, StoreError, WatchEvent

Key = tuple[str, str, str]  # (controller, namespace, name)

DEPLOYMENTS = "apps/deployments"
REPLICASETS = "apps/replicasets"
PODS = "/pods"
SERVICES = "/services"
ENDPOINTS = "/endpoints"
ENDPOINTSLICES = "discovery.k8s.io/endpointslices"
HPAS = "autoscaling/horizontalpodautoscalers"
STATEFULSETS = "apps/statefulsets"
DAEMONSETS = "apps/daemonsets"
REVISIONS = "apps/controllerrevisions"
JOBS = "batch/jobs"
CRONJOBS = "batch/cronjobs"
SECRETS = "/secrets"
CONFIGMAPS = "/configmaps"

# Resources the controllers read; everything else is ignored by the manager. Secrets and
# ConfigMaps: the kubelet starts a container only once those it references exist.
WATCHED = (
    DEPLOYMENTS,
    REPLICASETS,
    PODS,
    SERVICES,
    ENDPOINTS,
    ENDPOINTSLICES,
    HPAS,
    STATEFULSETS,
    DAEMONSETS,
    REVISIONS,
    JOBS,
    CRONJOBS,
    SECRETS,
    CONFIGMAPS,
)


def _rv(obj: Obj) -> int:
    return int(obj.get("metadata", {}).get("resourceVersion") or 0)


def _controller_uid(obj: Obj) -> str:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid", ""))
    return ""


class Cache:
    """Objects by resource, namespace and name; the dicts are shared: never mutate them.

    Two indexes keep reconciles O(own children) rather than O(namespace): children by the uid
    of their controller, and objects without a controller (candidates for adoption).
    """

    def __init__(self) -> None:
        self._data: dict[str, dict[str, dict[str, Obj]]] = {res: {} for res in WATCHED}
        self._children: dict[tuple[str, str], dict[tuple[str, str], Obj]] = {}
        self._orphans: dict[tuple[str, str], dict[str, Obj]] = {}

    def _index(self, resource: str, obj: Obj, add: bool) -> None:
        meta = obj["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        uid = _controller_uid(obj)
        if uid:
            bucket = self._children.setdefault((resource, uid), {})
            key: tuple[str, str] = (ns, name)
            if add:
                bucket[key] = obj
            else:
                bucket.pop(key, None)
                if not bucket:
                    del self._children[(resource, uid)]
        else:
            orphans = self._orphans.setdefault((resource, ns), {})
            if add:
                orphans[name] = obj
            else:
                orphans.pop(name, None)
                if not orphans:
                    del self._orphans[(resource, ns)]

    def put(self, resource: str, obj: Obj) -> None:
        """Store ``obj`` unless the cache already holds a newer version."""
        meta = obj["metadata"]
        bucket = self._data[resource].setdefault(meta.get("namespace", ""), {})
        current = bucket.get(meta["name"])
        if current is None or _rv(current) <= _rv(obj):
            if current is not None:
                self._index(resource, current, add=False)
            bucket[meta["name"]] = obj
            self._index(resource, obj, add=True)

    def remove(self, resource: str, namespace: str, name: str, rv: int | None = None) -> None:
        """Forget an object (unless a newer one with the same name was created since ``rv``)."""
        bucket = self._data[resource].get(namespace, {})
        current = bucket.get(name)
        if current is not None and (rv is None or _rv(current) <= rv):
            del bucket[name]
            self._index(resource, current, add=False)

    def apply(self, event: WatchEvent) -> None:
        """Fold one store event into the cache."""
        meta = event.obj["metadata"]
        if event.type == "DELETED":
            self.remove(
                event.resource, meta.get("namespace", ""), meta["name"], event.resource_version
            )
        else:
            self.put(event.resource, event.obj)

    def get(self, resource: str, namespace: str, name: str) -> Obj | None:
        """The cached object or None."""
        return self._data[resource].get(namespace, {}).get(name)

    def list(self, resource: str, namespace: str) -> list[Obj]:
        """Objects of ``resource`` in ``namespace``, sorted by name."""
        bucket = self._data[resource].get(namespace, {})
        return [bucket[name] for name in sorted(bucket)]

    def children(self, resource: str, owner_uid: str) -> builtins.list[Obj]:
        """Objects of ``resource`` whose controller is ``owner_uid``, sorted by name."""
        bucket = self._children.get((resource, owner_uid), {})
        return [bucket[key] for key in sorted(bucket)]

    def orphans(self, resource: str, namespace: str) -> builtins.list[Obj]:
        """Objects of ``resource`` in ``namespace`` without a controller, sorted by name."""
        bucket = self._orphans.get((resource, namespace), {})
        return [bucket[name] for name in sorted(bucket)]

    def namespaces(self, resource: str) -> builtins.list[str]:
        """Namespaces holding at least one object of ``resource``."""
        return sorted(ns for ns, bucket in self._data[resource].items() if bucket)


class Context:
    """The handle every reconcile function receives."""

    def __init__(
        self,
        store: Store,
        cache: Cache,
        schedule: Callable[[Key, float], None],
        pod_ready_delay: float,
    ) -> None:
        self.store = store
        self.cache = cache
        self.schedule = schedule
        self.pod_ready_delay = pod_ready_delay
        self.events: EventRecorder | None = None
        self.ip_counter = 0

    @staticmethod
    def now() -> float:
        """Wall-clock seconds (the timestamps in objects are wall-clock too)."""
        return time.time()

    def create(self, resource: str, obj: Obj) -> Obj:
        """Create in the store and the cache."""
        created = self.store.create(resource, obj, shared=True)
        self.cache.put(resource, created)
        return created

    def update(self, resource: str, obj: Obj) -> Obj:
        """Replace an object read from the cache; 409 when someone changed it meanwhile."""
        rv = obj["metadata"].get("resourceVersion")
        updated = self.store.update(resource, obj, expect_rv=rv, shared=True)
        self.cache.put(resource, updated)
        return updated

    def update_spec(self, resource: str, obj: Obj) -> Obj:
        """Replace an object whose spec changed: bump metadata.generation as the API server does."""
        obj["metadata"]["generation"] = int(obj["metadata"].get("generation") or 1) + 1
        return self.update(resource, obj)

    def delete(self, resource: str, namespace: str, name: str) -> None:
        """Delete from the store and the cache; an object already gone is fine."""
        try:
            self.store.delete(resource, namespace, name)
        except StoreError as err:
            if err.code != 404:
                raise
        self.cache.remove(resource, namespace, name)

    def record(self, involved: Obj, kind: str, reason: str, message: str, component: str) -> None:
        """Record a core/v1 Event about ``involved`` (``kind`` is Normal or Warning)."""
        if self.events is not None:
            self.events.record(involved, kind, reason, message, component)

    def note_pod_ip(self, ip: str) -> None:
        """Skip past an address already in use (pods restored from a state file)."""
        parts = ip.split(".")
        if len(parts) == 4 and parts[:2] == ["10", "244"] and all(p.isdigit() for p in parts):
            self.ip_counter = max(self.ip_counter, int(parts[2]) * 250 + int(parts[3]) - 2)

    def next_pod_ip(self) -> str:
        """A fake, unique-per-manager pod address in 10.244.0.0/16 (never routed anywhere)."""
        self.ip_counter += 1
        n = self.ip_counter
        return f"10.244.{(n // 250) % 250}.{n % 250 + 2}"


def edit(obj: Obj, *parts: str) -> Obj:
    """A copy of a cached object to change and write back, made cheaply.

    The top level, ``metadata`` and the named ``parts`` (e.g. "spec") are fresh dicts; deeper
    levels are still shared with the cache, so replace them (``meta["annotations"] = {...}``)
    rather than change them in place.
    """
    fresh = dict(obj)
    fresh["metadata"] = dict(obj["metadata"])
    for part in parts:
        if isinstance(obj.get(part), dict):
            fresh[part] = dict(obj[part])
    return fresh
