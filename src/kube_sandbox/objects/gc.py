"""Garbage collector: deletion that follows ownerReferences, finalizers and namespaces.

As upstream's garbage collector and namespace controller, on a background thread:
- an object whose every owner (``metadata.ownerReferences[].uid``) is gone is deleted
  (Background propagation: a Deployment's ReplicaSets, then their Pods), also when it is
  created after its owner went (a controller racing a deletion);
- an object being deleted with the ``foregroundDeletion`` finalizer loses its dependents
  first, then the finalizer, then goes;
- an object being deleted whose finalizers are all removed goes;
- a terminating Namespace is emptied, then goes.
It keeps an owner → dependents index fed by store events, so deletions cost O(dependents).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections import defaultdict
from typing import Any

from kube_sandbox.objects import resources
from kube_sandbox.storage.store import Store, StoreError, WatchEvent

Obj = dict[str, Any]
Ref = tuple[str, str, str]  # (resource key, namespace, name)
log = logging.getLogger("kube_sandbox.objects.gc")


def _ref(event_resource: str, obj: Obj) -> Ref:
    meta = obj["metadata"]
    return (event_resource, meta.get("namespace", ""), meta["name"])


def owner_uids(obj: Obj) -> set[str]:
    """The uids of an object's owners."""
    return {o["uid"] for o in (obj["metadata"].get("ownerReferences") or []) if o.get("uid")}


def orphan_dependents(store: Store, owner_uid: str) -> None:
    """Remove ``owner_uid`` from the ownerReferences of every object (Orphan propagation)."""
    with store.lock:
        for key in resources.store_keys(store):
            items, _ = store.list(key, None, lambda o: owner_uid in owner_uids(o))
            for obj in items:
                meta = obj["metadata"]
                refs = [r for r in meta["ownerReferences"] if r.get("uid") != owner_uid]
                if refs:
                    meta["ownerReferences"] = refs
                else:
                    del meta["ownerReferences"]
                store.update(key, obj)


class GarbageCollector:
    """Background deleter; ``start()`` after the store is loaded, ``stop()`` at shutdown."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: queue.Queue[tuple[str, Any] | None] = queue.Queue()
        self._dependents: dict[str, set[Ref]] = defaultdict(set)
        self._owners: dict[Ref, set[str]] = {}
        self._uids: dict[str, Ref] = {}
        self._thread: threading.Thread | None = None
        with store.lock:
            for key in resources.store_keys(store):
                items, _ = store.list(key)
                for obj in items:
                    self._index(key, obj)
                    if obj["metadata"].get("deletionTimestamp"):
                        self._queue.put(("terminating", _ref(key, obj)))
            store.subscribe(self._on_event)

    # -- index (runs under the store lock, from store callbacks) ---------------------------
    def _index(self, resource: str, obj: Obj) -> None:
        ref = _ref(resource, obj)
        self._uids[obj["metadata"]["uid"]] = ref
        new_owners = owner_uids(obj)
        for uid in self._owners.get(ref, set()) - new_owners:
            self._dependents[uid].discard(ref)
        for uid in new_owners:
            self._dependents[uid].add(ref)
        self._owners[ref] = new_owners

    def _on_event(self, event: WatchEvent) -> None:
        ref = _ref(event.resource, event.obj)
        uid = event.obj["metadata"].get("uid", "")
        if event.type == "DELETED":
            self._uids.pop(uid, None)
            for owner in self._owners.pop(ref, set()):
                self._dependents[owner].discard(ref)
            self._queue.put(("deleted", uid))
            return
        self._index(event.resource, event.obj)
        if event.obj["metadata"].get("deletionTimestamp"):
            self._queue.put(("terminating", ref))
        owners = self._owners.get(ref, set())
        if owners and not any(uid in self._uids for uid in owners):
            self._queue.put(("dangling", ref))  # created for an owner that is already gone

    # -- worker ----------------------------------------------------------------------------
    def start(self) -> None:
        """Run the collector on a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="sandbox-gc", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (pending work is dropped)."""
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until every queued deletion has been processed (for tests); False on timeout."""
        done = self._queue.all_tasks_done
        with done:
            return done.wait_for(lambda: self._queue.unfinished_tasks == 0, timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._queue.task_done()
                return
            try:
                with self.store.lock:
                    if item[0] == "deleted":
                        self._collect_orphans(item[1])
                    elif item[0] == "dangling":
                        self._collect_dangling(item[1])
                    else:
                        self._finish_terminating(item[1])
            except Exception:  # keep collecting; one bad object must not stop the collector
                log.exception("garbage collector failed on %s", item)
            finally:
                self._queue.task_done()

    def _collect_orphans(self, owner_uid: str) -> None:
        for ref in list(self._dependents.pop(owner_uid, set())):
            if not any(uid in self._uids for uid in self._owners.get(ref, set())):
                self._delete(ref)

    def _collect_dangling(self, ref: Ref) -> None:
        owners = self._owners.get(ref, set())
        if owners and not any(uid in self._uids for uid in owners):
            self._delete(ref)

    def _delete(self, ref: Ref) -> None:
        with contextlib.suppress(StoreError):  # already gone
            self.store.delete(*ref)

    def _delete_tree(self, ref: Ref) -> None:
        """Delete ``ref``'s dependents depth-first, then ``ref`` (foreground propagation)."""
        try:
            uid = self.store.get(*ref)["metadata"]["uid"]
        except StoreError:
            return
        for dep in list(self._dependents.get(uid, set())):
            self._delete_tree(dep)
        self._delete(ref)

    def _finish_terminating(self, ref: Ref) -> None:
        try:
            obj = self.store.get(*ref)
        except StoreError:
            return
        meta = obj["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if ref[0] == "/namespaces":
            self._empty_namespace(ref[2])
        if "foregroundDeletion" in finalizers:
            for dep in list(self._dependents.get(meta["uid"], set())):
                self._delete_tree(dep)
            finalizers.remove("foregroundDeletion")
            meta["finalizers"] = finalizers
            if finalizers:
                self.store.update(ref[0], obj)
        if not finalizers:
            self._delete(ref)

    def _empty_namespace(self, namespace: str) -> None:
        namespaced = {rt.key: rt.namespaced for rt in resources.all_resources(self.store)}
        for key, is_namespaced in namespaced.items():
            if not is_namespaced:
                continue
            items, _ = self.store.list(key, namespace)
            for obj in items:
                self._delete((key, namespace, obj["metadata"]["name"]))
