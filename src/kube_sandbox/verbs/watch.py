"""Watch streams: ``?watch=true`` as chunked JSON lines ``{"type": …, "object": …}``.

The options follow upstream's ``ListOptions`` rules for an API server with the WatchList
feature on (``ValidateListOptions`` and ``SetListOptionsDefaults``):

- ``sendInitialEvents=true`` (a *watch-list*, what kubectl ≥ 1.35 and client-go informers
  send): ADDED events for the current objects (selectors applied), then, when
  ``allowWatchBookmarks=true``, a BOOKMARK at the resourceVersion of that state annotated
  ``k8s.io/initial-events-end: "true"``, then the changes after it. The state is the latest
  one, which satisfies ``resourceVersionMatch=NotOlderThan`` for any resourceVersion the
  store has reached (a newer one is answered 504 ``Too large resource version``).
- ``sendInitialEvents=false``: no initial events; the stream starts at the resourceVersion
  given, or at the latest one when it is unset or ``0``.
- neither (a legacy watch): without a resourceVersion, or with ``0``, defaulted to
  ``sendInitialEvents=true`` ("Get State and Start at Most Recent" / "Start at Any"); with
  one, history after it is replayed, or a single ERROR event carrying a 410 Expired Status is
  sent when that history is gone.
- ``sendInitialEvents`` needs ``resourceVersionMatch=NotOlderThan`` and
  ``resourceVersionMatch`` needs ``sendInitialEvents`` (422 Invalid otherwise); a list may not
  ask for ``sendInitialEvents``. ``allowWatchBookmarks`` is not required (upstream keeps it
  optional for compatibility): without it no bookmark is sent at all.

``timeoutSeconds`` ends the stream; ``allowWatchBookmarks`` also adds BOOKMARK events
periodically and before the end. Fault injection may cut a stream after N events or T seconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kube_sandbox.objects import resources
from kube_sandbox.protocol.messages import Response, status_object
from kube_sandbox.storage.store import StoreError, WatchEvent
from kube_sandbox.verbs import table
from kube_sandbox.verbs.context import Ctx, predicate_for

Obj = dict[str, Any]

BOOKMARK_INTERVAL = 5.0  # seconds between bookmarks (upstream: about a minute)
DEFAULT_TIMEOUT = 1800  # seconds, when the client gives no timeoutSeconds
_POLL = 1.0  # longest wait between checks for shutdown
INITIAL_EVENTS_END = "k8s.io/initial-events-end"  # annotation of the bookmark ending a watch-list
NOT_OLDER_THAN = "NotOlderThan"
RVM = "resourceVersionMatch"
_FALSE_WORDS = ("0", "false")  # upstream: any other value, even empty, is true


def _line(event_type: str, obj: Obj) -> bytes:
    return json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n"


# -- options ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class WatchOptions:
    """A watch request's options, validated and defaulted as upstream does."""

    resource_version: str  # '' when unset
    send_initial_events: bool | None  # None: a watch from a given resourceVersion
    bookmarks: bool
    timeout: float

    @property
    def from_latest(self) -> bool:
        """Whether the stream starts at the latest state (no resourceVersion, or ``0``)."""
        return self.resource_version in ("", "0")


def _bool_param(query: Mapping[str, str], name: str) -> bool | None:
    """A boolean query parameter as upstream decodes one (absent: None)."""
    if name not in query:
        return None
    return query[name].lower() not in _FALSE_WORDS


def _forbidden(field: str, detail: str) -> tuple[str, str, str]:
    return field, "FieldValueForbidden", f"Forbidden: {detail}"


def _not_supported(field: str, value: str, supported: list[str]) -> tuple[str, str, str]:
    choices = ", ".join(f'"{s}"' for s in supported)
    return (
        field,
        "FieldValueNotSupported",
        f'Unsupported value: "{value}": supported values: {choices}',
    )


def validate_list_options(query: Mapping[str, str], watching: bool) -> None:
    """Raise 422 Invalid for option combinations upstream's ``ValidateListOptions`` rejects."""
    match = query.get("resourceVersionMatch", "")
    send_initial = _bool_param(query, "sendInitialEvents")
    if watching:
        errors = _watch_option_errors(match, send_initial)
    else:
        errors = _list_option_errors(match, send_initial, query.get("resourceVersion", ""))
    if match and query.get("continue"):
        errors.append(
            _forbidden(RVM, "resourceVersionMatch is forbidden when continue is provided")
        )
    if errors:
        raise _invalid_list_options(errors)


def _watch_option_errors(match: str, send_initial: bool | None) -> list[tuple[str, str, str]]:
    errors = []
    if send_initial is not None and match != NOT_OLDER_THAN:
        detail = f"sendInitialEvents requires setting resourceVersionMatch to {NOT_OLDER_THAN}"
        errors.append(_forbidden(RVM, detail))
    if match and send_initial is None:
        detail = "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"
        errors.append(_forbidden(RVM, detail))
    if match and match != NOT_OLDER_THAN:
        errors.append(_not_supported(RVM, match, [NOT_OLDER_THAN]))
    return errors


def _list_option_errors(
    match: str, send_initial: bool | None, rv: str
) -> list[tuple[str, str, str]]:
    errors = []
    if match and not rv:
        detail = "resourceVersionMatch is forbidden unless resourceVersion is provided"
        errors.append(_forbidden(RVM, detail))
    if match and match not in ("Exact", NOT_OLDER_THAN):
        errors.append(_not_supported(RVM, match, ["Exact", NOT_OLDER_THAN, ""]))
    if match == "Exact" and rv == "0":
        detail = 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'
        errors.append(_forbidden(RVM, detail))
    if send_initial is not None:
        errors.append(_forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list"))
    return errors


def _invalid_list_options(errors: list[tuple[str, str, str]]) -> StoreError:
    """422 Invalid as upstream's ``errors.NewInvalid`` for ``ListOptions.meta.k8s.io``."""
    texts = [f"{field}: {body}" for field, _, body in errors]
    joined = texts[0] if len(texts) == 1 else f"[{', '.join(texts)}]"
    causes = [{"reason": reason, "message": body, "field": field} for field, reason, body in errors]
    return _DetailedError(
        422,
        "Invalid",
        f'ListOptions.meta.k8s.io "" is invalid: {joined}',
        {"group": "meta.k8s.io", "kind": "ListOptions", "causes": causes},
    )


class _DetailedError(StoreError):
    """A StoreError whose Status carries these ``details`` (read by ``api.error_response``)."""

    def __init__(self, code: int, reason: str, message: str, details: Obj) -> None:
        super().__init__(code, reason, message)
        self.details = details


def watch_options(query: Mapping[str, str]) -> WatchOptions:
    """The options of a (valid) watch request, with upstream's ``SetListOptionsDefaults``."""
    try:
        timeout = float(query.get("timeoutSeconds") or DEFAULT_TIMEOUT)
    except ValueError as exc:
        raise StoreError(400, "BadRequest", "timeoutSeconds must be a number") from exc
    rv = query.get("resourceVersion", "")
    if rv not in ("", "0"):
        try:
            int(rv)
        except ValueError as exc:
            raise StoreError(400, "BadRequest", f"invalid resourceVersion {rv!r}") from exc
    send_initial = _bool_param(query, "sendInitialEvents")
    if send_initial is None and not query.get("resourceVersionMatch") and rv in ("", "0"):
        send_initial = True  # a legacy watch from "now" starts with the current state
    bookmarks = bool(_bool_param(query, "allowWatchBookmarks"))
    return WatchOptions(rv, send_initial, bookmarks, timeout)


# -- the stream ------------------------------------------------------------------------------
def stream(ctx: Ctx) -> Response:
    """Start a watch; the returned Response streams until timeout, cut or shutdown."""

    opts = watch_options(ctx.req.query)
    predicate = predicate_for(ctx)
    initial: list[Obj] | None = None  # None: no initial events, no initial-events-end bookmark
    with ctx.store.lock:
        current = ctx.store.resource_version
        if opts.send_initial_events:
            if not opts.from_latest and int(opts.resource_version) > current:
                raise _too_large(int(opts.resource_version), current)
            initial, start_rv = ctx.store.list(ctx.rt.key, ctx.namespace, predicate, shared=True)
        elif opts.from_latest:
            start_rv = current
        else:
            start_rv = int(opts.resource_version)
            try:
                ctx.store.events_after(start_rv)
            except StoreError as err:
                return Response(200, stream=iter([_error_line(err)]))
    watcher = _Watcher(ctx, predicate, start_rv, opts)
    return Response(200, stream=watcher.run(initial))


def _too_large(wanted: int, current: int) -> StoreError:
    """504 as upstream answers a watch-list asking for a state newer than it has."""
    return _DetailedError(
        504,
        "Timeout",
        f"Timeout: Too large resource version: {wanted}, current: {current}",
        {
            "causes": [
                {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
            ],
            "retryAfterSeconds": 1,
        },
    )


def _error_line(err: StoreError) -> bytes:
    return _line("ERROR", status_object(err.code, err.reason, err.message))


class _Watcher:
    def __init__(self, ctx: Ctx, predicate: Any, rv: int, opts: WatchOptions) -> None:
        self.ctx = ctx
        self.predicate = predicate
        self.rv = rv
        self.bookmarks = opts.bookmarks
        self.start = time.monotonic()
        self.deadline = self.start + opts.timeout
        self.max_events, self.max_seconds = ctx.api.faults.watch_limits()
        self.sent = 0
        self.as_table = table.wants_table(ctx.req)
        self.converted = resources.custom(ctx.rt, ctx.store) is not None

    def _render(self, obj: Obj) -> Obj:
        """The event's object: the object itself, or a one-row Table for ``kubectl get -w``.

        As upstream, only the first Table of a stream carries the column definitions.
        """
        if self.converted and obj.get("apiVersion") != self.ctx.rt.api_version:
            obj = {**obj, "apiVersion": self.ctx.rt.api_version}  # a custom object's version
        if not self.as_table:
            return obj
        rendered = table.to_table(
            self.ctx.rt, [obj], self.ctx.req, {"resourceVersion": str(self.rv)}, self.ctx.store
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

    def _bookmark(self, initial_events_end: bool = False) -> bytes:
        """A BOOKMARK at the stream's resourceVersion (marked as ending the initial events)."""
        rt = self.ctx.rt
        meta: Obj = {"resourceVersion": str(self.rv)}
        if initial_events_end:
            meta["annotations"] = {INITIAL_EVENTS_END: "true"}
        return _line("BOOKMARK", {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta})

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

    def run(self, initial: list[Obj] | None) -> Iterator[bytes]:
        """The stream: initial ADDED events (and their bookmark), changes, until an end condition.

        ``initial`` is None when the watch sends no initial events.
        """
        for obj in initial or ():
            if self._cut():
                return
            yield _line("ADDED", self._render(obj))
            self.sent += 1
        if initial is not None and self.bookmarks:
            # bookmarks are not counted as events by the watch_max_events fault
            yield self._bookmark(initial_events_end=True)
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
