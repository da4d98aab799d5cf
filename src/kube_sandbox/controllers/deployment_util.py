"""Pure helpers of the Deployment controller: template hash, revisions, replica arithmetic, status.

They follow kubernetes/pkg/controller/deployment/util (read for semantics, not copied).
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from kube_sandbox.controllers.common import (
    ALPHANUMS,
    condition,
    get_condition,
    scaled_value,
    set_condition,
    spec_int,
)
from kube_sandbox.storage.store import Obj

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
# Annotations a Deployment does not pass on to its ReplicaSets (annotationsToSkip).
SKIPPED_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        REVISION_HISTORY,
        DESIRED_REPLICAS,
        MAX_REPLICAS,
        "deprecated.deployment.rollback.to",
    }
)
NO_DEADLINE = 2**31 - 1  # progressDeadlineSeconds = MaxInt32 disables the deadline


def canonical(value: Any) -> Any:
    """``value`` without nulls and empty maps or lists.

    The real controller compares decoded Go structs, where ``creationTimestamp: null`` (as
    ``kubectl rollout undo`` sends it), an empty map and an absent field are all the same.
    """
    if isinstance(value, dict):
        pairs = ((k, canonical(v)) for k, v in value.items())
        return {k: v for k, v in pairs if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def template_hash(template: Obj, collision_count: int | None = None) -> str:
    """A stable hash of the pod template, encoded like rand.SafeEncodeString of a uint32."""
    text = json.dumps(canonical(template), sort_keys=True, separators=(",", ":"))
    if collision_count:
        text += f"#{collision_count}"
    value = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")
    return "".join(ALPHANUMS[ord(ch) % len(ALPHANUMS)] for ch in str(value))


def without_hash(template: Obj) -> Obj:
    """The template without the pod-template-hash label, in canonical form (EqualIgnoreHash)."""
    plain = copy.deepcopy(template)
    labels = (plain.get("metadata") or {}).get("labels")
    if labels is not None:
        labels.pop(HASH_LABEL, None)
    result: Obj = canonical(plain)
    return result


def revision_of(rs: Obj) -> int:
    """The ReplicaSet's deployment.kubernetes.io/revision (0 when absent or unparsable)."""
    text = (rs["metadata"].get("annotations") or {}).get(REVISION, "")
    return int(text) if str(text).isdigit() else 0


def by_creation(rss: list[Obj]) -> list[Obj]:
    """Oldest first (ties broken by name), as controller.ReplicaSetsByCreationTimestamp."""
    return sorted(
        rss, key=lambda r: (r["metadata"].get("creationTimestamp", ""), r["metadata"]["name"])
    )


def replicas(obj: Obj) -> int:
    """spec.replicas with the API default of 1."""
    return spec_int(obj.get("spec") or {}, "replicas", 1)


def status_int(obj: Obj, key: str) -> int:
    """An integer status field (absent means 0)."""
    return int((obj.get("status") or {}).get(key) or 0)


def is_recreate(d: Obj) -> bool:
    """The Deployment uses the Recreate strategy."""
    return bool((d["spec"].get("strategy") or {}).get("type") == "Recreate")


def fenceposts(d: Obj) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) resolved against spec.replicas; never both zero."""
    rolling = (d["spec"].get("strategy") or {}).get("rollingUpdate") or {}
    desired = replicas(d)
    surge = scaled_value(rolling.get("maxSurge"), desired, round_up=True, default="25%")
    unavailable = scaled_value(
        rolling.get("maxUnavailable"), desired, round_up=False, default="25%"
    )
    if surge == 0 and unavailable == 0:
        unavailable = 1  # the API forbids both zero; the controller uses 1 (ResolveFenceposts)
    return surge, unavailable


def max_surge(d: Obj) -> int:
    """How many pods above spec.replicas a rollout may run."""
    return 0 if is_recreate(d) else fenceposts(d)[0]


def max_unavailable(d: Obj) -> int:
    """How many pods below spec.replicas may be unavailable during a rollout."""
    desired = replicas(d)
    if is_recreate(d) or desired == 0:
        return 0
    return min(fenceposts(d)[1], desired)


def new_rs_replicas(d: Obj, all_rss: list[Obj], new_rs: Obj | None) -> int:
    """How far the new ReplicaSet may be scaled now (NewRSNewReplicas)."""
    desired = replicas(d)
    if is_recreate(d):
        return desired
    current_new = replicas(new_rs) if new_rs is not None else 0
    # Kubernetes sums spec.replicas; counting pods still present (status.replicas) as well
    # keeps the number of existing pods within replicas + maxSurge at every moment.
    current = sum(max(replicas(rs), status_int(rs, "replicas")) for rs in all_rss)
    max_total = desired + max_surge(d)
    if current >= max_total:
        return current_new
    return current_new + min(max_total - current, max(desired - current_new, 0))


def progress_deadline(d: Obj) -> int | None:
    """spec.progressDeadlineSeconds, or None when the deadline is disabled."""
    value = d["spec"].get("progressDeadlineSeconds", 600)
    return None if value is None or int(value) >= NO_DEADLINE else int(value)


def calculate_status(d: Obj, all_rss: list[Obj], new_rs: Obj | None, now: str) -> Obj:
    """Replica counts and the Available condition (calculateStatus)."""
    previous = d.get("status") or {}
    available = sum(status_int(rs, "availableReplicas") for rs in all_rss)
    desired = replicas(d)
    status: Obj = {
        "observedGeneration": int(d["metadata"].get("generation") or 1),
        "replicas": sum(status_int(rs, "replicas") for rs in all_rss),
        "updatedReplicas": status_int(new_rs, "replicas") if new_rs is not None else 0,
        "readyReplicas": sum(status_int(rs, "readyReplicas") for rs in all_rss),
        "availableReplicas": available,
        "unavailableReplicas": max(desired - available, 0),
    }
    status = {k: v for k, v in status.items() if v}  # omitempty, as the real API
    if previous.get("collisionCount") is not None:
        status["collisionCount"] = previous["collisionCount"]
    status["conditions"] = copy.deepcopy(previous.get("conditions") or [])
    if available >= desired - max_unavailable(d):
        cond = condition(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            now,
        )
    else:
        cond = condition(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            now,
        )
    set_condition(status, cond)
    return status


def is_complete(d: Obj, status: Obj) -> bool:
    """All replicas updated and available, and the latest spec observed (DeploymentComplete)."""
    desired = replicas(d)
    return (
        int(status.get("updatedReplicas") or 0) == desired
        and int(status.get("replicas") or 0) == desired
        and int(status.get("availableReplicas") or 0) == desired
        and int(status.get("observedGeneration") or 0) >= int(d["metadata"].get("generation") or 1)
    )


def is_progressing(d: Obj, new: Obj) -> bool:
    """The new status shows progress against the stored one (DeploymentProgressing)."""
    old = d.get("status") or {}

    def get(s: Obj, key: str) -> int:
        return int(s.get(key) or 0)

    old_old = get(old, "replicas") - get(old, "updatedReplicas")
    new_old = get(new, "replicas") - get(new, "updatedReplicas")
    return (
        get(new, "updatedReplicas") > get(old, "updatedReplicas")
        or new_old < old_old
        or get(new, "readyReplicas") > get(old, "readyReplicas")
        or get(new, "availableReplicas") > get(old, "availableReplicas")
    )


def deadline_passed(d: Obj, status: Obj, now: float, since: float | None) -> bool:
    """No progress for progressDeadlineSeconds since ``since`` (DeploymentTimedOut)."""
    deadline = progress_deadline(d)
    cond = get_condition(status, "Progressing")
    if deadline is None or cond is None:
        return False
    if cond.get("reason") == "ProgressDeadlineExceeded":
        return True
    if cond.get("reason") == "NewReplicaSetAvailable":
        return False
    return since is not None and since + deadline < now


def rs_annotations(d: Obj, rs: Obj, revision: int, *, created: bool) -> bool:
    """Copy the Deployment's annotations and the revision onto ``rs``; True when changed.

    A ReplicaSet brought back by a rollback gets the next revision number, and its former
    number is kept in deployment.kubernetes.io/revision-history, as the real controller does.
    """
    before: dict[str, str] = rs["metadata"].get("annotations") or {}
    annotations = dict(before)
    rs["metadata"]["annotations"] = annotations
    for key, value in (d["metadata"].get("annotations") or {}).items():
        if key not in SKIPPED_ANNOTATIONS:
            annotations[key] = value
    old = revision_of(rs)
    if old < revision:
        annotations[REVISION] = str(revision)
        if old and not created:
            history = [h for h in annotations.get(REVISION_HISTORY, "").split(",") if h]
            annotations[REVISION_HISTORY] = ",".join([*history, str(old)])
    return annotations != before


def proportional_sizes(d: Obj, new: Obj | None, old: list[Obj]) -> dict[str, int]:
    """New sizes by ReplicaSet name when spec.replicas changes outside a rollout (dc.scale).

    One active ReplicaSet (or none: the newest) simply takes spec.replicas. A saturated new
    ReplicaSet lets the old ones go to 0. Otherwise the difference to replicas + maxSurge is
    shared in proportion to the current sizes, the rounding remainder going to the largest
    (newest when adding, oldest when removing) ReplicaSet.
    """
    every = ([new] if new is not None else []) + old
    active = [rs for rs in every if replicas(rs) > 0]
    desired = replicas(d)
    if len(active) <= 1:
        target = active[0] if active else (new or (by_creation(old)[-1] if old else None))
        return {target["metadata"]["name"]: desired} if target is not None else {}
    if (
        new is not None
        and replicas(new) == desired
        and status_int(new, "availableReplicas") == desired
    ):
        return {rs["metadata"]["name"]: 0 for rs in old}
    allowed = desired + max_surge(d) if desired > 0 else 0
    current = sum(replicas(rs) for rs in active)
    to_add = allowed - current
    if to_add == 0:
        return {}
    # Largest first; among equals the newest when adding and the oldest when removing.
    by_age = by_creation(active)
    ordered = sorted(by_age[::-1] if to_add > 0 else by_age, key=lambda rs: -replicas(rs))
    sizes: dict[str, int] = {}
    added = 0
    for rs in ordered:
        share = int(to_add * replicas(rs) / current)
        if abs(added + share) > abs(to_add):
            share = to_add - added
        sizes[rs["metadata"]["name"]] = max(replicas(rs) + share, 0)
        added += share
    first = ordered[0]["metadata"]["name"]
    sizes[first] = max(sizes[first] + to_add - added, 0)
    return sizes
