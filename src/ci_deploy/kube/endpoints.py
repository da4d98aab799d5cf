"""Where a Service sends traffic: the pods its EndpointSlices list as ready."""

from __future__ import annotations

from ci_deploy.kube.client import KubeClient

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def ready_endpoint_pods(client: KubeClient, namespace: str, service: str) -> set[str]:
    """Names of the pods that the EndpointSlices of ``service`` list as ready (what kube-proxy,
    ingress controllers and gateways route to). An unknown ready condition counts as ready, as
    the EndpointSlice API asks its consumers."""
    kind = client.resolve_kind("discovery.k8s.io/v1", "EndpointSlice")
    slices = client.get(
        kind.path(namespace), query=[("labelSelector", f"{SERVICE_NAME_LABEL}={service}")]
    )
    return {
        str(e["targetRef"]["name"])
        for s in slices.get("items") or []
        for e in s.get("endpoints") or []
        if (e.get("targetRef") or {}).get("kind") == "Pod"
        and (e.get("conditions") or {}).get("ready") is not False
    }
