"""The DaemonSet controller (pkg/controller/daemon) over the sandbox's one node.

The sandbox has one node, ``sandbox-node`` (labels ``kubernetes.io/hostname``,
``kubernetes.io/os: linux``, ``kubernetes.io/arch: amd64``); a DaemonSet whose
``nodeSelector`` matches it runs one pod there, pinned with the node-affinity term and the
tolerations the real controller adds. RollingUpdate replaces pods within ``maxUnavailable``
(or starts the new pod first within ``maxSurge``); OnDelete waits for a deletion.
"""

from __future__ import annotations

import random

from kube_sandbox.controllers.common import (
    adopt_orphans,
    create_pod,
    scaled_value,
    spec_int,
)
from kube_sandbox.controllers.context import DAEMONSETS, PODS, Context, edit
from kube_sandbox.controllers.events import NODE_NAME
from kube_sandbox.controllers.history import HASH_LABEL, sync_revisions, trim_history
from kube_sandbox.controllers.replicaset import (
    pod_available,
    pod_ready,
    recheck_when_available,
)
from kube_sandbox.storage.store import Obj

COMPONENT = "daemonset-controller"
REVISION_LABEL = "controller-revision-hash"
GENERATION_LABEL = "pod-template-generation"
NODE_LABELS = {
    "kubernetes.io/hostname": NODE_NAME,
    "kubernetes.io/os": "linux",
    "kubernetes.io/arch": "amd64",
}
NODES = (NODE_NAME,)
_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]


def node_of(pod: Obj) -> str:
    """The node a daemon pod is bound to (its nodeName, else its affinity term)."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = (
        ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
        or {}
    ).get("nodeSelectorTerms") or []
    for term in required:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("values"):
                return str(field["values"][0])
    return ""


def eligible_nodes(ds: Obj) -> list[str]:
    """The nodes the DaemonSet should run on (its nodeSelector against the node's labels)."""
    selector = (((ds.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
        "nodeSelector"
    ) or {}
    if any(NODE_LABELS.get(k) != v for k, v in selector.items()):
        return []
    return list(NODES)


class DaemonSetController:
    """Creates, replaces and deletes daemon pods; writes the DaemonSet status."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random(1)

    def reconcile(self, ctx: Context, namespace: str, name: str) -> None:
        ds = ctx.cache.get(DAEMONSETS, namespace, name)
        if ds is None or ds["metadata"].get("deletionTimestamp"):
            return
        _, update_rev = sync_revisions(ctx, ds)
        digest = update_rev["metadata"]["labels"][HASH_LABEL]
        adopt_orphans(ctx, ds, PODS)
        self._sync_pods(ctx, ds, digest)
        pods = self._pods(ctx, ds)
        self._write_status(ctx, ds, pods, digest)
        live = {update_rev["metadata"]["name"]}
        live |= {f"{name}-{(p['metadata'].get('labels') or {}).get(REVISION_LABEL)}" for p in pods}
        trim_history(ctx, ds, live)

    @staticmethod
    def _pods(ctx: Context, ds: Obj) -> list[Obj]:
        pods = ctx.cache.children(PODS, ds["metadata"]["uid"])
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        return sorted(live, key=lambda p: p["metadata"].get("creationTimestamp", ""))

    def _sync_pods(self, ctx: Context, ds: Obj, digest: str) -> None:
        nodes = eligible_nodes(ds)
        by_node: dict[str, list[Obj]] = {}
        for pod in self._pods(ctx, ds):
            if (pod.get("status") or {}).get("phase") == "Failed":
                self._delete(ctx, ds, pod)  # the real controller replaces failed daemon pods
                continue
            by_node.setdefault(node_of(pod), []).append(pod)
        for node, pods in by_node.items():
            if node not in nodes:
                for pod in pods:
                    self._delete(ctx, ds, pod)
        for node in nodes:
            if not by_node.get(node):
                by_node[node] = [self._create_pod(ctx, ds, node, digest)]
        strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return
        rolling = strategy.get("rollingUpdate") or {}
        desired = len(nodes)
        max_surge = scaled_value(rolling.get("maxSurge"), desired, round_up=True, default="0")
        max_unavailable = scaled_value(
            rolling.get("maxUnavailable"), desired, round_up=True, default="1"
        )
        if max_surge == 0 and max_unavailable == 0:
            max_unavailable = 1
        min_ready = spec_int(ds["spec"], "minReadySeconds", 0)
        now = ctx.now()

        def updated(pod: Obj) -> bool:
            return (pod["metadata"].get("labels") or {}).get(REVISION_LABEL) == digest

        def available(pod: Obj) -> bool:
            return pod_available(pod, min_ready, now)

        old_nodes = [n for n in nodes if any(not updated(p) for p in by_node[n])]
        if max_surge > 0:
            surging = sum(1 for n in nodes if len(by_node[n]) > 1)
            for node in old_nodes:
                new = [p for p in by_node[node] if updated(p)]
                olds = [p for p in by_node[node] if not updated(p)]
                if new and available(new[0]):
                    for pod in olds:
                        self._delete(ctx, ds, pod)
                elif not new and (not any(available(p) for p in olds) or surging < max_surge):
                    if any(available(p) for p in olds):
                        surging += 1
                    else:
                        for pod in olds:
                            self._delete(ctx, ds, pod)
                    self._create_pod(ctx, ds, node, digest)
            return
        unavailable = sum(1 for n in nodes if not any(available(p) for p in by_node[n]))
        for node in old_nodes:
            olds = [p for p in by_node[node] if not updated(p)]
            if any(available(p) for p in olds):
                if unavailable >= max_unavailable:
                    continue
                unavailable += 1
            for pod in olds:
                self._delete(ctx, ds, pod)  # its replacement comes next round

    def _create_pod(self, ctx: Context, ds: Obj, node: str, digest: str) -> Obj:
        meta = ds["metadata"]
        template = ds["spec"].get("template") or {}
        tmeta = template.get("metadata") or {}
        spec: Obj = dict(template.get("spec") or {})
        affinity = dict(spec.get("affinity") or {})
        node_affinity = dict(affinity.get("nodeAffinity") or {})
        node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
            "nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
            ]
        }
        affinity["nodeAffinity"] = node_affinity
        spec["affinity"] = affinity
        tolerations = list(spec.get("tolerations") or [])
        for toleration in _TOLERATIONS:
            if not any(t.get("key") == toleration["key"] for t in tolerations):
                tolerations.append(dict(toleration))
        spec["tolerations"] = tolerations
        labels = {
            **(tmeta.get("labels") or {}),
            REVISION_LABEL: digest,
            GENERATION_LABEL: str(meta.get("generation") or 1),
        }
        return create_pod(
            ctx,
            ds,
            spec,
            labels,
            dict(tmeta.get("annotations") or {}),
            prefix=f"{meta['name']}-",
            rng=self.rng,
            component=COMPONENT,
        )

    def _delete(self, ctx: Context, ds: Obj, pod: Obj) -> None:
        meta = pod["metadata"]
        ctx.delete(PODS, meta.get("namespace", ""), meta["name"])
        ctx.record(ds, "Normal", "SuccessfulDelete", f"Deleted pod: {meta['name']}", COMPONENT)

    def _write_status(self, ctx: Context, ds: Obj, pods: list[Obj], digest: str) -> None:
        meta = ds["metadata"]
        nodes = eligible_nodes(ds)
        min_ready = spec_int(ds["spec"], "minReadySeconds", 0)
        now = ctx.now()
        by_node: dict[str, list[Obj]] = {}
        for pod in pods:
            by_node.setdefault(node_of(pod), []).append(pod)
        scheduled = ready = available = updated = 0
        for node in nodes:
            node_pods = by_node.get(node) or []
            if not node_pods:
                continue
            scheduled += 1
            first = node_pods[0]  # the oldest, as upstream counts
            if pod_ready(first):
                ready += 1
                if pod_available(first, min_ready, now):
                    available += 1
            if (first["metadata"].get("labels") or {}).get(REVISION_LABEL) == digest:
                updated += 1
        status: Obj = {
            "currentNumberScheduled": scheduled,
            "numberMisscheduled": sum(len(v) for n, v in by_node.items() if n not in nodes),
            "desiredNumberScheduled": len(nodes),
            "numberReady": ready,
            "observedGeneration": int(meta.get("generation") or 1),
            "updatedNumberScheduled": updated,
            "numberAvailable": available,
            "numberUnavailable": len(nodes) - available,
        }
        always = (
            "currentNumberScheduled",
            "numberMisscheduled",
            "desiredNumberScheduled",
            "numberReady",
        )
        status = {k: v for k, v in status.items() if v or k in always}
        recheck_when_available(
            ctx, ("daemonset", meta.get("namespace", ""), meta["name"]), pods, min_ready, now
        )
        if status == (ds.get("status") or {}):
            return
        fresh = edit(ds)
        fresh["status"] = status
        ctx.update(DAEMONSETS, fresh)
