"""Every write, from any verb, goes through :func:`persist`.

Defaulting, validation, system metadata (uid, creationTimestamp, generation, resourceVersion),
status/spec separation, managedFields, then the store, unless ``dryRun=All``.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from kube_sandbox.objects import crd, defaults, managed, resources, schema, validation
from kube_sandbox.storage.store import now_iso
from kube_sandbox.verbs.context import Ctx

Obj = dict[str, Any]


def persist(ctx: Ctx, old: Obj | None, new: Obj, *, operation: str = "Update") -> Obj:
    """Default, validate, stamp and store ``new`` (replacing ``old``); honours dryRun.

    ``operation`` is ``Update`` (managedFields updated from the diff), or ``Apply`` (the caller,
    server-side apply, has already set managedFields).
    """
    rt = ctx.rt
    new["apiVersion"], new["kind"] = rt.api_version, rt.kind
    meta = new.setdefault("metadata", {})
    if old is None:
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_iso()
        meta["generation"] = 1
        meta.pop("deletionTimestamp", None)
        status = defaults.initial_status(rt.kind)
        if resources.has_status(rt) or status is not None:
            new.pop("status", None)
            if status is not None:
                new["status"] = status
    else:
        _keep_system_metadata(ctx, old, new)
    schema.prune_empty(new, schema.for_kind(rt.group, rt.version, rt.kind))
    if old is not None:
        defaults.keep_allocated(rt.kind, old, new)
    defaults.apply_defaults(rt.kind, new)
    validation.validate(rt, new, old)
    if rt.key == resources.CRD_KEY:
        _definition(ctx, old, new)
    custom = resources.custom(rt, ctx.store)
    if custom is not None:
        _custom_object(custom, new)
    meta = new["metadata"]
    if old is not None and ctx.sub != "status":
        # compared after defaulting: a field that defaulting restores is no change
        changed = _spec_part(new) != _spec_part(old)
        meta["generation"] = int(old["metadata"].get("generation", 1)) + int(changed)
    sent_fields = meta.get("managedFields")
    rewritten = (  # a client may rewrite managedFields itself (kubectl's CSA → SSA upgrade)
        operation == "Update"
        and old is not None
        and sent_fields is not None
        and sent_fields != entries_of(old)
    )
    if operation == "Update":
        managed.record_update(old, new, ctx.manager, rt.api_version, ctx.sub)
    if (
        old is not None
        and not rewritten
        and _strip_volatile(new) == _strip_volatile(old)
        and (operation == "Update" or _untimed(entries_of(new)) == _untimed(entries_of(old)))
    ):
        # a no-op write neither bumps resourceVersion nor emits an event; an apply that only
        # adds or drops a managedFields entry is a change (upstream's equality.go ignores
        # only the entries' timestamps)
        return old
    if ctx.dry_run:
        return new
    # the result is only serialized into the response: take the stored object, not a copy
    if old is None:
        return ctx.store.create(rt.key, new, shared=True)
    new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
    return ctx.store.update(rt.key, new, shared=True)


def _definition(ctx: Ctx, old: Obj | None, new: Obj) -> None:
    """A CRD: its defaults and checks, and the status its controllers give it at once."""
    crd.default_crd(new)
    causes = crd.crd_causes(new, old)
    if causes:
        raise validation.invalid(ctx.rt, str(new["metadata"].get("name", "")), causes)
    others, _ = ctx.store.list(resources.CRD_KEY, shared=True)
    new["status"] = crd.crd_status(new, others, old)


def _custom_object(custom: resources.CustomKind, new: Obj) -> None:
    """A custom object: pruned, defaulted and validated by its CRD's schema."""
    root = custom.schema
    schema.drop_fields(new, crd.unknown_fields(new, root))
    crd.apply_defaults(new, root)
    causes = crd.schema_causes(new, root)
    if causes:
        rt = custom.rt
        raise crd.invalid_error(rt.kind, rt.group, str(new["metadata"].get("name", "")), causes)


def _keep_system_metadata(ctx: Ctx, old: Obj, new: Obj) -> None:
    meta, old_meta = new["metadata"], old["metadata"]
    for key in ("uid", "creationTimestamp", "name", "namespace", "deletionTimestamp"):
        if key in old_meta:
            meta[key] = old_meta[key]
        else:
            meta.pop(key, None)
    if "generateName" in old_meta:
        meta.setdefault("generateName", old_meta["generateName"])
    if ctx.sub == "status":
        # the status subresource changes status only (and keeps metadata labels as they are)
        kept = copy.deepcopy(old)
        kept["status"] = new.get("status")
        new.clear()
        new.update(kept)
        return
    if resources.has_status(ctx.rt):
        if "status" in old:
            new["status"] = copy.deepcopy(old["status"])
        else:
            new.pop("status", None)


def _spec_part(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def entries_of(obj: Obj) -> Any:
    """An object's managedFields (None when it has none)."""
    return (obj.get("metadata") or {}).get("managedFields")


def _untimed(fields: Any) -> Any:
    if not isinstance(fields, list):
        return fields
    return [
        {k: v for k, v in entry.items() if k != "time"} if isinstance(entry, dict) else entry
        for entry in fields
    ]


def _strip_volatile(obj: Obj) -> Obj:
    out = dict(obj)
    meta = dict(out.get("metadata") or {})
    for key in ("managedFields", "resourceVersion"):
        meta.pop(key, None)
    out["metadata"] = meta
    return out
