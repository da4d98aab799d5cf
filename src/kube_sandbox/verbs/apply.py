"""Server-side apply (``PATCH`` with ``application/apply-patch+yaml``).

As upstream (structured-merge-diff): the applied configuration is merged into the live object
(associative lists by their keys, set lists as sets, other lists and scalars replaced); the
applying manager (``fieldManager``, required) then owns exactly the fields it applied. A field
another manager owns with a different value is a conflict: 409 listing each field, unless
``force=true``, which takes ownership. Fields the manager applied before but no longer applies,
and that nobody else owns, are removed. Applying to a missing object creates it (201).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from kube_sandbox.objects import managed, schema
from kube_sandbox.objects.managed import FieldSet, Path
from kube_sandbox.objects.schema import Schema
from kube_sandbox.protocol.messages import Response
from kube_sandbox.storage.store import StoreError
from kube_sandbox.verbs.bodies import check_body_kind, field_validation
from kube_sandbox.verbs.context import Ctx, check_namespace, check_precondition
from kube_sandbox.verbs.write import persist

Obj = dict[str, Any]
_SYSTEM_META = (
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "managedFields",
    "deletionTimestamp",
)


def server_side_apply(ctx: Ctx, body: Any) -> Response:
    """Handle an apply patch for the object the request names."""

    manager = ctx.req.query.get("fieldManager")
    if not manager:
        raise StoreError(
            400, "BadRequest", "PATCH, application/apply-patch+yaml requires a fieldManager"
        )
    if not isinstance(body, dict) or not body.get("apiVersion") or not body.get("kind"):
        raise StoreError(400, "BadRequest", "apply patches must set apiVersion and kind")
    applied = check_body_kind(ctx, body)
    field_validation(ctx, applied)
    wanted_rv = applied["metadata"].get("resourceVersion")
    for key in _SYSTEM_META:
        applied["metadata"].pop(key, None)
    force = ctx.req.query.get("force") == "true"
    sub = ctx.sub if ctx.sub == "status" else None
    with ctx.store.lock:
        try:
            live = ctx.store.get(ctx.rt.key, ctx.ns, ctx.name or "")
        except StoreError:
            live = None
        if live is None:
            check_namespace(ctx)
            fields = set(managed.object_fields(applied, sub))
            managed.set_entries(
                applied, [managed.make_entry(manager, "Apply", ctx.rt.api_version, fields, ctx.sub)]
            )
            return ctx.respond(201, persist(ctx, None, applied, operation="Apply"))
        if wanted_rv and str(wanted_rv) != live["metadata"]["resourceVersion"]:
            check_precondition(ctx, live, {"metadata": {"resourceVersion": wanted_rv}})
        merged = apply_to_live(ctx, live, applied, manager, force, sub)
        return ctx.respond(200, persist(ctx, live, merged, operation="Apply"))


def apply_to_live(
    ctx: Ctx, live: Obj, applied: Obj, manager: str, force: bool, sub: str | None
) -> Obj:
    """The merged object with updated managedFields; raises 409 on unforced conflicts."""
    root = managed.kind_schema(live)
    applied_flat = managed.object_fields(applied, sub)
    live_flat = managed.object_fields(live, sub)
    applied_fields = set(applied_flat)
    mine_key = (manager, "Apply", ctx.sub or "")
    previous: FieldSet = set()
    others: list[tuple[Obj, FieldSet]] = []
    for entry in managed.entries(live):
        fields = managed.from_fields_v1(entry.get("fieldsV1") or {})
        if managed.entry_key(entry) == mine_key:
            previous = fields
        else:
            others.append((entry, fields))
    conflicts = [
        (path, entry)
        for entry, fields in others
        for path in sorted(applied_fields & fields)
        if _differs(live_flat.get(path, _MISSING), applied_flat[path])
    ]
    if conflicts and not force:
        raise _conflict_error(ctx, conflicts)
    conflicting = {path for path, _ in conflicts}
    kept: list[Obj] = []
    still_owned: FieldSet = set()
    for entry, fields in others:
        remaining = fields - conflicting
        still_owned |= remaining
        kept.append({**entry, "fieldsV1": managed.to_fields_v1(remaining)})
    merged: Obj = merge(copy.deepcopy(live), applied, root)
    removals = previous - applied_fields - still_owned
    for path in sorted(removals, key=len):
        # removing a list item or a field removes what is below it: children go with it
        if not any(path[:depth] in removals for depth in range(1, len(path))):
            remove_path(merged, path, root)
    kept.append(managed.make_entry(manager, "Apply", ctx.rt.api_version, applied_fields, ctx.sub))
    managed.set_entries(merged, kept)
    return merged


class _Missing:
    pass


_MISSING = _Missing()


def _differs(live_value: Any, applied_value: Any) -> bool:
    if isinstance(live_value, _Missing):
        return True
    if live_value is managed._ITEM or applied_value is managed._ITEM:
        return live_value is not applied_value
    return bool(live_value != applied_value)


def _conflict_error(ctx: Ctx, conflicts: list[tuple[Path, Obj]]) -> StoreError:
    causes = [
        {
            "type": "FieldManagerConflict",
            "message": f'conflict with "{entry.get("manager")}" using {entry.get("apiVersion")}',
            "field": dotted(path),
        }
        for path, entry in conflicts
    ]
    lines = "\n".join(f"- {c['message']}: {c['field']}" for c in causes)
    message = f"Apply failed with {len(causes)} conflict{'s' if len(causes) > 1 else ''}: {lines}"
    if len(causes) == 1:
        message = f"Apply failed with 1 conflict: {causes[0]['message']}: {causes[0]['field']}"
    err = _ConflictError(409, "Conflict", message)
    err.causes = causes
    err.name = ctx.name or ""
    return err


class _ConflictError(StoreError):
    causes: list[Obj]
    name: str


def dotted(path: Path) -> str:
    """``.spec.template.spec.containers[name="web"].image`` style field name, as upstream."""
    out = ""
    for element in path:
        kind, _, rest = element.partition(":")
        if kind == "f":
            out += f".{rest}"
        elif kind == "k":
            pairs = json.loads(rest)
            out += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in pairs.items()) + "]"
        elif kind == "v":
            out += f"[={rest}]"
        else:
            out += f"[{rest}]"
    return out


def merge(live: Any, applied: Any, node_schema: Schema | None) -> Any:
    """Merge an applied configuration into a live value (structured merge)."""
    if isinstance(applied, dict) and isinstance(live, dict):
        for key, value in applied.items():
            live[key] = merge(live.get(key), value, schema.child(node_schema, key))
        return live
    if isinstance(applied, list) and isinstance(live, list):
        info = schema.list_info(node_schema)
        if info.list_type == "set":
            return live + [v for v in applied if v not in live]
        keys = managed._list_keys(node_schema, applied + live)
        if keys is not None:
            item_schema = schema.items(node_schema)
            index = {managed.item_key(item, keys): n for n, item in enumerate(live)}
            for item in applied:
                at = index.get(managed.item_key(item, keys))
                if at is None:
                    live.append(copy.deepcopy(item))
                else:
                    live[at] = merge(live[at], item, item_schema)
            return live
    return copy.deepcopy(applied)


def remove_path(obj: Any, path: Path, root: Schema | None) -> None:
    """Remove the member at ``path`` (a field, a list item or a set value) when present."""
    node, node_schema = obj, root
    for depth, element in enumerate(path):
        last = depth == len(path) - 1
        kind, _, rest = element.partition(":")
        if kind == "f" and isinstance(node, dict):
            if last:
                node.pop(rest, None)
                return
            node, node_schema = node.get(rest), schema.child(node_schema, rest)
        elif kind == "k" and isinstance(node, list):
            keys = managed._list_keys(node_schema, node) or ()
            match = [i for i, item in enumerate(node) if managed.item_key(item, keys) == element]
            if not match:
                return
            if last:
                del node[match[0]]
                return
            node, node_schema = node[match[0]], schema.items(node_schema)
        elif kind == "v" and isinstance(node, list) and last:
            value = json.loads(rest)
            if value in node:
                node.remove(value)
            return
        else:
            return
