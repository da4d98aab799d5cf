"""Applying a set of objects so that afterwards we know exactly what changed, and can undo it.

``apply_tracked`` reads every object first (its state before the run), has the API server
admit the whole set in a server-side dry run (any refusal there: nothing was changed), then
applies every object for real and compares each answer with the object as it was before.
The resulting :class:`ApplyReport` names what was created, what was changed, what stayed as
it was and what was refused — the facts a partial apply must be reported and restored from.
``restore_changes`` undoes a report: objects created by the run are deleted, changed ones are
put back as they were before (except those the caller restores its own way).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from ci_deploy.kube.apply import FIELD_MANAGER, ApplyError, apply_object, object_ref
from ci_deploy.kube.client import KubeClient, Obj, ResourceKind
from ci_deploy.kube.errors import ApiError, NetworkError

A = TypeVar("A")
T = TypeVar("T")
WORKERS = 8
# Metadata the API server or controllers change on their own: not a change made by the apply.
VOLATILE_METADATA = ("resourceVersion", "managedFields", "generation", "creationTimestamp", "uid")
# Annotations written by others than the apply (the rollout record, the Deployment controller).
VOLATILE_ANNOTATIONS = ("ci-deploy.dev/state", "deployment.kubernetes.io/revision")


def content(obj: Obj | None) -> Obj | None:
    """What an apply can change: the object without status and server-kept metadata."""
    if obj is None:
        return None
    kept = {k: copy.deepcopy(v) for k, v in obj.items() if k != "status"}
    meta = {k: v for k, v in (kept.get("metadata") or {}).items() if k not in VOLATILE_METADATA}
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k not in VOLATILE_ANNOTATIONS
    }
    meta["annotations"] = annotations
    kept["metadata"] = meta
    return kept


@dataclass(frozen=True)
class ObjectChange:
    """One rendered object: as it was before the run, as it is after, and any refusal."""

    ref: str  # "Deployment web-app-staging/web-app"
    kind: ResourceKind
    name: str
    namespace: str | None
    before: Obj | None  # None: it did not exist
    after: Obj | None  # None: it does not exist (or could not be read)
    error: ApplyError | None = None
    known: bool = True  # False: the apply's outcome could not be read back

    @property
    def created(self) -> bool:
        """It did not exist before the run and exists now."""
        return self.before is None and self.after is not None

    @property
    def changed(self) -> bool:
        """It existed before and the run changed what an apply controls."""
        return (
            self.before is not None
            and self.after is not None
            and content(self.before) != content(self.after)
        )

    @property
    def touched(self) -> bool:
        """Created, changed, or possibly so (outcome unknown)."""
        return self.created or self.changed or not self.known

    @property
    def path(self) -> str:
        """The object's REST path."""
        return self.kind.path(self.namespace, self.name)


@dataclass(frozen=True)
class ApplyReport:
    """The outcome of one tracked apply, object by object (input order)."""

    changes: tuple[ObjectChange, ...]
    dry_run_refused: bool = False

    @property
    def refused(self) -> list[ObjectChange]:
        return [c for c in self.changes if c.error is not None]

    @property
    def touched(self) -> list[ObjectChange]:
        return [c for c in self.changes if c.touched]

    @property
    def nothing_changed(self) -> bool:
        return not self.touched

    def find(self, ref: str) -> ObjectChange | None:
        """The change of ``ref`` (e.g. "Deployment ns/name"), if it was among the objects."""
        return next((c for c in self.changes if c.ref == ref), None)

    def summary(self) -> str:
        """``created: A, B; changed: C; unchanged: D; refused: E (403 Forbidden: …)``."""
        refused = [f"{c.ref} ({_refusal(c.error)})" for c in self.refused if c.error]
        if self.dry_run_refused:  # nothing was applied: only the refusals are news
            return f"refused: {'; '.join(refused)}"
        parts = []
        groups: list[tuple[str, Callable[[ObjectChange], bool]]] = [
            ("created", lambda c: c.created),
            ("changed", lambda c: c.changed),
            ("outcome unknown", lambda c: not c.known),
            ("unchanged", lambda c: c.known and not c.created and not c.changed and not c.error),
        ]
        for label, test in groups:
            refs = [c.ref for c in self.changes if test(c)]
            if refs:
                parts.append(f"{label}: {', '.join(refs)}")
        if refused:
            parts.append(f"refused: {'; '.join(refused)}")
        return "; ".join(parts) or "no objects"


def _refusal(error: ApplyError | None) -> str:
    if error is None:
        return ""
    return f"{error.error.status} {error.error.reason}: {error.error.message}"


def in_parallel(fn: Callable[[A], T], items: list[A]) -> list[T]:
    """``fn`` over ``items`` on a small thread pool (the client's connection pool), in order."""
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(WORKERS, len(items)))) as pool:
        return list(pool.map(fn, items))


def _locate(client: KubeClient, obj: Obj) -> tuple[ResourceKind, str, str | None]:
    kind = client.resolve_kind(str(obj["apiVersion"]), str(obj["kind"]))
    meta = obj.get("metadata") or {}
    return kind, str(meta["name"]), meta.get("namespace")


def read_before(client: KubeClient, objects: list[Obj]) -> list[Obj | None]:
    """Every object as the cluster has it now (None: absent). Raises on API errors."""

    def read(obj: Obj) -> Obj | None:
        kind, name, namespace = _locate(client, obj)
        return client.get_or_none(kind.path(namespace, name))

    return in_parallel(read, objects)


def dry_run(client: KubeClient, objects: list[Obj], field_manager: str) -> list[ApplyError]:
    """Every refusal of a server-side dry run of all objects (empty: all admitted)."""

    def attempt(obj: Obj) -> ApplyError | None:
        try:
            apply_object(client, obj, field_manager=field_manager, dry_run=True)
        except ApplyError as exc:
            return exc
        return None

    return [e for e in in_parallel(attempt, objects) if e is not None]


def _apply_one(client: KubeClient, obj: Obj, before: Obj | None, manager: str) -> ObjectChange:
    kind, name, namespace = _locate(client, obj)
    ref = object_ref(obj)
    try:
        after = apply_object(client, obj, field_manager=manager)
        return ObjectChange(ref, kind, name, namespace, before, after)
    except ApplyError as exc:
        error = exc
    try:  # refused, or the answer was lost: what is there now?
        current = client.get_or_none(kind.path(namespace, name))
    except (ApiError, NetworkError):
        return ObjectChange(ref, kind, name, namespace, before, None, error, known=False)
    return ObjectChange(ref, kind, name, namespace, before, current, error)


def apply_tracked(
    client: KubeClient, objects: list[Obj], *, field_manager: str = FIELD_MANAGER
) -> ApplyReport:
    """Read, dry-run, then apply every object; the report says what changed, object by object.

    A refusal in the dry run returns a report with ``dry_run_refused`` and nothing applied.
    API errors while reading or dry-running (before any change) propagate.
    """
    before = read_before(client, objects)
    refusals = {e.ref: e for e in dry_run(client, objects, field_manager)}
    if refusals:
        changes = []
        for obj, old in zip(objects, before, strict=True):
            kind, name, namespace = _locate(client, obj)
            ref = object_ref(obj)
            changes.append(ObjectChange(ref, kind, name, namespace, old, old, refusals.get(ref)))
        return ApplyReport(tuple(changes), dry_run_refused=True)
    pairs = list(zip(objects, before, strict=True))
    results = in_parallel(lambda pair: _apply_one(client, *pair, field_manager), pairs)
    return ApplyReport(tuple(results))


# -- undoing ------------------------------------------------------------------------------------
@dataclass
class RestoreResult:
    """What ``restore_changes`` did, and what it could not do (ref, error)."""

    deleted: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def restore_changes(
    client: KubeClient, changes: Iterable[ObjectChange], *, skip: Iterable[str] = ()
) -> RestoreResult:
    """Delete what the run created, put back what it changed (``skip``: refs restored elsewhere)."""
    skipped = set(skip)
    result = RestoreResult()
    for change in changes:
        if change.ref in skipped or not change.touched:
            continue
        try:
            if change.before is None:
                _delete(client, change)
                result.deleted.append(change.ref)
            else:
                _put_back(client, change, change.before)
                result.restored.append(change.ref)
        except (ApiError, NetworkError) as exc:
            result.failed.append((change.ref, str(exc)))
    return result


def _delete(client: KubeClient, change: ObjectChange) -> None:
    try:
        client.request("DELETE", change.path, body={"propagationPolicy": "Background"})
    except ApiError as exc:
        if exc.status != 404:
            raise


def _put_back(client: KubeClient, change: ObjectChange, before: Obj, attempts: int = 10) -> None:
    """Replace the object with its state before the run (PUT with the current resourceVersion)."""
    last: ApiError | None = None
    for _ in range(attempts):
        current = client.get_or_none(change.path)
        body = copy.deepcopy(before)
        body.pop("status", None)
        meta = body.setdefault("metadata", {})
        meta.pop("managedFields", None)
        if current is None:  # deleted meanwhile: create it again as it was
            for key in ("resourceVersion", "uid", "creationTimestamp"):
                meta.pop(key, None)
            client.request("POST", change.kind.path(change.namespace), body=body)
            return
        meta["resourceVersion"] = current["metadata"].get("resourceVersion")
        try:
            client.request("PUT", change.path, body=body, query=[("fieldManager", FIELD_MANAGER)])
            return
        except ApiError as exc:
            if not exc.is_conflict:
                raise
            last = exc
    assert last is not None
    raise last
