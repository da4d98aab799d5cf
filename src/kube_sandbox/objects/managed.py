"""Field ownership: field sets, ``metadata.managedFields`` (FieldsV1) and their bookkeeping.

A field set is a set of paths; a path is a tuple of upstream path elements: ``f:<field>``,
``k:<json of the key fields>`` (an item of an associative list), ``v:<json>`` (a value of a set
list). Leaves and list items are members; struct and map nodes are not (as upstream's
``ToFieldSet``). An atomic map, struct or list (``x-kubernetes-map-type: atomic``, a list that
is not ``map`` or ``set``) is a leaf: one member, nothing below it (``f:selector: {}``). The
wire form nests the path elements, with ``"."`` marking a node that is itself a member and
also has members below it.

On a non-apply write (``operation: Update``) the writing manager gains the fields whose values
it changed, the other managers lose them, and removed fields leave every set.
"""

from __future__ import annotations

import json
from typing import Any

from kube_sandbox.objects import schema
from kube_sandbox.objects.schema import Schema
from kube_sandbox.storage.store import now_iso

Obj = dict[str, Any]
Path = tuple[str, ...]
FieldSet = set[Path]

_META_TRACKED = ("labels", "annotations", "ownerReferences", "finalizers")
_KEY_DEFAULTS = {"protocol": "TCP"}  # key fields upstream's schema defaults


def kind_schema(obj: Obj) -> Schema | None:
    """The schema for an object's apiVersion/kind (None: permissive)."""
    api_version = str(obj.get("apiVersion", ""))
    group, _, version = api_version.rpartition("/")
    return schema.for_kind(group, version, str(obj.get("kind", "")))


def item_key(item: Obj, keys: tuple[str, ...]) -> str:
    """The ``k:`` path element of an associative-list item."""
    values = {k: item.get(k, _KEY_DEFAULTS.get(k)) for k in keys if k in item or k in _KEY_DEFAULTS}
    return "k:" + json.dumps(values, separators=(",", ":"))


def _list_keys(list_schema: Schema | None, items: list[Any]) -> tuple[str, ...] | None:
    info = schema.list_info(list_schema)
    if info.list_type == "map" and info.keys and all(isinstance(i, dict) for i in items):
        return info.keys
    return None


def flatten(value: Any, node_schema: Schema | None, prefix: Path = ()) -> dict[Path, Any]:
    """Every member path of ``value`` with its value (lists items map to a marker)."""
    out: dict[Path, Any] = {}
    if isinstance(value, dict) and value and not schema.is_atomic_map(node_schema):
        for key, child in value.items():
            out.update(flatten(child, schema.child(node_schema, key), (*prefix, f"f:{key}")))
        return out
    if isinstance(value, list) and value:
        keys = _list_keys(node_schema, value)
        info = schema.list_info(node_schema)
        if keys is not None:
            item_schema = schema.items(node_schema)
            for item in value:
                element = (*prefix, item_key(item, keys))
                out[element] = _ITEM
                out.update(flatten(item, item_schema, element))
            return out
        if info.list_type == "set":
            for item in value:
                value_element = (*prefix, "v:" + json.dumps(item, separators=(",", ":")))
                out[value_element] = _ITEM
            return out
    out[prefix] = value
    return out


class _Marker:
    def __repr__(self) -> str:
        return "<item>"


_ITEM = _Marker()


def object_fields(obj: Obj, subresource: str | None) -> dict[Path, Any]:
    """Tracked member paths of an object: spec-like fields and user metadata, or status only."""
    node_schema = kind_schema(obj)
    if subresource == "status":
        return flatten(obj.get("status"), schema.child(node_schema, "status"), ("f:status",))
    out: dict[Path, Any] = {}
    meta = obj.get("metadata") or {}
    meta_schema = schema.child(node_schema, "metadata")
    for key in _META_TRACKED:
        if meta.get(key):
            out.update(
                flatten(meta[key], schema.child(meta_schema, key), ("f:metadata", f"f:{key}"))
            )
    for key, value in obj.items():
        if key not in ("apiVersion", "kind", "metadata", "status"):
            out.update(flatten(value, schema.child(node_schema, key), (f"f:{key}",)))
    return out


def to_fields_v1(paths: FieldSet) -> Obj:
    """The nested FieldsV1 form of a field set."""
    tree: Obj = {}
    for path in paths:
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    for path in paths:
        node = tree
        for element in path:
            node = node[element]
        if node and "." not in node:
            node["."] = {}
    return tree


def from_fields_v1(tree: Obj, prefix: Path = ()) -> FieldSet:
    """The field set a FieldsV1 tree describes."""
    out: FieldSet = set()
    for key, child in tree.items():
        if key == ".":
            out.add(prefix)
        elif not child:
            out.add((*prefix, key))
        else:
            out |= from_fields_v1(child, (*prefix, key))
    return out


def entry_fields(entry: Obj, root: Schema | None) -> FieldSet:
    """The field set of a managedFields entry, reconciled with the kind's schema."""
    return reconcile(from_fields_v1(entry.get("fieldsV1") or {}), root)


def reconcile(fields: FieldSet, root: Schema | None) -> FieldSet:
    """Upstream's ReconcileFieldSetWithSchema: paths below an atomic field (written before it
    was atomic, or sent by a client) become the atomic field itself."""
    if root is None:
        return fields
    return {_atomic_prefix(path, root) for path in fields}


def _atomic_prefix(path: Path, root: Schema) -> Path:
    """``path`` cut at the first atomic map, struct or list it goes below."""
    node: Schema | None = root
    for depth, element in enumerate(path):
        if node is None:
            return path
        kind, _, name = element.partition(":")
        if kind == "f":
            if depth and schema.is_atomic_map(node):
                return path[:depth]
            node = schema.child(node, name)
        else:  # an item of a list: ``k:`` or ``v:``
            if schema.list_info(node).list_type == "atomic":
                return path[:depth]
            node = schema.items(node)
    return path


def entries(obj: Obj) -> list[Obj]:
    """The managedFields entries of an object (a copy of the list)."""
    return list((obj.get("metadata") or {}).get("managedFields") or [])


def entry_key(entry: Obj) -> tuple[str, str, str]:
    """(manager, operation, subresource): what identifies one managedFields entry."""
    return (entry.get("manager", ""), entry.get("operation", ""), entry.get("subresource", ""))


def make_entry(
    manager: str, operation: str, api_version: str, fields: FieldSet, subresource: str | None
) -> Obj:
    """One managedFields entry."""
    entry: Obj = {
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": now_iso(),
        "fieldsType": "FieldsV1",
        "fieldsV1": to_fields_v1(fields),
    }
    if subresource:
        entry["subresource"] = subresource
    return entry


def set_entries(obj: Obj, new_entries: list[Obj]) -> None:
    """Store entries on the object, dropping empty ones, in upstream's order.

    sortEncodedManagedFields: operation (``Apply`` before ``Update``), time, manager,
    apiVersion, subresource.
    """
    kept = sorted((e for e in new_entries if e.get("fieldsV1")), key=_entry_order)
    meta = obj.setdefault("metadata", {})
    if kept:
        meta["managedFields"] = kept
    else:
        meta.pop("managedFields", None)


def _entry_order(entry: Obj) -> tuple[str, str, str, str, str]:
    return (
        str(entry.get("operation", "")),
        str(entry.get("time") or ""),
        str(entry.get("manager", "")),
        str(entry.get("apiVersion", "")),
        str(entry.get("subresource", "")),
    )


def record_update(
    old: Obj | None, new: Obj, manager: str, api_version: str, subresource: str | None
) -> None:
    """Update ``new``'s managedFields for a non-apply write by ``manager`` (in place)."""
    sub = subresource if subresource == "status" else None
    new_flat = object_fields(new, sub)
    old_flat = object_fields(old, sub) if old is not None else {}
    changed = {p for p, v in new_flat.items() if p not in old_flat or old_flat[p] != v}
    removed = set(old_flat) - set(new_flat)
    if old is None:
        changed = set(new_flat)
    current = entries(old) if old is not None else []
    sent = (new.get("metadata") or {}).get("managedFields")
    if sent is not None and sent != current:
        current = list(sent)  # the client rewrote managedFields (e.g. kubectl's CSA upgrade)
    elif old is not None and not current:
        # upstream's skipNonApplied: an update of an object nobody tracks does not start
        # tracking it (creates always do; the first apply does, with "before-first-apply")
        set_entries(new, [])
        return
    mine_key = (manager, "Update", subresource or "")
    root = kind_schema(new)
    result: list[Obj] = []
    mine: FieldSet = set()
    for entry in current:
        stored = from_fields_v1(entry.get("fieldsV1") or {})
        fields = reconcile(stored, root)
        if entry_key(entry) == mine_key:
            mine = fields
            continue
        trimmed = fields - changed - removed
        if trimmed != stored:
            entry = {**entry, "fieldsV1": to_fields_v1(trimmed)}
        result.append(entry)
    mine = (mine - removed) | changed
    if mine:
        result.append(make_entry(manager, "Update", api_version, mine, subresource))
    set_entries(new, result)
