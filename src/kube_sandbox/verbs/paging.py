"""``limit`` / ``continue`` paging of list responses.

The continue token is opaque to clients (base64 JSON of the list's resourceVersion and the
last key served). A token older than the event history answers 410 Gone, as upstream does
after compaction.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from kube_sandbox.storage.store import StoreError
from kube_sandbox.verbs.context import Ctx

Obj = dict[str, Any]


def _key(obj: Obj) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


def page(ctx: Ctx, items: list[Obj], rv: int) -> tuple[list[Obj], Obj]:
    """The items of this page and the list metadata (resourceVersion, continue, remaining)."""
    query = ctx.req.query
    token = query.get("continue")
    if token:
        try:
            state = json.loads(base64.urlsafe_b64decode(token.encode()))
            after, token_rv = str(state["start"]), int(state["rv"])
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(400, "BadRequest", "invalid continue token") from exc
        if token_rv < ctx.store.oldest_watchable():
            raise StoreError(
                410,
                "Expired",
                "The provided continue parameter is too old to display a consistent list result. "
                "You can start a new list without the continue parameter.",
            )
        items = [obj for obj in items if _key(obj) > after]
        rv = token_rv
    meta: Obj = {"resourceVersion": str(rv)}
    try:
        limit = int(query.get("limit") or 0)
    except ValueError as exc:
        raise StoreError(400, "BadRequest", "limit must be an integer") from exc
    if limit > 0 and len(items) > limit:
        rest = len(items) - limit
        items = items[:limit]
        state = {"rv": rv, "start": _key(items[-1])}
        meta["continue"] = base64.urlsafe_b64encode(json.dumps(state).encode()).decode()
        meta["remainingItemCount"] = rest
    return items, meta
