"""Helpers shared by the controllers: owner references, selectors, conditions, int-or-percent."""

from __future__ import annotations

import math
import random
from datetime import datetime, timezone
from typing import Any

from kube_sandbox.controllers.context import PODS, Context, edit
from kube_sandbox.storage.store import Obj, StoreError, now_iso

ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"  # what apimachinery's rand.String draws from

__all__ = [
    "adopt_orphans",
    "condition",
    "controller_of",
    "get_condition",
    "is_owned_by",
    "matches_selector",
    "now_iso",
    "owner_reference",
    "parse_time",
    "scaled_value",
    "set_condition",
]


def owner_reference(owner: Obj) -> Obj:
    """The controller ownerReference a child of ``owner`` carries, as real controllers set it."""
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controller_of(obj: Obj) -> Obj | None:
    """The ownerReference with ``controller: true``, if any."""
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def is_owned_by(obj: Obj, owner_uid: str) -> bool:
    """True when ``obj``'s controller ownerReference points at ``owner_uid``."""
    ref = controller_of(obj)
    return ref is not None and ref.get("uid") == owner_uid


def adopt_orphans(ctx: Context, owner: Obj, resource: str) -> None:
    """Make ``owner`` the controller of matching objects that have none (ClaimReplicaSets/Pods).

    After ``kubectl delete --cascade=orphan`` and a re-apply, the new owner takes the orphans
    over instead of starting a second set beside them.
    """
    meta = owner["metadata"]
    selector = (owner.get("spec") or {}).get("selector")
    for obj in ctx.cache.orphans(resource, meta.get("namespace", "")):
        child = obj["metadata"]
        if child.get("deletionTimestamp") or not matches_selector(child.get("labels"), selector):
            continue
        fresh = edit(obj)
        refs = [*(child.get("ownerReferences") or []), owner_reference(owner)]
        fresh["metadata"]["ownerReferences"] = refs
        ctx.update(resource, fresh)


def matches_selector(labels: dict[str, str] | None, selector: Obj | None) -> bool:
    """Match ``labels`` against a metav1.LabelSelector (matchLabels and matchExpressions).

    An empty or missing selector matches nothing, as for Deployments and Services without one.
    """
    if not selector:
        return False
    labels = labels or {}
    match_labels: dict[str, str] = selector.get("matchLabels") or {}
    expressions: list[Obj] = selector.get("matchExpressions") or []
    if not match_labels and not expressions:
        return False
    if any(labels.get(k) != v for k, v in match_labels.items()):
        return False
    return all(_expression_holds(labels, e) for e in expressions)


def _expression_holds(labels: dict[str, str], expr: Obj) -> bool:
    key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    return False


def scaled_value(value: int | str | None, total: int, *, round_up: bool, default: str) -> int:
    """Resolve an IntOrString such as maxSurge ("25%" or 2) against ``total``.

    Kubernetes rounds maxSurge up and maxUnavailable down (intstr.GetScaledValueFromIntOrPercent).
    """
    if value is None:
        value = default
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text.endswith("%"):
        return int(text)
    share = int(text[:-1]) * total / 100
    return math.ceil(share) if round_up else math.floor(share)


def parse_time(text: str | None) -> float | None:
    """Seconds since the epoch of an RFC 3339 timestamp as the store writes them, or None."""
    if not text:
        return None
    try:
        stamp = datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    return stamp.replace(tzinfo=timezone.utc).timestamp()


def get_condition(status: Obj, kind: str) -> Obj | None:
    """The condition of type ``kind`` in ``status["conditions"]``, if present."""
    for cond in status.get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def condition(kind: str, status: str, reason: str, message: str, now: str) -> Obj:
    """A Deployment/ReplicaSet-style condition (with lastUpdateTime)."""
    return {
        "type": kind,
        "status": status,
        "lastUpdateTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def set_condition(status: Obj, new: Obj, *, refresh: bool = False) -> None:
    """Insert or replace a condition, keeping lastTransitionTime when the status is unchanged.

    Like SetDeploymentCondition: the same status and reason leave the condition alone (a steady
    state writes nothing), unless ``refresh`` (the Deployment controller refreshes Progressing's
    lastUpdateTime whenever it notices progress).
    """
    conditions: list[Obj] = list(status.get("conditions") or [])
    for i, old in enumerate(conditions):
        if old.get("type") != new["type"]:
            continue
        same_status = old.get("status") == new["status"]
        if same_status and old.get("reason") == new["reason"] and not refresh:
            return
        if same_status:
            new = {
                **new,
                "lastTransitionTime": old.get("lastTransitionTime", new["lastTransitionTime"]),
            }
        conditions[i] = new
        status["conditions"] = conditions
        return
    conditions.append(new)
    status["conditions"] = conditions


def labels_of(obj: Obj) -> dict[str, str]:
    """``metadata.labels`` (empty when absent)."""
    labels: dict[str, str] = obj.get("metadata", {}).get("labels") or {}
    return labels


def spec_int(spec: Obj, key: str, default: int) -> int:
    """An integer spec field with its API default."""
    value: Any = spec.get(key)
    return default if value is None else int(value)


def create_pod(
    ctx: Context,
    owner: Obj,
    spec: Obj,
    labels: dict[str, str],
    annotations: dict[str, str],
    *,
    prefix: str,
    rng: random.Random,
    component: str,
) -> Obj:
    """Create a pod ``prefix`` + 5 random characters controlled by ``owner`` (as a ReplicaSet,
    DaemonSet or Job controller does: ``generateName``), and record SuccessfulCreate.

    A name another pod has is drawn again; after five clashes on create it gives up (409).
    """
    namespace = owner["metadata"].get("namespace", "")
    for _ in range(5):
        while True:
            name = prefix + "".join(rng.choice(ALPHANUMS) for _ in range(5))
            if ctx.cache.get(PODS, namespace, name) is None:
                break
        meta: Obj = {
            "name": name,
            "generateName": prefix,
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": [owner_reference(owner)],
        }
        if annotations:
            meta["annotations"] = annotations
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": meta,
            "spec": spec,  # the store copies what it keeps
            "status": {"phase": "Pending", "qosClass": "BestEffort"},
        }
        try:
            created = ctx.create(PODS, pod)
        except StoreError as err:
            if err.code == 409:
                continue  # a name clash with a pod created by someone else: draw again
            raise
        ctx.record(owner, "Normal", "SuccessfulCreate", f"Created pod: {name}", component)
        return created
    raise StoreError(409, "AlreadyExists", f"no free pod name for {owner['metadata']['name']}")
