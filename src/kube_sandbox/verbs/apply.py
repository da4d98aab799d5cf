"""Server-side apply (``PATCH`` with ``application/apply-patch+yaml``).

As upstream (structured-merge-diff): the applied configuration is merged into the live object
(associative lists by their keys, set lists as sets; atomic maps and structs, other lists and
scalars replaced, each owned as one field); the applying manager (``fieldManager``, required)
then owns exactly the fields it applied. A field another manager owns with a different value
is a conflict: 409 listing each field, unless ``force=true``, which takes ownership. Fields
the manager applied before but no longer applies, and that nobody else owns, are removed.
Applying to a missing object creates it (201).

For the manager ``kubectl`` two more upstream rules hold (notes in docs/sandbox.md):
lastAppliedManager forgives conflicts on fields whose live value still equals the
``last-applied-configuration`` annotation (a client-side ``kubectl apply`` before), and
lastAppliedUpdater rewrites that annotation, when present, to the applied configuration.
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


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_LAST_APPLIED_MANAGER = "kubectl"  # the raw fieldManager upstream's lastAppliedManager acts for
_ANNOTATIONS_LIMIT = 256 * 1024  # TotalAnnotationSizeLimitB
BEFORE_FIRST_APPLY = "before-first-apply"


def server_side_apply(ctx: Ctx, body: Any) -> Response:
    """Handle an apply patch for the object the request names."""

    manager = ctx.req.query.get("fieldManager")
    if not manager:
        raise _detailed(
            422,
            "Invalid",
            'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
            "is required for apply patch",
            {
                "group": "meta.k8s.io",
                "kind": "PatchOptions",
                "causes": [
                    {
                        "reason": "FieldValueRequired",
                        "message": "Required value: is required for apply patch",
                        "field": "fieldManager",
                    }
                ],
            },
        )
    if not isinstance(body, dict):
        raise StoreError(400, "BadRequest", "the request body must be a JSON object")
    gvk = _gvk_string(str(body.get("apiVersion") or ""), str(body.get("kind") or ""))
    if gvk != _gvk_string(ctx.rt.api_version, ctx.rt.kind):
        # versionCheckManager, the outermost of upstream's field managers
        raise StoreError(400, "BadRequest", f"invalid object type: {gvk}")
    if (body.get("metadata") or {}).get("managedFields") is not None:
        raise StoreError(400, "BadRequest", "metadata.managedFields must be nil")
    config = copy.deepcopy(body)  # the applied configuration as sent (lastAppliedUpdater)
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
            _update_last_applied(applied, config, manager)
            return ctx.respond(201, persist(ctx, None, applied, operation="Apply"))
        if wanted_rv and str(wanted_rv) != live["metadata"]["resourceVersion"]:
            check_precondition(ctx, live, {"metadata": {"resourceVersion": wanted_rv}})
        merged = apply_with_last_applied(ctx, live, applied, manager, force, sub)
        _update_last_applied(merged, config, manager)
        return ctx.respond(200, persist(ctx, live, merged, operation="Apply"))


def _gvk_string(api_version: str, kind: str) -> str:
    """``schema.GroupVersionKind.String()``: ``apps/v1, Kind=Deployment``, ``/v1, Kind=Pod``."""
    group, _, version = api_version.rpartition("/")
    return f"{group}/{version}, Kind={kind}"


def apply_with_last_applied(
    ctx: Ctx, live: Obj, applied: Obj, manager: str, force: bool, sub: str | None
) -> Obj:
    """:func:`apply_to_live` with upstream's lastAppliedManager around it.

    For the manager ``kubectl`` (``kubectl apply --server-side``), conflicts on fields whose
    live value still equals the ``last-applied-configuration`` annotation (what a client-side
    ``kubectl apply`` wrote) are forgiven: when every conflict is such a field the apply is
    forced; otherwise only the other conflicts are reported.
    """
    try:
        return apply_to_live(ctx, live, applied, manager, force, sub)
    except ApplyConflict as err:
        if manager != _LAST_APPLIED_MANAGER:
            raise
        allowed = _allowed_from_last_applied(ctx, live, sub)
        if allowed is None:
            raise
        remaining = [(path, entry) for path, entry in err.conflicts if path not in allowed]
        if remaining:
            raise _conflict_error(remaining) from None
        return apply_to_live(ctx, live, applied, manager, True, sub)


def _allowed_from_last_applied(ctx: Ctx, live: Obj, sub: str | None) -> FieldSet | None:
    """Fields of the annotation whose live value is still the annotated one (None: no use)."""
    text = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    if not text:
        return None
    try:
        last = json.loads(text)
    except ValueError:
        return None
    if not isinstance(last, dict) or last.get("apiVersion") != ctx.rt.api_version:
        return None
    last.setdefault("kind", live.get("kind"))
    last_flat = managed.object_fields(last, sub)
    live_flat = managed.object_fields(live, sub)
    return {
        path
        for path, value in last_flat.items()
        if path in live_flat and not _differs(live_flat[path], value)
    }


def _update_last_applied(result: Obj, config: Obj, manager: str) -> None:
    """Upstream's lastAppliedUpdater: keep an existing annotation equal to what was applied."""
    if manager != _LAST_APPLIED_MANAGER:
        return
    annotations = (result.get("metadata") or {}).get("annotations") or {}
    if not annotations.get(LAST_APPLIED):
        return
    last = copy.deepcopy(config)
    last_meta = last.get("metadata")
    if isinstance(last_meta, dict) and isinstance(last_meta.get("annotations"), dict):
        last_meta["annotations"].pop(LAST_APPLIED, None)
    annotations[LAST_APPLIED] = json.dumps(last, sort_keys=True, separators=(",", ":")) + "\n"
    if sum(len(k) + len(str(v)) for k, v in annotations.items()) > _ANNOTATIONS_LIMIT:
        del annotations[LAST_APPLIED]


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
    live_entries = managed.entries(live)
    if not live_entries:
        # an object nobody tracked yet: its fields belong to "before-first-apply" (upstream's
        # skipNonApplied manager), so the first apply conflicts where it changes them
        owned = set(live_flat)
        live_entries = [
            managed.make_entry(BEFORE_FIRST_APPLY, "Update", ctx.rt.api_version, owned, None)
        ]
    for entry in live_entries:
        fields = managed.entry_fields(entry, root)
        if managed.entry_key(entry) == mine_key:
            previous = fields
        else:
            others.append((entry, fields))
    conflicts = [
        (path, entry)
        for entry, fields in others
        for path in applied_fields & fields
        if _differs(live_flat.get(path, _MISSING), applied_flat[path])
    ]
    if conflicts and not force:
        raise _conflict_error(conflicts)
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


def manager_identifier(entry: Obj) -> str:
    """Upstream's manager identifier (BuildManagerIdentifier): the JSON of the entry's identity."""
    ident: Obj = {"manager": entry.get("manager", ""), "operation": entry.get("operation", "")}
    if entry.get("operation") == "Update":
        ident["apiVersion"] = entry.get("apiVersion", "")
    if entry.get("subresource"):
        ident["subresource"] = entry["subresource"]
    return json.dumps(ident, separators=(",", ":"))


def print_manager(entry: Obj) -> str:
    """How a conflict names a manager (printManager): name, subresource, Update's apiVersion."""
    out = json.dumps(entry.get("manager", ""))
    if entry.get("subresource"):
        out += f" with subresource {json.dumps(entry['subresource'])}"
    if entry.get("operation") == "Update":
        out += f" using {entry.get('apiVersion', '')}"
    return out


_ELEMENT_RANK = {"f": 0, "k": 1, "v": 2, "i": 3}


def _element_order(element: str) -> tuple[int, str]:
    kind, _, rest = element.partition(":")
    return (_ELEMENT_RANK.get(kind, 4), rest)


def set_order(path: Path) -> tuple[tuple[int, tuple[int, str]], ...]:
    """A sort key giving upstream's fieldpath.Set iteration order: members, then children."""
    last = len(path) - 1
    return tuple((0 if depth == last else 1, _element_order(e)) for depth, e in enumerate(path))


def _conflict_error(conflicts: list[tuple[Path, Obj]]) -> ApplyConflict:
    """409 as upstream's NewConflictError: grouped by manager, details with causes only."""
    groups: dict[str, tuple[Obj, list[Path]]] = {}
    for path, entry in conflicts:
        groups.setdefault(manager_identifier(entry), (entry, []))[1].append(path)
    ordered = [
        (entry, sorted(paths, key=set_order)) for _, (entry, paths) in sorted(groups.items())
    ]
    causes = [
        {
            "reason": "FieldManagerConflict",
            "message": f"conflict with {print_manager(entry)}",
            "field": dotted(path),
        }
        for entry, paths in ordered
        for path in paths
    ]
    if len(causes) == 1:
        message = f"Apply failed with 1 conflict: {causes[0]['message']}: {causes[0]['field']}"
    else:
        lines = []
        for entry, paths in ordered:
            lines.append(f"conflicts with {print_manager(entry)}:")
            lines.extend(f"- {dotted(path)}" for path in paths)
        message = f"Apply failed with {len(causes)} conflicts: " + "\n".join(lines)
    err = ApplyConflict(409, "Conflict", message)
    err.details = {"causes": causes}
    err.conflicts = [(path, entry) for entry, paths in ordered for path in paths]
    return err


class ApplyConflict(StoreError):
    """A 409 apply conflict; ``conflicts`` are (path, the other manager's entry)."""

    details: Obj
    conflicts: list[tuple[Path, Obj]]


class _DetailedStatus(StoreError):
    details: Obj


def _detailed(code: int, reason: str, message: str, details: Obj) -> StoreError:
    err = _DetailedStatus(code, reason, message)
    err.details = details
    return err


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
    """Merge an applied configuration into a live value (structured merge).

    Maps and structs merge field by field unless atomic; an atomic one, a scalar or a list
    that is neither ``map`` nor ``set`` is replaced by the applied value.
    """
    if (
        isinstance(applied, dict)
        and isinstance(live, dict)
        and not schema.is_atomic_map(node_schema)
    ):
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
