"""core/v1 Events as a real cluster writes them (ScalingReplicaSet, SuccessfulCreate, BackOff …).

Repeats of the same (object, reason, message) bump ``count`` and ``lastTimestamp`` of one Event,
as client-go's event correlator does; the oldest Events are deleted beyond a cap, standing in
for the API server's one-hour event TTL.
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict

from kube_sandbox.storage.store import Obj, Store, StoreError, now_iso

EVENTS = "/events"  # the store key of core/v1 Events

NODE_NAME = "sandbox-node"


class EventRecorder:
    """Writes Events into the store; used from the controller thread only."""

    def __init__(self, store: Store, cap: int = 2000) -> None:
        self.store = store
        self.cap = cap
        # (namespace, uid, reason, message) -> (namespace, event name)
        self._seen: OrderedDict[tuple[str, str, str, str], tuple[str, str]] = OrderedDict()
        self._last_ns = 0

    def _name(self, involved_name: str) -> str:
        # Real names are "<object>.<nanoseconds in hex>"; keep them unique within this process.
        stamp = max(time.time_ns(), self._last_ns + 1)
        self._last_ns = stamp
        return f"{involved_name}.{stamp:x}"

    def record(self, involved: Obj, kind: str, reason: str, message: str, component: str) -> None:
        """Create an Event or bump the count of the identical one."""
        meta = involved["metadata"]
        namespace = meta.get("namespace") or "default"
        key = (namespace, meta.get("uid", ""), reason, message)
        now = now_iso()
        seen = self._seen.get(key)
        if seen is not None and self._bump(seen, now):
            self._seen.move_to_end(key)
            return
        event: Obj = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": self._name(meta["name"]), "namespace": namespace},
            "involvedObject": {
                "apiVersion": involved.get("apiVersion", "v1"),
                "kind": involved.get("kind", ""),
                "name": meta["name"],
                "namespace": namespace,
                "uid": meta.get("uid", ""),
                "resourceVersion": meta.get("resourceVersion", ""),
            },
            "reason": reason,
            "message": message,
            "source": {"component": component}
            | ({"host": NODE_NAME} if component == "kubelet" else {}),
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": kind,
            "eventTime": None,
            "reportingComponent": component,
            "reportingInstance": NODE_NAME if component == "kubelet" else "",
        }
        try:
            self.store.create(EVENTS, event)
        except StoreError:
            return  # an Event is best effort, as on a real cluster
        self._seen[key] = (namespace, event["metadata"]["name"])
        self._trim()

    def _bump(self, where: tuple[str, str], now: str) -> bool:
        try:
            event = self.store.get(EVENTS, *where)
            event["count"] = int(event.get("count") or 1) + 1
            event["lastTimestamp"] = now
            self.store.update(EVENTS, event)
        except StoreError:
            return False
        return True

    def _trim(self) -> None:
        while len(self._seen) > self.cap:
            _, where = self._seen.popitem(last=False)
            with contextlib.suppress(StoreError):
                self.store.delete(EVENTS, *where)
