"""The ReplicaSet controller: keep ``spec.replicas`` pods, report how many are ready/available."""

from __future__ import annotations

import random

from kube_sandbox.controllers.common import (
    adopt_orphans,
    create_pod,
    parse_time,
    spec_int,
)
from kube_sandbox.controllers.context import PODS, REPLICASETS, Context, edit
from kube_sandbox.storage.store import Obj

COMPONENT = "replicaset-controller"
# Kubernetes' utilrand alphabet: no vowels, no digits that look like letters.


def pod_ready(pod: Obj) -> bool:
    """The pod's Ready condition is True."""
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def pod_available(pod: Obj, min_ready_seconds: int, now: float) -> bool:
    """Ready for at least ``minReadySeconds`` (Ready condition's lastTransitionTime)."""
    if not pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    for cond in pod["status"]["conditions"]:
        if cond.get("type") == "Ready":
            since = parse_time(cond.get("lastTransitionTime"))
            return since is not None and since + min_ready_seconds <= now
    return False


def _ready_since(pod: Obj) -> float:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return parse_time(cond.get("lastTransitionTime")) or 0.0
    return 0.0


def recheck_when_available(
    ctx: Context, key: tuple[str, str, str], pods: list[Obj], min_ready: int, now: float
) -> None:
    """Reconcile ``key`` again when the first Ready pod that is not yet available (Ready for
    less than minReadySeconds) becomes available."""
    waiting = [p for p in pods if pod_ready(p) and not pod_available(p, min_ready, now)]
    if waiting:
        since = min(_ready_since(p) for p in waiting)
        ctx.schedule(key, max(since + min_ready - now, 0.0) + 0.05)


def owned_pods(ctx: Context, rs: Obj) -> list[Obj]:
    """Live pods whose controller is ``rs``."""
    pods = ctx.cache.children(PODS, rs["metadata"]["uid"])
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def deletion_rank(pod: Obj) -> tuple[int, int, int, int, str]:
    """Sort key of pods to delete first: unscheduled, pending, not ready, restarted, youngest."""
    status = pod.get("status") or {}
    restarts = sum(int(c.get("restartCount") or 0) for c in status.get("containerStatuses") or [])
    created = pod["metadata"].get("creationTimestamp", "")
    return (
        1 if pod["spec"].get("nodeName") else 0,
        0 if status.get("phase") == "Pending" else 1,
        1 if pod_ready(pod) else 0,
        -restarts,
        "".join(chr(0x10FFFF - ord(ch)) for ch in created),  # later timestamps sort first
    )


class ReplicaSetController:
    """Creates and deletes pods for ReplicaSets, in one batch per reconcile."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random(0)

    def reconcile(self, ctx: Context, namespace: str, name: str) -> None:
        """Converge one ReplicaSet's pods towards spec.replicas and write its status."""
        rs = ctx.cache.get(REPLICASETS, namespace, name)
        if rs is None or rs["metadata"].get("deletionTimestamp"):
            return
        adopt_orphans(ctx, rs, PODS)
        pods = owned_pods(ctx, rs)
        want = spec_int(rs["spec"], "replicas", 1)
        if len(pods) < want:
            for _ in range(want - len(pods)):
                pods.append(self._create_pod(ctx, rs))
        elif len(pods) > want:
            surplus = sorted(pods, key=deletion_rank)[: len(pods) - want]
            for pod in surplus:
                ctx.delete(PODS, namespace, pod["metadata"]["name"])
                ctx.record(
                    rs,
                    "Normal",
                    "SuccessfulDelete",
                    f"Deleted pod: {pod['metadata']['name']}",
                    COMPONENT,
                )
            gone = {p["metadata"]["name"] for p in surplus}
            pods = [p for p in pods if p["metadata"]["name"] not in gone]
        self._write_status(ctx, rs, pods)

    def _create_pod(self, ctx: Context, rs: Obj) -> Obj:
        template = rs["spec"].get("template") or {}
        tmeta = template.get("metadata") or {}
        return create_pod(
            ctx,
            rs,
            template.get("spec") or {},
            dict(tmeta.get("labels") or {}),
            dict(tmeta.get("annotations") or {}),
            prefix=f"{rs['metadata']['name']}-",
            rng=self.rng,
            component=COMPONENT,
        )

    def _write_status(self, ctx: Context, rs: Obj, pods: list[Obj]) -> None:
        spec = rs["spec"]
        min_ready = spec_int(spec, "minReadySeconds", 0)
        now = ctx.now()
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        status: Obj = {
            "replicas": len(pods),
            "fullyLabeledReplicas": sum(
                1
                for p in pods
                if all(
                    (p["metadata"].get("labels") or {}).get(k) == v
                    for k, v in template_labels.items()
                )
            ),
            "readyReplicas": sum(1 for p in pods if pod_ready(p)),
            "availableReplicas": sum(1 for p in pods if pod_available(p, min_ready, now)),
            "observedGeneration": int(rs["metadata"].get("generation") or 1),
        }
        # The real controller leaves zero counts out (omitempty); replicas is always present.
        status = {k: v for k, v in status.items() if v or k == "replicas"}
        meta = rs["metadata"]
        recheck_when_available(
            ctx, ("replicaset", meta.get("namespace", ""), meta["name"]), pods, min_ready, now
        )
        if status == (rs.get("status") or {}):
            return
        fresh = edit(rs)
        fresh["status"] = status
        ctx.update(REPLICASETS, fresh)
