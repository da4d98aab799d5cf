"""The Kubernetes object schemas the sandbox validates, patches and publishes with.

They come from the JSON schemas bundled in the ``kubernetes-validate`` package (generated from
the upstream OpenAPI document, with the ``x-kubernetes-*`` list and patch extensions kept), for
the Kubernetes minor version the sandbox reports in ``/version``. One source serves four uses:
strict field validation, strategic merge patch merge keys, server-side apply list semantics and
the ``/openapi/v3`` documents kubectl reads.

Kinds without a bundled schema are permissive here: every field is accepted, lists are atomic.
Custom resources (HTTPRoute among them) are validated by their CRD's schema instead
(``crd.py``).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Schema = dict[str, Any]

KUBE_MINOR = "32"
_DEFS_PREFIX = "#/$defs/"
MAP_TYPE = "x-kubernetes-map-type"


@functools.cache
def definitions() -> dict[str, Schema]:
    """All named definitions (``io.k8s.api.apps.v1.Deployment`` → schema), loaded once."""
    import kubernetes_validate  # a runtime dependency; only its data files are used

    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    path = root / f"v1.{KUBE_MINOR}.0-local" / "_definitions.json"
    with path.open(encoding="utf-8") as handle:
        defs: dict[str, Schema] = json.load(handle)["$defs"]
    return defs


@functools.cache
def _gvk_index() -> dict[tuple[str, str, str], str]:
    index: dict[tuple[str, str, str], str] = {}
    for name, schema in definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            index.setdefault((gvk["group"], gvk["version"], gvk["kind"]), name)
    return index


def group_version_kinds() -> list[tuple[str, str, str]]:
    """Every (group, version, kind) the bundled definitions carry."""
    return list(_gvk_index())


def definition_name(group: str, version: str, kind: str) -> str | None:
    """The definition name of a kind, or None when no schema is bundled (permissive kind)."""
    return _gvk_index().get((group, version, kind))


def for_kind(group: str, version: str, kind: str) -> Schema | None:
    """The schema of a kind, or None for a permissive kind."""
    name = definition_name(group, version, kind)
    return definitions()[name] if name else None


def resolve(schema: Schema) -> Schema:
    """Follow a ``$ref`` to its definition (one level; definitions do not chain refs).

    A field's own ``x-kubernetes-map-type`` wins over its definition's, as upstream's
    TypeRef ElementRelationship does (``PersistentVolumeSpec.claimRef`` is a granular
    ObjectReference, an atomic struct elsewhere).
    """
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(_DEFS_PREFIX):
        name = ref[len(_DEFS_PREFIX) :]
        map_type = schema.get(MAP_TYPE)
        if isinstance(map_type, str) and map_type != definitions()[name].get(MAP_TYPE):
            return _with_map_type(name, map_type)
        return definitions()[name]
    return schema


@functools.cache
def _with_map_type(name: str, map_type: str) -> Schema:
    # cached: one object per override, so the identity memo of ``child`` stays sound
    return {**definitions()[name], MAP_TYPE: map_type}


_CHILDREN: dict[tuple[int, str], Schema | None] = {}
_UNSET: Any = object()


def child(schema: Schema | None, key: str) -> Schema | None:
    """Schema of field ``key`` of an object schema; None when permissive or unknown.

    Use :func:`knows_field` to tell an unknown field from a permissive one. Memoized by the
    schema's identity: schemas are loaded once and never change.
    """
    if schema is None:
        return None
    memo = (id(schema), key)
    hit: Schema | None = _CHILDREN.get(memo, _UNSET)
    if hit is _UNSET:
        if len(_CHILDREN) > 100_000:  # field names come from requests: bound the memo
            _CHILDREN.clear()
        hit = _CHILDREN[memo] = _child(schema, key)
    return hit


def _child(schema: Schema, key: str) -> Schema | None:
    props = schema.get("properties")
    if props and key in props:
        return resolve(props[key])
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        return resolve(extra)
    return None


def knows_field(schema: Schema | None, key: str) -> bool:
    """Whether an object schema accepts a field named ``key``."""
    if schema is None or schema.get("x-kubernetes-preserve-unknown-fields"):
        return True
    if key in schema.get("properties", {}):
        return True
    extra = schema.get("additionalProperties")
    return extra is not False and (extra is not None or "properties" not in schema)


def items(schema: Schema | None) -> Schema | None:
    """Schema of the items of an array schema."""
    if schema is None or "items" not in schema:
        return None
    return resolve(schema["items"])


@dataclass(frozen=True)
class ListInfo:
    """How a list field merges: ``map`` lists are keyed, ``set`` lists hold unique scalars."""

    list_type: str  # "atomic" | "map" | "set"
    keys: tuple[str, ...] = ()
    patch_merge_key: str | None = None
    patch_strategy: str = ""  # "merge", "replace", "retainKeys", "merge,retainKeys", ""


def list_info(schema: Schema | None) -> ListInfo:
    """Merge semantics of a list field from its ``x-kubernetes-*`` extensions."""
    if schema is None:
        return ListInfo("atomic")
    return ListInfo(
        list_type=schema.get("x-kubernetes-list-type", "atomic"),
        keys=tuple(schema.get("x-kubernetes-list-map-keys", ())),
        patch_merge_key=schema.get("x-kubernetes-patch-merge-key"),
        patch_strategy=schema.get("x-kubernetes-patch-strategy", ""),
    )


def is_atomic_map(schema: Schema | None) -> bool:
    """Whether a map or struct is one field for server-side apply (granular by default).

    ``x-kubernetes-map-type: atomic``: ``Service.spec.selector``, LabelSelector,
    ObjectReference and others; permissive kinds have only granular maps.
    """
    return schema is not None and schema.get(MAP_TYPE) == "atomic"


def is_map_schema(schema: Schema | None) -> bool:
    """Whether a schema is a free-form string map (labels, data) rather than a struct."""
    return schema is not None and "properties" not in schema and "additionalProperties" in schema


def unknown_fields(obj: Any, schema: Schema | None, path: str = "") -> list[str]:
    """Dotted paths of fields in ``obj`` that ``schema`` does not define (strict decoding)."""
    found: list[str] = []
    if schema is None:
        return found
    if isinstance(obj, dict):
        if "properties" not in schema and "additionalProperties" not in schema:
            return found
        for key, value in obj.items():
            where = f"{path}.{key}" if path else key
            if not knows_field(schema, key):
                found.append(where)
                continue
            found.extend(unknown_fields(value, child(schema, key), where))
    elif isinstance(obj, list):
        item_schema = items(schema)
        for index, value in enumerate(obj):
            found.extend(unknown_fields(value, item_schema, f"{path}[{index}]"))
    return found


def drop_fields(obj: Any, paths: list[str]) -> None:
    """Remove the fields named by :func:`unknown_fields` paths (``fieldValidation=Ignore``)."""
    for path in paths:
        _drop(obj, path)


def _drop(obj: Any, path: str) -> None:
    node = obj
    parts = _split(path)
    for part in parts[:-1]:
        node = node[part]
    last = parts[-1]
    if isinstance(node, dict):
        node.pop(last, None)


def _split(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for piece in path.split("."):
        name, _, rest = piece.partition("[")
        if name:
            parts.append(name)
        while rest:
            index, _, rest = rest.partition("]")
            parts.append(int(index))
            rest = rest.lstrip("[")
    return parts


def prune_empty(obj: Any, node_schema: Schema | None) -> Any:
    """Drop nulls, empty lists and empty string maps, as Go's ``omitempty`` encoding does.

    Empty structs (``securityContext: {}``, ``resources: {}``) are kept, as upstream does.
    """
    if isinstance(obj, dict):
        for key in list(obj):
            sub = child(node_schema, key)
            value = prune_empty(obj[key], sub)
            if value is None or value == [] or (value == {} and is_map_schema(sub)):
                del obj[key]
            else:
                obj[key] = value
    elif isinstance(obj, list):
        item_schema = items(node_schema)
        for index, value in enumerate(obj):
            obj[index] = prune_empty(value, item_schema)
    return obj
