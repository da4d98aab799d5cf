"""The app's other workloads: every Deployment, StatefulSet and DaemonSet besides the primary.

They are applied with the rest, watched here until each one has rolled out (the rules of
``kubectl rollout status`` for each kind, plus the fail-fast of a crash-looping or unpullable
pod of the new revision), and put back together with the primary on a failure. One watch per
kind over the app's namespace feeds one cache; every event re-assesses all of them.

A StatefulSet under ``OrderedReady`` never replaces a pod that is not Running and Ready, so
restoring its template is not enough to roll it back from a broken revision: the pods of that
revision must be deleted too (what the Kubernetes documentation calls a forced rollback).
:func:`broken_revision_pods` names them.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from ci_deploy.kube.cancel import CancelToken
from ci_deploy.kube.client import (
    DAEMONSET,
    DEPLOYMENT,
    POD,
    REPLICASET,
    STATEFULSET,
    KubeClient,
    Obj,
    ResourceKind,
)
from ci_deploy.kube.health import RolloutStatus, WaitingTracker, assess, pod_failure
from ci_deploy.kube.watch import Cache, Event, ResourceWatcher, fold_events, stopped_outcome

WORKLOAD_KINDS: dict[str, ResourceKind] = {
    "Deployment": DEPLOYMENT,
    "StatefulSet": STATEFULSET,
    "DaemonSet": DAEMONSET,
}
REVISION_LABEL = "controller-revision-hash"  # StatefulSet and DaemonSet pods


def is_workload(obj: Obj) -> bool:
    """A Deployment, StatefulSet or DaemonSet (of ``apps/v1``)."""
    return obj.get("apiVersion") == "apps/v1" and obj.get("kind") in WORKLOAD_KINDS


def workload_ref(obj: Obj) -> str:
    """``StatefulSet db``: how plans and messages name a workload."""
    return f"{obj['kind']} {obj['metadata']['name']}"


def split_ref(ref: str) -> tuple[ResourceKind, str]:
    """``StatefulSet db`` → (the StatefulSet kind, ``db``)."""
    kind, _, name = ref.partition(" ")
    return WORKLOAD_KINDS[kind], name


def _owned(obj: Obj, items: Iterable[Obj]) -> list[Obj]:
    uid = obj["metadata"].get("uid")
    return [
        i
        for i in items
        if any(r.get("uid") == uid for r in i["metadata"].get("ownerReferences") or [])
    ]


def _first_failure(
    pods: Iterable[Obj], tracker: WaitingTracker, now: float
) -> tuple[str | None, float | None]:
    recheck: float | None = None
    for pod in pods:
        failure, again = pod_failure(pod, tracker, now)
        if failure:
            return failure, None
        if again is not None:
            recheck = again if recheck is None else min(recheck, again)
    return None, recheck


def _generation_pending(obj: Obj) -> bool:
    observed = int((obj.get("status") or {}).get("observedGeneration") or 0)
    return observed < int(obj["metadata"].get("generation") or 0)


def assess_statefulset(
    sts: Obj, pods: Iterable[Obj], tracker: WaitingTracker, now: float
) -> RolloutStatus:
    """Where a StatefulSet's rollout stands (``kubectl rollout status`` rules, fail-fast)."""
    spec, status = sts.get("spec") or {}, sts.get("status") or {}
    desired = int(spec.get("replicas", 1))
    ready = int(status.get("readyReplicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    counts = {"desired": desired, "updated": updated, "ready": ready}
    if _generation_pending(sts):
        return RolloutStatus(False, None, "waiting for the statefulset controller", **counts)
    revision = status.get("updateRevision")
    new = [
        p
        for p in _owned(sts, pods)
        if (p["metadata"].get("labels") or {}).get(REVISION_LABEL) == revision
    ]
    failure, recheck = _first_failure(new, tracker, now)
    if failure:
        return RolloutStatus(False, failure, failure, **counts)
    strategy = spec.get("updateStrategy") or {}
    if ready < desired:
        message = f"{ready} of {desired} pods ready"
        return RolloutStatus(False, None, message, recheck_in=recheck, **counts)
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return RolloutStatus(True, None, f"{ready} of {desired} pods ready (OnDelete)", **counts)
    partition = (strategy.get("rollingUpdate") or {}).get("partition")
    if partition is not None:
        if updated < desired - int(partition):
            message = f"{updated} of {desired - int(partition)} pods above the partition updated"
            return RolloutStatus(False, None, message, recheck_in=recheck, **counts)
        return RolloutStatus(
            True, None, f"partitioned rollout complete: {updated} updated", **counts
        )
    if status.get("updateRevision") != status.get("currentRevision"):
        message = f"{updated} of {desired} pods updated"
        return RolloutStatus(False, None, message, recheck_in=recheck, **counts)
    return RolloutStatus(True, None, f"{ready} of {desired} pods ready", **counts)


def assess_daemonset(
    ds: Obj, pods: Iterable[Obj], tracker: WaitingTracker, now: float
) -> RolloutStatus:
    """Where a DaemonSet's rollout stands (``kubectl rollout status`` rules, fail-fast)."""
    status = ds.get("status") or {}
    desired = int(status.get("desiredNumberScheduled") or 0)
    updated = int(status.get("updatedNumberScheduled") or 0)
    available = int(status.get("numberAvailable") or 0)
    counts = {"desired": desired, "updated": updated, "ready": int(status.get("numberReady") or 0)}
    if _generation_pending(ds):
        return RolloutStatus(False, None, "waiting for the daemonset controller", **counts)
    failure, recheck = _first_failure(_owned(ds, pods), tracker, now)
    if failure:
        return RolloutStatus(False, failure, failure, **counts)
    if updated < desired:
        message = f"{updated} of {desired} updated pods scheduled"
    elif available < desired:
        message = f"{available} of {desired} updated pods available"
    else:
        return RolloutStatus(True, None, f"{available} of {desired} pods available", **counts)
    return RolloutStatus(False, None, message, recheck_in=recheck, **counts)


def assess_workload(
    obj: Obj,
    cache: Cache,
    tracker: WaitingTracker,
    now: float,
    stale_deadline: Obj | None = None,
) -> RolloutStatus:
    """Where one workload's rollout stands, from what the watches have seen."""
    pods = cache.all("pods")
    if obj["kind"] == "StatefulSet":
        return assess_statefulset(obj, pods, tracker, now)
    if obj["kind"] == "DaemonSet":
        return assess_daemonset(obj, pods, tracker, now)
    replicasets = _owned(obj, cache.all("replicasets"))
    return assess(obj, replicasets, pods, tracker, now, stale_deadline)


@dataclass(frozen=True)
class WorkloadsOutcome:
    """How waiting for the workloads ended: ``done``, ``failed``, ``timeout`` or ``cancelled``."""

    result: str
    message: str


def wait_for_workloads(
    client: KubeClient,
    namespace: str,
    refs: Iterable[str],
    *,
    timeout: float,
    cancel: CancelToken,
    on_progress: Callable[[str], None] | None = None,
    fail_fast_grace: float = 3.0,
    extra_stop: CancelToken | None = None,
    stale_deadlines: Mapping[str, Obj | None] | None = None,
) -> WorkloadsOutcome:
    """Watch the workloads ``refs`` (``StatefulSet db``, …) until every one has rolled out,
    one fails (its first failure, named), the time is up or the run is cancelled."""
    wanted = [split_ref(r) for r in refs]
    kinds = {kind for kind, _ in wanted} | {POD}
    if DEPLOYMENT in kinds:
        kinds.add(REPLICASET)
    events: queue.Queue[Event | None] = queue.Queue()
    wakers = [cancel.on_cancel(lambda: events.put(None))]
    if extra_stop is not None:
        wakers.append(extra_stop.on_cancel(lambda: events.put(None)))
    watchers = [ResourceWatcher(client, kind, namespace, events) for kind in sorted(kinds, key=str)]
    for watcher in watchers:
        watcher.start()
    cache, tracker = Cache(), WaitingTracker(grace=fail_fast_grace)
    deadline = time.monotonic() + timeout
    recheck: float | None = None
    pending = [f"{k.kind.lower()}/{n}: not seen yet" for k, n in wanted]
    try:
        while True:
            stopped = stopped_outcome(cancel, extra_stop, deadline, timeout, None)
            if stopped is not None:
                return WorkloadsOutcome(stopped.result, f"{'; '.join(pending)}: {stopped.message}")
            wait = deadline - time.monotonic()
            fold_events(events, cache, wait if recheck is None else min(wait, recheck))
            if any(kind.plural not in cache.objects for kind in kinds):
                continue  # a kind not listed yet: judging now would see its objects missing
            pending, recheck = [], None
            for kind, name in wanted:
                obj = cache.objects.get(kind.plural, {}).get(name)
                ref = f"{kind.kind} {name}"
                shown = f"{kind.kind.lower()}/{name}"
                if obj is None:
                    pending.append(f"{shown}: not there yet")
                    continue
                status = assess_workload(
                    obj, cache, tracker, time.monotonic(), (stale_deadlines or {}).get(ref)
                )
                if status.failure:
                    return WorkloadsOutcome("failed", f"{shown}: {status.failure}")
                if not status.done:
                    pending.append(f"{shown}: {status.message}")
                    again = status.recheck_in
                    if again is not None:
                        recheck = again if recheck is None else min(recheck, again)
            if not pending:
                return WorkloadsOutcome("done", f"{len(wanted)} workloads rolled out")
            if on_progress is not None:
                on_progress("; ".join(pending))
    finally:
        for remove in wakers:
            remove()
        for watcher in watchers:
            threading.Thread(target=watcher.stop, daemon=True).start()


def broken_revision_pods(before: Obj, pods: Iterable[Obj]) -> list[str]:
    """The pods of a StatefulSet that a restore of ``before`` (the object as it was, with its
    status) leaves stuck: not of the revision it had, and not Ready. They must be deleted for
    the controller to bring the restored revision back (a forced rollback)."""
    revision = (before.get("status") or {}).get("updateRevision")
    if before.get("kind") != "StatefulSet" or not revision:
        return []
    stuck = []
    for pod in _owned(before, pods):
        labels = pod["metadata"].get("labels") or {}
        conditions = (pod.get("status") or {}).get("conditions") or []
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
        if labels.get(REVISION_LABEL) != revision and not ready:
            stuck.append(str(pod["metadata"]["name"]))
    return sorted(stuck)
