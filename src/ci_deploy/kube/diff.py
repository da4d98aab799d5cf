"""What an apply would change, object by object, as ``kubectl diff`` shows it.

Every object is read as it is and applied in a server-side dry run (field manager ci-deploy,
``force``: what the deploy sends), and the two are compared on what an apply controls (no
status, no server-kept metadata: ``changes.content``). The text is a unified diff of the YAML,
live against merged. A Secret's values never appear: each is ``***``, and ``*** (before)`` /
``*** (after)`` where it changes, as kubectl masks them.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import yaml

from ci_deploy.kube.apply import FIELD_MANAGER, apply_object, object_ref
from ci_deploy.kube.changes import content, in_parallel, read_before
from ci_deploy.kube.client import KubeClient, Obj

SECRET_FIELDS = ("data", "stringData")


@dataclass(frozen=True)
class ObjectDiff:
    """One object: ``created``, ``changed``, ``unchanged`` or ``pruned``, and the diff text."""

    ref: str
    change: str
    text: str = ""


def masked(before: Obj | None, after: Obj | None) -> tuple[Obj | None, Obj | None]:
    """Copies with a Secret's values replaced by markers that still show which changed."""
    if (after or before or {}).get("kind") != "Secret":
        return before, after
    old = {f: dict((before or {}).get(f) or {}) for f in SECRET_FIELDS}
    new = {f: dict((after or {}).get(f) or {}) for f in SECRET_FIELDS}
    for field in SECRET_FIELDS:
        for key in set(old[field]) | set(new[field]):
            same = old[field].get(key) == new[field].get(key)
            if key in old[field]:
                old[field][key] = "***" if same else "*** (before)"
            if key in new[field]:
                new[field][key] = "***" if same else "*** (after)"

    def put(obj: Obj | None, values: dict[str, dict[str, str]]) -> Obj | None:
        if obj is None:
            return None
        copy = dict(obj)
        for field in SECRET_FIELDS:
            if field in copy:
                copy[field] = values[field]
        return copy

    return put(before, old), put(after, new)


def _yaml(obj: Obj | None) -> list[str]:
    if obj is None:
        return []
    meta = dict(obj.get("metadata") or {})
    if not meta.get("annotations"):
        meta.pop("annotations", None)  # content() leaves an empty dict
    text = yaml.safe_dump({**obj, "metadata": meta}, sort_keys=True, default_flow_style=False)
    return text.splitlines(keepends=True)


def unified(ref: str, before: Obj | None, after: Obj | None) -> str:
    """The unified diff of ``before`` → ``after`` (both as an apply controls them), masked."""
    old, new = masked(content(before), content(after))
    lines = difflib.unified_diff(_yaml(old), _yaml(new), f"live/{ref}", f"merged/{ref}")
    return "".join(lines)


def object_diff(ref: str, before: Obj | None, after: Obj | None) -> ObjectDiff:
    """The change from ``before`` (None: absent) to ``after`` (None: deleted)."""
    if after is None:
        return ObjectDiff(ref, "pruned", unified(ref, before, None))
    if before is None:
        return ObjectDiff(ref, "created", unified(ref, None, after))
    text = unified(ref, before, after)
    return ObjectDiff(ref, "changed" if text else "unchanged", text)


def diff_objects(
    client: KubeClient, objects: list[Obj], *, field_manager: str = FIELD_MANAGER
) -> list[ObjectDiff]:
    """What applying ``objects`` would change (raises ApplyError for a refusal)."""
    befores = read_before(client, objects)

    def one(pair: tuple[Obj, Obj | None]) -> ObjectDiff:
        obj, before = pair
        after = apply_object(client, obj, field_manager=field_manager, dry_run=True)
        return object_diff(object_ref(obj), before, after)

    return in_parallel(one, list(zip(objects, befores, strict=True)))


def created_as_rendered(objects: list[Obj]) -> list[ObjectDiff]:
    """Every object created, as rendered (no server to dry-run against: its namespace is not
    there yet, so the server's defaults are not shown)."""
    return [object_diff(object_ref(o), None, o) for o in objects]


def counts(diffs: list[ObjectDiff]) -> dict[str, int]:
    """How many objects of each change, in the order plans print them."""
    order = ("created", "changed", "unchanged", "pruned")
    return {c: sum(1 for d in diffs if d.change == c) for c in order}


def summary(diffs: list[ObjectDiff]) -> str:
    """``2 created, 1 changed, 5 unchanged, 0 pruned``."""
    return ", ".join(f"{n} {c}" for c, n in counts(diffs).items())
