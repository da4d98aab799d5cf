"""The StatefulSet controller (pkg/controller/statefulset): ordered pods, revisions, partitions.

Pods are ``<sts>-<ordinal>``. Under ``OrderedReady`` the next ordinal is created only once every
lower one is Running and Ready, and scaling down removes the highest ordinal first, one at a
time; ``Parallel`` creates and deletes them all at once. Each pod carries the name of the
ControllerRevision of its template in ``controller-revision-hash``. A RollingUpdate replaces
pods from the highest ordinal down to ``partition``, one at a time, each after the previous
replacement is Ready; OnDelete leaves pods alone until someone deletes them.
"""

from __future__ import annotations

import re

from kube_sandbox.controllers.common import adopt_orphans, owner_reference, spec_int
from kube_sandbox.controllers.context import PODS, STATEFULSETS, Context, edit
from kube_sandbox.controllers.history import sync_revisions, template_of, trim_history
from kube_sandbox.controllers.replicaset import (
    pod_available,
    pod_ready,
    recheck_when_available,
)
from kube_sandbox.storage.store import Obj, StoreError

COMPONENT = "statefulset-controller"
REVISION_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
PVCS = "/persistentvolumeclaims"


def ordinal_of(sts_name: str, pod: Obj) -> int | None:
    """The ordinal in a pod's name ``<sts>-<n>``, or None for a name that is not one."""
    match = re.fullmatch(re.escape(sts_name) + r"-(0|[1-9][0-9]*)", pod["metadata"]["name"])
    return int(match.group(1)) if match else None


def _running_and_available(pod: Obj, min_ready_seconds: int, now: float) -> bool:
    """isRunningAndAvailable: Running, and Ready for at least minReadySeconds."""
    running = (pod.get("status") or {}).get("phase") == "Running"
    return running and pod_available(pod, min_ready_seconds, now)


def _terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


class StatefulSetController:
    """One reconcile creates, deletes or replaces pods as far as the policy allows, then status."""

    def reconcile(self, ctx: Context, namespace: str, name: str) -> None:
        sts = ctx.cache.get(STATEFULSETS, namespace, name)
        if sts is None or sts["metadata"].get("deletionTimestamp"):
            return
        revisions, update_rev = sync_revisions(ctx, sts)
        status = sts.get("status") or {}
        by_name = {r["metadata"]["name"]: r for r in revisions}
        current_rev = by_name.get(status.get("currentRevision") or "", update_rev)
        adopt_orphans(ctx, sts, PODS)
        pods = [
            p
            for p in ctx.cache.children(PODS, sts["metadata"]["uid"])
            if not p["metadata"].get("deletionTimestamp")
        ]
        self._sync_pods(ctx, sts, pods, current_rev, update_rev)
        pods = [
            p
            for p in ctx.cache.children(PODS, sts["metadata"]["uid"])
            if not p["metadata"].get("deletionTimestamp")
        ]
        self._write_status(ctx, sts, pods, current_rev, update_rev)
        live = {current_rev["metadata"]["name"], update_rev["metadata"]["name"]}
        live |= {(p["metadata"].get("labels") or {}).get(REVISION_LABEL, "") for p in pods}
        trim_history(ctx, sts, live)

    def _sync_pods(
        self, ctx: Context, sts: Obj, pods: list[Obj], current_rev: Obj, update_rev: Obj
    ) -> None:
        spec, name = sts["spec"], sts["metadata"]["name"]
        replicas = spec_int(spec, "replicas", 1)
        start = int((spec.get("ordinals") or {}).get("start") or 0)
        parallel = spec.get("podManagementPolicy") == "Parallel"
        strategy = spec.get("updateStrategy") or {}
        rolling = strategy.get("type", "RollingUpdate") == "RollingUpdate"
        partition = (strategy.get("rollingUpdate") or {}).get("partition")
        keep_current_below = start + (
            int(partition)
            if partition is not None
            else int((sts.get("status") or {}).get("currentReplicas") or 0)
        )
        min_ready, now = spec_int(spec, "minReadySeconds", 0), ctx.now()

        def healthy(pod: Obj) -> bool:
            return _running_and_available(pod, min_ready, now)

        by_ordinal: dict[int, Obj] = {}
        condemned: list[Obj] = []
        for pod in pods:
            ordinal = ordinal_of(name, pod)
            if ordinal is None or not start <= ordinal < start + replicas:
                condemned.append(pod)
            else:
                by_ordinal[ordinal] = pod
        # a failed or finished pod is replaced (the real controller deletes and recreates it)
        for ordinal, pod in list(by_ordinal.items()):
            if _terminal(pod):
                self._delete(ctx, sts, pod)
                del by_ordinal[ordinal]
        for ordinal in range(start, start + replicas):
            existing = by_ordinal.get(ordinal)
            if existing is None:
                use_current = rolling and ordinal < keep_current_below
                revision = current_rev if use_current else update_rev
                by_ordinal[ordinal] = self._create_pod(ctx, sts, ordinal, revision)
                if not parallel:
                    return  # OrderedReady: wait for it to be Running and Ready
            elif not parallel and not healthy(existing):
                return
        condemned.sort(key=lambda p: ordinal_of(name, p) or -1, reverse=True)
        for pod in condemned:
            self._delete(ctx, sts, pod)
            if not parallel:
                return  # one at a time, highest first
        if not rolling:
            return  # OnDelete: pods take the new template only when deleted
        update_name = update_rev["metadata"]["name"]
        floor = start + (int(partition) if partition is not None else 0)
        for ordinal in range(start + replicas - 1, floor - 1, -1):
            pod = by_ordinal[ordinal]
            if (pod["metadata"].get("labels") or {}).get(REVISION_LABEL) != update_name:
                self._delete(ctx, sts, pod)  # recreated at the update revision next round
                return
            if not healthy(pod):
                return

    def _create_pod(self, ctx: Context, sts: Obj, ordinal: int, revision: Obj) -> Obj:
        meta = sts["metadata"]
        namespace = meta.get("namespace", "")
        template = template_of(revision)
        tmeta = template.get("metadata") or {}
        pod_name = f"{meta['name']}-{ordinal}"
        labels = {
            **(tmeta.get("labels") or {}),
            REVISION_LABEL: revision["metadata"]["name"],
            POD_NAME_LABEL: pod_name,
            POD_INDEX_LABEL: str(ordinal),
        }
        pod_spec: Obj = dict(template.get("spec") or {})
        pod_spec["hostname"] = pod_name
        if sts["spec"].get("serviceName"):
            pod_spec["subdomain"] = sts["spec"]["serviceName"]
        volumes = [dict(v) for v in pod_spec.get("volumes") or []]
        for claim in sts["spec"].get("volumeClaimTemplates") or []:
            claim_name = (claim.get("metadata") or {}).get("name", "")
            claim_ref = {"claimName": f"{claim_name}-{pod_name}"}
            volumes = [v for v in volumes if v.get("name") != claim_name]
            volumes.append({"name": claim_name, "persistentVolumeClaim": claim_ref})
            self._ensure_claim(ctx, sts, claim, pod_name)
        if volumes:
            pod_spec["volumes"] = volumes
        pod_meta: Obj = {
            "name": pod_name,
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": [owner_reference(sts)],
        }
        if tmeta.get("annotations"):
            pod_meta["annotations"] = dict(tmeta["annotations"])
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": pod_meta,
            "spec": pod_spec,
            "status": {"phase": "Pending", "qosClass": "BestEffort"},
        }
        created = ctx.create(PODS, pod)
        ctx.record(
            sts,
            "Normal",
            "SuccessfulCreate",
            f"create Pod {pod_name} in StatefulSet {meta['name']} successful",
            COMPONENT,
        )
        return created

    def _ensure_claim(self, ctx: Context, sts: Obj, claim: Obj, pod_name: str) -> None:
        """The pod's PersistentVolumeClaim ``<template>-<pod>`` (kept: whenDeleted Retain)."""
        meta = sts["metadata"]
        namespace = meta.get("namespace", "")
        cmeta = claim.get("metadata") or {}
        claim_name = f"{cmeta.get('name', '')}-{pod_name}"
        try:
            ctx.store.get(PVCS, namespace, claim_name)
            return
        except StoreError as err:
            if err.code != 404:
                raise
        selector = (sts["spec"].get("selector") or {}).get("matchLabels") or {}
        pvc = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": claim_name,
                "namespace": namespace,
                "labels": {**(cmeta.get("labels") or {}), **selector},
            },
            "spec": dict(claim.get("spec") or {}),
            "status": {"phase": "Pending"},
        }
        ctx.store.create(PVCS, pvc)
        ctx.record(
            sts,
            "Normal",
            "SuccessfulCreate",
            f"create Claim {claim_name} Pod {pod_name} in StatefulSet {meta['name']} success",
            COMPONENT,
        )

    def _delete(self, ctx: Context, sts: Obj, pod: Obj) -> None:
        meta = pod["metadata"]
        ctx.delete(PODS, meta.get("namespace", ""), meta["name"])
        ctx.record(
            sts,
            "Normal",
            "SuccessfulDelete",
            f"delete Pod {meta['name']} in StatefulSet {sts['metadata']['name']} successful",
            COMPONENT,
        )

    def _write_status(
        self, ctx: Context, sts: Obj, pods: list[Obj], current_rev: Obj, update_rev: Obj
    ) -> None:
        spec, meta = sts["spec"], sts["metadata"]
        min_ready = spec_int(spec, "minReadySeconds", 0)
        now = ctx.now()
        current_name, update_name = current_rev["metadata"]["name"], update_rev["metadata"]["name"]
        revision_of = [(p["metadata"].get("labels") or {}).get(REVISION_LABEL) for p in pods]
        replicas = len(pods)
        ready = sum(1 for p in pods if pod_ready(p))
        updated = sum(1 for r in revision_of if r == update_name)
        current = sum(1 for r in revision_of if r == current_name)
        strategy = spec.get("updateStrategy") or {}
        want = spec_int(spec, "replicas", 1)
        if (
            strategy.get("type", "RollingUpdate") == "RollingUpdate"
            and updated == replicas
            and ready == replicas
            and replicas == want
        ):  # completeRollingUpdate
            current_name, current = update_name, updated
        status: Obj = {
            "observedGeneration": int(meta.get("generation") or 1),
            "replicas": replicas,
            "readyReplicas": ready,
            "currentReplicas": current,
            "updatedReplicas": updated,
            "currentRevision": current_name,
            "updateRevision": update_name,
            "collisionCount": 0,
            "availableReplicas": sum(1 for p in pods if pod_available(p, min_ready, now)),
        }
        always = ("replicas", "availableReplicas", "collisionCount")
        status = {k: v for k, v in status.items() if v or k in always}
        recheck_when_available(
            ctx, ("statefulset", meta.get("namespace", ""), meta["name"]), pods, min_ready, now
        )
        if status == (sts.get("status") or {}):
            return
        fresh = edit(sts)
        fresh["status"] = status
        ctx.update(STATEFULSETS, fresh)
