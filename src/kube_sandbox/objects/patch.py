"""Patch formats: JSON patch (RFC 6902), JSON merge patch (RFC 7386), strategic merge patch.

Strategic merge patch follows upstream (``apimachinery/pkg/util/strategicpatch``): lists whose
schema says ``x-kubernetes-patch-strategy: merge`` merge by their ``patch-merge-key``
(containers and env by ``name``, container ports by ``containerPort``, Service ports by
``port``, volumes by ``name``, volumeMounts by ``mountPath``, …), other lists are replaced;
``null`` deletes a field; the directives ``$patch: replace|delete|merge``,
``$setElementOrder/<list>``, ``$deleteFromPrimitiveList/<list>`` and ``$retainKeys`` are
honoured. Functions return new values; the inputs are not modified.
"""

from __future__ import annotations

import copy
from typing import Any

from kube_sandbox.objects import schema
from kube_sandbox.objects.schema import Schema
from kube_sandbox.storage.store import StoreError

_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"


def _invalid(message: str) -> StoreError:
    return StoreError(422, "Invalid", message)


# -- JSON patch ------------------------------------------------------------------------------
def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _invalid(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str], path: str) -> Any:
    node = doc
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise _invalid(f"jsonpatch: path {path!r} does not exist")
    return node


def _add(doc: Any, parts: list[str], value: Any, path: str) -> Any:
    if not parts:
        return value
    parent = _walk(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise _invalid(f"jsonpatch: index out of range in {path!r}")
    else:
        raise _invalid(f"jsonpatch: cannot add at {path!r}")
    return doc


def _remove(doc: Any, parts: list[str], path: str) -> Any:
    if not parts:
        raise _invalid("jsonpatch: cannot remove the whole document")
    parent = _walk(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise _invalid(f"jsonpatch: path {path!r} does not exist")


def json_patch(doc: Any, ops: Any) -> Any:
    """Apply an RFC 6902 operation list."""
    if not isinstance(ops, list):
        raise StoreError(400, "BadRequest", "a JSON patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise StoreError(400, "BadRequest", f"invalid JSON patch operation: {op!r}")
        kind, path = op["op"], op["path"]
        parts = _pointer(path)
        if kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")), path)
        elif kind == "remove":
            _remove(doc, parts, path)
        elif kind == "replace":
            _walk(doc, parts, path)
            if parts:
                _remove(doc, parts, path)
            doc = _add(doc, parts, copy.deepcopy(op.get("value")), path)
        elif kind in ("move", "copy"):
            source = _pointer(op.get("from", ""))
            value = copy.deepcopy(_walk(doc, source, op.get("from", "")))
            if kind == "move":
                _remove(doc, source, op["from"])
            doc = _add(doc, parts, value, path)
        elif kind == "test":
            if _walk(doc, parts, path) != op.get("value"):
                raise _invalid(f"jsonpatch: test operation failed at {path!r}")
        else:
            raise StoreError(400, "BadRequest", f"unknown JSON patch operation {kind!r}")
    return doc


# -- merge patch -----------------------------------------------------------------------------
def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# -- strategic merge patch -------------------------------------------------------------------
def strategic_merge(original: Any, patch: Any, kind_schema: Schema | None) -> Any:
    """Apply a strategic merge patch to ``original`` guided by ``kind_schema``."""
    result = _merge_map(
        copy.deepcopy(original) if isinstance(original, dict) else {}, patch, kind_schema
    )
    return result


def _merge_map(original: dict[str, Any], patch: Any, node_schema: Schema | None) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return strip_directives({k: v for k, v in patch.items() if k != "$patch"})
    if directive == "delete":
        return None
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        for key in list(original):
            if key not in retain:
                del original[key]
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        sub = schema.child(node_schema, key)
        if value is None:
            original.pop(key, None)
        elif isinstance(value, dict):
            current = original.get(key)
            merged = _merge_map(current if isinstance(current, dict) else {}, value, sub)
            if merged is None:
                original.pop(key, None)
            else:
                original[key] = merged
        elif isinstance(value, list):
            original[key] = _merge_list(original.get(key), value, sub)
        else:
            original[key] = value
    for key, value in patch.items():
        if key.startswith(_DELETE_PRIMITIVE) and isinstance(value, list):
            field = key[len(_DELETE_PRIMITIVE) :]
            if isinstance(original.get(field), list):
                original[field] = [v for v in original[field] if v not in value]
        if key.startswith(_ORDER) and isinstance(value, list):
            field = key[len(_ORDER) :]
            if isinstance(original.get(field), list):
                merge_key = schema.list_info(schema.child(node_schema, field)).patch_merge_key
                original[field] = _reorder(original[field], value, merge_key)
    return original


def _merge_list(original: Any, patch: list[Any], list_schema: Schema | None) -> list[Any]:
    info = schema.list_info(list_schema)
    base = list(original) if isinstance(original, list) else []
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [strip_directives(i) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    if "merge" not in info.patch_strategy:
        return [strip_directives(i) for i in patch]
    key = info.patch_merge_key
    if key is None:  # a merged list of scalars: union, keeping order
        return base + [i for i in patch if i not in base]
    item_schema = schema.items(list_schema)
    for item in patch:
        if not isinstance(item, dict):
            raise _invalid(f"strategic merge patch: list item {item!r} has no merge key {key!r}")
        index = next(
            (n for n, o in enumerate(base) if isinstance(o, dict) and o.get(key) == item.get(key)),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                base.pop(index)
            continue
        if index is None:
            base.append(strip_directives(item))
        else:
            base[index] = _merge_map(base[index], item, item_schema)
    return base


def _reorder(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    def ident(value: Any) -> Any:
        return value.get(key) if key and isinstance(value, dict) else value

    wanted = [ident(o) for o in order]
    ranked = [i for w in wanted for i in items if ident(i) == w]
    return ranked + [i for i in items if ident(i) not in wanted]


def strip_directives(value: Any) -> Any:
    """A copy of ``value`` without ``$patch`` / ``$setElementOrder`` style keys."""
    if isinstance(value, dict):
        return {k: strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [strip_directives(v) for v in value]
    return value
