"""Watch streams: ``?watch=true`` as chunked JSON lines ``{"type": …, "object": …}``.

Semantics as upstream: without a resourceVersion (or with ``0``) the stream starts with ADDED
events for the current objects; with one, it replays history after it, or sends a single
ERROR event carrying a 410 Expired Status when that history is gone. ``timeoutSeconds`` ends
the stream; ``allowWatchBookmarks`` adds BOOKMARK events periodically and before the end.
Fault injection may cut a stream after N events or T seconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ci_deploy.sandbox import table
from ci_deploy.sandbox.api import Response, status_object
from ci_deploy.sandbox.store import StoreError, WatchEvent

if TYPE_CHECKING:
    from ci_deploy.sandbox.crud import Ctx

Obj = dict[str, Any]

BOOKMARK_INTERVAL = 5.0  # seconds between bookmarks (upstream: about a minute)
DEFAULT_TIMEOUT = 1800  # seconds, when the client gives no timeoutSeconds
_POLL = 1.0  # longest wait between checks for shutdown


def _line(event_type: str, obj: Obj) -> bytes:
    return json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n"


def stream(ctx: Ctx) -> Response:
    """Start a watch; the returned Response streams until timeout, cut or shutdown."""
    from ci_deploy.sandbox.crud import predicate_for

    query = ctx.req.query
    predicate = predicate_for(ctx)
    try:
        timeout = float(query.get("timeoutSeconds") or DEFAULT_TIMEOUT)
    except ValueError as exc:
        raise StoreError(400, "BadRequest", "timeoutSeconds must be a number") from exc
    rv_param = query.get("resourceVersion", "")
    initial: list[Obj] = []
    with ctx.store.lock:
        if rv_param in ("", "0"):
            initial, start_rv = ctx.store.list(ctx.rt.key, ctx.namespace, predicate, shared=True)
        else:
            try:
                start_rv = int(rv_param)
            except ValueError as exc:
                raise StoreError(
                    400, "BadRequest", f"invalid resourceVersion {rv_param!r}"
                ) from exc
            try:
                ctx.store.events_after(start_rv)
            except StoreError as err:
                return Response(200, stream=iter([_error_line(err)]))
    watcher = _Watcher(
        ctx, predicate, start_rv, timeout, query.get("allowWatchBookmarks") == "true"
    )
    return Response(200, stream=watcher.run(initial))


def _error_line(err: StoreError) -> bytes:
    return _line("ERROR", status_object(err.code, err.reason, err.message))


class _Watcher:
    def __init__(self, ctx: Ctx, predicate: Any, rv: int, timeout: float, bookmarks: bool) -> None:
        self.ctx = ctx
        self.predicate = predicate
        self.rv = rv
        self.bookmarks = bookmarks
        self.start = time.monotonic()
        self.deadline = self.start + timeout
        self.max_events, self.max_seconds = ctx.api.faults.watch_limits()
        self.sent = 0
        self.as_table = table.wants_table(ctx.req)

    def _render(self, obj: Obj) -> Obj:
        """The event's object: the object itself, or a one-row Table for ``kubectl get -w``.

        As upstream, only the first Table of a stream carries the column definitions.
        """
        if not self.as_table:
            return obj
        rendered = table.to_table(
            self.ctx.rt, [obj], self.ctx.req, {"resourceVersion": str(self.rv)}
        )
        if self.sent:
            rendered["columnDefinitions"] = []
        return rendered

    def _matches(self, obj: Obj) -> bool:
        if obj is None:
            return False
        if self.ctx.namespace and obj["metadata"].get("namespace") != self.ctx.namespace:
            return False
        return self.predicate is None or bool(self.predicate(obj))

    def _translate(self, event: WatchEvent) -> tuple[str | None, Obj]:
        """The event this watch sends for a store event (None: nothing), as upstream's cacher."""
        now = self._matches(event.obj)
        if event.type != "MODIFIED" or event.prev is None:
            return (event.type if now else None), event.obj
        before = self._matches(event.prev)
        if now and before:
            return "MODIFIED", event.obj
        if now:
            return "ADDED", event.obj
        if before:
            return "DELETED", event.prev
        return None, event.obj

    def _bookmark(self) -> bytes:
        rt = self.ctx.rt
        obj = {
            "kind": rt.kind,
            "apiVersion": rt.api_version,
            "metadata": {"resourceVersion": str(self.rv)},
        }
        return _line("BOOKMARK", obj)

    def _cut(self) -> bool:
        """Whether fault injection ends the stream now (and records it)."""
        faults = self.ctx.api.faults
        if self.max_events and self.sent >= self.max_events:
            faults.record("watch_cut", f"after {self.sent} events {self.ctx.req.path}")
            return True
        if self.max_seconds and time.monotonic() - self.start >= self.max_seconds:
            faults.record("watch_cut", f"after {self.max_seconds}s {self.ctx.req.path}")
            return True
        return False

    def run(self, initial: list[Obj]) -> Iterator[bytes]:
        """The stream: initial ADDED events, then changes, bookmarks, until an end condition."""
        for obj in initial:
            if self._cut():
                return
            yield _line("ADDED", self._render(obj))
            self.sent += 1
        last_bookmark = time.monotonic()
        store, key = self.ctx.store, self.ctx.rt.key
        while not self.ctx.api.stopping:
            now = time.monotonic()
            if now >= self.deadline:
                if self.bookmarks:
                    yield self._bookmark()
                return
            if self._cut():
                return
            try:
                with store.changed:
                    events = store.events_after(self.rv)
                    if not events:
                        wait = min(self.deadline - now, BOOKMARK_INTERVAL, _POLL)
                        if self.max_seconds:
                            wait = min(wait, max(0.01, self.start + self.max_seconds - now))
                        store.changed.wait(timeout=max(wait, 0.001))
                        events = store.events_after(self.rv)
            except StoreError as err:  # fell behind the history: the client must relist
                yield _error_line(err)
                return
            for event in events:
                self.rv = event.resource_version
                if event.resource != key:
                    continue
                kind, obj = self._translate(event)
                if kind is None:
                    continue
                yield _line(kind, self._render(obj))
                self.sent += 1
                if self._cut():
                    return
            if self.bookmarks and time.monotonic() - last_bookmark >= BOOKMARK_INTERVAL:
                last_bookmark = time.monotonic()
                yield self._bookmark()
