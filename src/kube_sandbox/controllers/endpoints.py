"""Service → Endpoints and EndpointSlice (discovery.k8s.io/v1) from the pods its selector matches.

Ready pods are addresses (EndpointSlice condition ready: true); running but not ready pods are
notReadyAddresses (ready: false), as the endpoints and endpointslice controllers publish them.
Services without a selector are left alone: their Endpoints belong to the user.
"""

from __future__ import annotations

import hashlib

from kube_sandbox.controllers.common import labels_of, owner_reference
from kube_sandbox.controllers.context import (
    ENDPOINTS,
    ENDPOINTSLICES,
    PODS,
    SERVICES,
    Context,
    edit,
)
from kube_sandbox.controllers.replicaset import pod_ready
from kube_sandbox.storage.store import Obj

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"


def _target_port(svc_port: Obj, pod: Obj) -> int | None:
    """The pod port a Service port forwards to (a named targetPort is looked up in the pod)."""
    target = svc_port.get("targetPort", svc_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for container in pod["spec"].get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target:
                return int(port["containerPort"])
    return None


def _pod_ports(svc: Obj, pod: Obj) -> list[Obj] | None:
    ports = []
    for sp in svc["spec"].get("ports") or []:
        number = _target_port(sp, pod)
        if number is None:
            return None
        port: Obj = {"port": number, "protocol": sp.get("protocol", "TCP")}
        if sp.get("name"):
            port["name"] = sp["name"]
        if sp.get("appProtocol"):
            port["appProtocol"] = sp["appProtocol"]
        ports.append(port)
    return ports


def _target_ref(pod: Obj) -> Obj:
    meta = pod["metadata"]
    return {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]}


def _backends(ctx: Context, svc: Obj) -> list[tuple[Obj, bool, list[Obj]]]:
    """(pod, ready, ports) for every live pod with an IP that the selector matches."""
    selector: dict[str, str] = svc["spec"].get("selector") or {}
    found = []
    for pod in ctx.cache.list(PODS, svc["metadata"]["namespace"]):
        labels = labels_of(pod)
        status = pod.get("status") or {}
        if any(labels.get(k) != v for k, v in selector.items()) or not status.get("podIP"):
            continue
        if pod["metadata"].get("deletionTimestamp") or status.get("phase") in (
            "Succeeded",
            "Failed",
        ):
            continue
        ports = _pod_ports(svc, pod)
        if ports is not None:
            found.append((pod, pod_ready(pod), ports))
    return found


def _subsets(backends: list[tuple[Obj, bool, list[Obj]]]) -> list[Obj]:
    """Endpoints subsets, one per distinct port list."""
    groups: dict[str, Obj] = {}
    for pod, ready, ports in backends:
        key = repr(ports)
        subset = groups.setdefault(key, {"ports": [{k: v for k, v in p.items()} for p in ports]})
        address = {
            "ip": pod["status"]["podIP"],
            "nodeName": pod["spec"].get("nodeName", ""),
            "targetRef": _target_ref(pod),
        }
        subset.setdefault("addresses" if ready else "notReadyAddresses", []).append(address)
    return [groups[k] for k in sorted(groups)]


def _slice_endpoints(backends: list[tuple[Obj, bool, list[Obj]]]) -> list[Obj]:
    return [
        {
            "addresses": [pod["status"]["podIP"]],
            "conditions": {"ready": ready, "serving": ready, "terminating": False},
            "nodeName": pod["spec"].get("nodeName", ""),
            "targetRef": _target_ref(pod),
        }
        for pod, ready, _ in backends
    ]


class EndpointsController:
    """Keeps one Endpoints and one EndpointSlice per selector Service."""

    def reconcile(self, ctx: Context, namespace: str, name: str) -> None:
        """Publish the Service's current backends (or remove them with the Service)."""
        svc = ctx.cache.get(SERVICES, namespace, name)
        slices = [
            s
            for s in ctx.cache.list(ENDPOINTSLICES, namespace)
            if labels_of(s).get(SERVICE_NAME_LABEL) == name
            and labels_of(s).get(MANAGED_BY_LABEL) == MANAGED_BY
        ]
        if svc is None or not svc["spec"].get("selector"):
            if svc is None and ctx.cache.get(ENDPOINTS, namespace, name) is not None:
                ctx.delete(ENDPOINTS, namespace, name)
            for s in slices:
                ctx.delete(ENDPOINTSLICES, namespace, s["metadata"]["name"])
            return
        backends = _backends(ctx, svc)
        self._endpoints(ctx, svc, backends)
        self._slice(ctx, svc, backends, slices)

    def _endpoints(
        self, ctx: Context, svc: Obj, backends: list[tuple[Obj, bool, list[Obj]]]
    ) -> None:
        meta = svc["metadata"]
        labels = dict(labels_of(svc))
        if svc["spec"].get("clusterIP") == "None":
            labels["service.kubernetes.io/headless"] = ""
        desired: Obj = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "labels": labels},
        }
        subsets = _subsets(backends)
        if subsets:
            desired["subsets"] = subsets
        current = ctx.cache.get(ENDPOINTS, meta["namespace"], meta["name"])
        if current is None:
            ctx.create(ENDPOINTS, desired)
            return
        if current.get("subsets") == desired.get("subsets") and labels_of(current) == labels:
            return
        fresh = edit(current)
        fresh["metadata"]["labels"] = labels
        fresh.pop("subsets", None)
        fresh.update({k: v for k, v in desired.items() if k == "subsets"})
        ctx.update(ENDPOINTS, fresh)

    def _slice(
        self,
        ctx: Context,
        svc: Obj,
        backends: list[tuple[Obj, bool, list[Obj]]],
        slices: list[Obj],
    ) -> None:
        meta = svc["metadata"]
        ports = backends[0][2] if backends else _pod_ports(svc, {"spec": {}}) or []
        labels = {
            **labels_of(svc),
            SERVICE_NAME_LABEL: meta["name"],
            MANAGED_BY_LABEL: MANAGED_BY,
        }
        body: Obj = {
            "addressType": "IPv4",
            "endpoints": _slice_endpoints(backends),
            "ports": ports,
        }
        if not slices:
            suffix = hashlib.sha256(meta["uid"].encode()).hexdigest()[:5]
            ctx.create(
                ENDPOINTSLICES,
                {
                    "apiVersion": "discovery.k8s.io/v1",
                    "kind": "EndpointSlice",
                    "metadata": {
                        "name": f"{meta['name']}-{suffix}",
                        "generateName": f"{meta['name']}-",
                        "namespace": meta["namespace"],
                        "labels": labels,
                        "ownerReferences": [owner_reference(svc)],
                    },
                    **body,
                },
            )
            return
        current = slices[0]
        for extra in slices[1:]:
            ctx.delete(ENDPOINTSLICES, meta["namespace"], extra["metadata"]["name"])
        if all(current.get(k) == v for k, v in body.items()) and labels_of(current) == labels:
            return
        fresh = edit(current)
        fresh.update(body)
        fresh["metadata"]["labels"] = labels
        ctx.update(ENDPOINTSLICES, fresh)
