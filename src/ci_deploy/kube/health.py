"""Is a Deployment's rollout done, still progressing, or failed? Pure functions of observed objects.

The "done" rule is the one ``kubectl rollout status`` uses. On top of it, pods of the new
ReplicaSet that crash-loop or cannot pull their image fail the rollout at once (after a short
grace for a waiting reason, or at the second restart) instead of at the progress deadline.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ci_deploy.kube.client import Obj

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
# Waiting reasons that mean "this pod will not become ready by itself".
FATAL_WAITING = {
    "CrashLoopBackOff",
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
}
IMMEDIATE_WAITING = {"InvalidImageName"}
RESTARTS_FAILING = 2


@dataclass(frozen=True)
class RolloutStatus:
    """One assessment: ``done``, or ``failure`` (a sentence), else still progressing."""

    done: bool
    failure: str | None
    message: str
    desired: int = 0
    updated: int = 0
    ready: int = 0
    recheck_in: float | None = None  # re-assess after this many seconds even without events


@dataclass
class WaitingTracker:
    """When each (pod, container) first showed its current fatal waiting reason."""

    grace: float = 3.0
    first_seen: dict[tuple[str, str, str], float] = field(default_factory=dict)

    def age(self, pod: str, container: str, reason: str, now: float) -> float:
        """Seconds since this container first showed a fatal waiting reason."""
        # Keyed by container, not reason: ErrImagePull turning into ImagePullBackOff is one
        # failure that persists, not a new one.
        key = (pod, container, "fatal")
        return now - self.first_seen.setdefault(key, now)


def new_replicaset(deployment: Obj, replicasets: Iterable[Obj]) -> Obj | None:
    """The ReplicaSet of the Deployment's current template (by revision, owner checked)."""
    meta = deployment.get("metadata", {})
    uid = meta.get("uid")
    revision = (meta.get("annotations") or {}).get(REVISION_ANNOTATION)
    owned = [
        rs
        for rs in replicasets
        if not uid
        or any(ref.get("uid") == uid for ref in rs["metadata"].get("ownerReferences") or [])
    ]
    if revision is not None:
        for rs in owned:
            if (rs["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION) == revision:
                return rs
    template = strip_hash(deployment.get("spec", {}).get("template") or {})
    for rs in owned:
        if strip_hash(rs.get("spec", {}).get("template") or {}) == template:
            return rs
    return None


def strip_hash(template: Obj) -> Obj:
    """A pod template without the controller-added pod-template-hash label."""
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    labels.pop(HASH_LABEL, None)
    meta = dict(template.get("metadata") or {})
    if labels:
        meta["labels"] = labels
    else:
        meta.pop("labels", None)
    return {**template, "metadata": meta}


def pods_of(replicaset: Obj, pods: Iterable[Obj]) -> list[Obj]:
    """Pods created from ``replicaset`` (same pod-template-hash)."""
    wanted = (replicaset["metadata"].get("labels") or {}).get(HASH_LABEL)
    if wanted is None:
        uid = replicaset["metadata"].get("uid")
        return [
            p
            for p in pods
            if any(r.get("uid") == uid for r in p["metadata"].get("ownerReferences") or [])
        ]
    return [p for p in pods if (p["metadata"].get("labels") or {}).get(HASH_LABEL) == wanted]


def pod_failure(pod: Obj, tracker: WaitingTracker, now: float) -> tuple[str | None, float | None]:
    """Why this pod will not become ready (or None), and when to look again."""
    name = pod["metadata"]["name"]
    status = pod.get("status") or {}
    recheck: float | None = None
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        restarts = int(cs.get("restartCount") or 0)
        detail = f"pod {name} container {cs.get('name')}: {reason or 'restarting'}"
        if waiting.get("message"):
            detail += f" ({waiting['message']})"
        if restarts >= RESTARTS_FAILING and (reason in FATAL_WAITING or not cs.get("ready")):
            return f"{detail}, restarted {restarts} times", None
        if reason in IMMEDIATE_WAITING:
            return detail, None
        if reason in FATAL_WAITING:
            age = tracker.age(name, str(cs.get("name")), reason, now)
            if age >= tracker.grace:
                return f"{detail} for {age:.0f}s", None
            left = tracker.grace - age
            recheck = left if recheck is None else min(recheck, left)
    return None, recheck


def deadline_condition(deployment: Obj | None) -> Obj | None:
    """The Progressing condition with reason ProgressDeadlineExceeded, if present."""
    for cond in ((deployment or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return dict(cond)
    return None


def deadline_exceeded(deployment: Obj, stale: Obj | None = None) -> str | None:
    """The ProgressDeadlineExceeded message, unless it is ``stale``.

    The controller leaves a timed-out condition in place until the new template makes
    progress, so the condition seen just before our change (``stale``) says nothing about it.
    """
    cond = deadline_condition(deployment)
    if cond is None or cond == stale:
        return None
    return str(cond.get("message") or "progress deadline exceeded")


def assess(
    deployment: Obj,
    replicasets: Iterable[Obj],
    pods: Iterable[Obj],
    tracker: WaitingTracker,
    now: float,
    stale_deadline: Obj | None = None,
) -> RolloutStatus:
    """Where the rollout of ``deployment`` stands, from the objects the watches have seen."""
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    desired = int(spec.get("replicas", 1))
    updated = int(status.get("updatedReplicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    ready = int(status.get("readyReplicas") or 0)
    counts = {"desired": desired, "updated": updated, "ready": ready}
    generation = int(deployment["metadata"].get("generation") or 0)
    observed = int(status.get("observedGeneration") or 0)
    if observed < generation:
        return RolloutStatus(False, None, "waiting for the deployment controller", **counts)
    exceeded = deadline_exceeded(deployment, stale_deadline)
    if exceeded:
        return RolloutStatus(False, f"progress deadline exceeded: {exceeded}", exceeded, **counts)
    recheck: float | None = None
    rs = new_replicaset(deployment, list(replicasets))
    if rs is not None:
        for pod in pods_of(rs, pods):
            failure, again = pod_failure(pod, tracker, now)
            if failure:
                return RolloutStatus(False, failure, failure, **counts)
            if again is not None:
                recheck = again if recheck is None else min(recheck, again)
    if updated < desired:
        message = f"{updated} of {desired} new replicas updated, {ready} ready"
    elif int(status.get("replicas") or 0) > updated:
        old = int(status.get("replicas") or 0) - updated
        message = f"{old} old replicas pending termination"
    elif available < updated:
        message = f"{available} of {updated} updated replicas available"
    else:
        return RolloutStatus(True, None, f"{available} of {desired} replicas available", **counts)
    return RolloutStatus(False, None, message, recheck_in=recheck, **counts)
