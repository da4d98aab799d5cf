"""ControllerRevisions: the template history of StatefulSets and DaemonSets (controller/history).

A revision's ``data`` is ``{"spec": {"template": {..., "$patch": "replace"}}}``; its name is
``<owner>-<hash>`` where the hash is FNV-32 of the data (plus the collision count), encoded
with Kubernetes' consonant alphabet (``rand.SafeEncodeString``). A template equal to an older
revision's re-uses that revision with the next revision number (a rollback).
"""

from __future__ import annotations

import json

from kube_sandbox.controllers.common import ALPHANUMS, owner_reference
from kube_sandbox.controllers.context import REVISIONS, Context, edit
from kube_sandbox.storage.store import Obj, StoreError

HASH_LABEL = "controller.kubernetes.io/hash"


def fnv32(data: bytes) -> int:
    """FNV-1 32-bit (Go's hash/fnv New32), as HashControllerRevision uses."""
    value = 0x811C9DC5
    for byte in data:
        value = (value * 0x01000193) % 2**32
        value ^= byte
    return value


def safe_encode(text: str) -> str:
    """``rand.SafeEncodeString``: each character mapped into the consonant alphabet."""
    return "".join(ALPHANUMS[ord(ch) % len(ALPHANUMS)] for ch in text)


def revision_data(owner: Obj) -> Obj:
    """The patch a revision stores: the owner's whole pod template."""
    template = dict((owner.get("spec") or {}).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def template_of(revision: Obj) -> Obj:
    """The pod template a revision recorded."""
    template = dict(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    return template


def revision_hash(data: Obj, collisions: int = 0) -> str:
    raw = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    if collisions:
        raw += str(collisions).encode()
    return safe_encode(str(fnv32(raw)))


def owned_revisions(ctx: Context, owner: Obj) -> list[Obj]:
    """The owner's ControllerRevisions, oldest revision first."""
    revisions = ctx.cache.children(REVISIONS, owner["metadata"]["uid"])
    return sorted(revisions, key=lambda r: int(r.get("revision") or 0))


def sync_revisions(ctx: Context, owner: Obj) -> tuple[list[Obj], Obj]:
    """Make sure a revision of the owner's current template exists; (all, the update one)."""
    revisions = owned_revisions(ctx, owner)
    data = revision_data(owner)
    latest = int(revisions[-1].get("revision") or 0) if revisions else 0
    for revision in revisions:
        if revision.get("data") == data:
            if revision is not revisions[-1]:  # a rollback: the old revision becomes the newest
                fresh = edit(revision)
                fresh["revision"] = latest + 1
                revision = ctx.update(REVISIONS, fresh)
                revisions = owned_revisions(ctx, owner)
            return revisions, revision
    meta = owner["metadata"]
    selector_labels = ((owner.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    template_labels = (data["spec"]["template"].get("metadata") or {}).get("labels") or {}
    for collisions in range(10):  # a name taken by someone else's object: hash again
        digest = revision_hash(data, collisions)
        try:
            created = ctx.create(
                REVISIONS,
                {
                    "apiVersion": "apps/v1",
                    "kind": "ControllerRevision",
                    "metadata": {
                        "name": f"{meta['name']}-{digest}",
                        "namespace": meta.get("namespace", ""),
                        "labels": {**template_labels, **selector_labels, HASH_LABEL: digest},
                        "ownerReferences": [owner_reference(owner)],
                    },
                    "data": data,
                    "revision": latest + 1,
                },
            )
        except StoreError as err:
            if err.code != 409:
                raise
            continue
        return owned_revisions(ctx, owner), created
    raise StoreError(409, "AlreadyExists", f"no free revision name for {meta['name']}")


def trim_history(ctx: Context, owner: Obj, live: set[str]) -> None:
    """Delete the oldest revisions beyond ``revisionHistoryLimit`` that no pod uses."""
    limit = int((owner.get("spec") or {}).get("revisionHistoryLimit", 10))
    revisions = owned_revisions(ctx, owner)
    idle = [r for r in revisions[:-1] if r["metadata"]["name"] not in live]
    for revision in idle[: max(len(idle) - limit, 0)]:
        meta = revision["metadata"]
        ctx.delete(REVISIONS, meta.get("namespace", ""), meta["name"])
