"""A sandbox cluster holding web-app's production objects as ci-deploy's templates render them.

``cluster`` applies (field manager ``ci-deploy``) the rendered Service, HTTPRoute and Ingress
of web-app in ``web-app-production``; the Ingress gets a second path and a second host sending
to another Service (``docs``), which a canary Ingress must leave out. Tests read back what a
real controller reads: route backendRefs, Ingress annotations and rules, Service selectors and
the EndpointSlices the sandbox's endpoints controller publishes.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ci_deploy.config import load_config_text
from ci_deploy.kube.apply import apply_object
from ci_deploy.kube.cancel import CancelToken
from ci_deploy.kube.client import KubeClient, connect
from ci_deploy.kube.state import StateRecord
from ci_deploy.platforms.local import LocalPlatform
from ci_deploy.render import render_manifests
from ci_deploy.rollout.progress import Progress
from ci_deploy.rollout.session import RolloutContext, StepFailed
from ci_deploy.rollout.traffic import TRACK_LABEL, TrafficNames, TrafficRouter
from kube_sandbox.testing import SandboxHandle, wait_until

Obj = dict[str, Any]
NS = "web-app-production"
IMAGE = "registry.example.com/acme/web-app@sha256:" + "a" * 64
CONFIG = """\
app: web-app
image: {repository: registry.example.com/acme/web-app}
manifests:
  ingress: {host: web.example.com, class_name: nginx, path: /, tls_secret: web-tls}
  http_route:
    hostnames: [web.example.com]
    parent_ref: {name: public, namespace: gateways}
environments:
  production:
    replicas: 3
"""
SELECTOR = {  # the rendered Service's selector
    "app.kubernetes.io/name": "web-app",
    "app.kubernetes.io/instance": "web-app-production",
}
NAMES = TrafficNames(
    app="web-app",
    stable_deployment="web-app",
    canary_deployment="web-app-canary",
    stable_service="web-app",
    canary_service="web-app-canary",
    selector=tuple(sorted(SELECTOR.items())),
    http_routes=("web-app",),
    ingresses=("web-app",),
)
KINDS = {
    "Service": ("v1", "Service"),
    "HTTPRoute": ("gateway.networking.k8s.io/v1", "HTTPRoute"),
    "Ingress": ("networking.k8s.io/v1", "Ingress"),
}


def rendered(tmp_path: Path) -> dict[str, Obj]:
    """web-app's production objects by kind, as the built-in templates render them."""
    cfg = load_config_text(CONFIG, str(tmp_path / "ci-deploy.yml"))
    return {o["kind"]: o for o in render_manifests(cfg, "production", IMAGE)}


def with_docs_paths(ingress: Obj) -> Obj:
    """The rendered Ingress plus ``/docs`` and host docs.example.com, both to Service docs."""
    docs = {
        "path": "/docs",
        "pathType": "Prefix",
        "backend": {"service": {"name": "docs", "port": {"number": 8080}}},
    }
    obj = copy.deepcopy(ingress)
    obj["spec"]["rules"][0]["http"]["paths"].append(docs)
    obj["spec"]["rules"].append({"host": "docs.example.com", "http": {"paths": [docs]}})
    return obj


@dataclass
class Cluster:
    """The sandbox, a client of it, a rollout context and the objects as rendered."""

    handle: SandboxHandle
    client: KubeClient
    ctx: RolloutContext
    out: io.StringIO
    manifests: dict[str, Obj]
    names: TrafficNames = NAMES

    def path(self, kind: str, name: str | None = None) -> str:
        return self.client.resolve_kind(*KINDS[kind]).path(NS, name)

    def get(self, kind: str, name: str) -> Obj | None:
        return self.client.get_or_none(self.path(kind, name))

    def must(self, kind: str, name: str) -> Obj:
        found = self.get(kind, name)
        assert found is not None, f"{kind} {name} is missing"
        return found

    def selector(self, service: str) -> dict[str, str]:
        return dict(self.must("Service", service)["spec"]["selector"])

    def route_rules(self) -> list[Obj]:
        return list(self.must("HTTPRoute", "web-app")["spec"]["rules"])

    def delete(self, kind: str, name: str) -> None:
        self.client.request("DELETE", self.path(kind, name))

    def inventory(self) -> set[tuple[str, str]]:
        """Every Service, HTTPRoute and Ingress of the namespace, as (kind, name)."""
        return {
            (kind, o["metadata"]["name"])
            for kind in KINDS
            for o in self.client.get(self.path(kind)).get("items") or []
        }

    def prepare_fails(self, router: TrafficRouter, changed: Obj | None = None) -> StepFailed:
        """Apply ``changed`` (as ci-deploy), then ``prepare``: its failure; nothing was made."""
        if changed is not None:
            apply_object(self.client, changed)
        before = self.inventory()
        with pytest.raises(StepFailed) as failed:
            router.prepare(self.ctx, self.names)
        assert failed.value.kind == "failed"
        assert self.inventory() == before
        return failed.value

    def start_pod(self, name: str, track: str | None) -> None:
        """A pod of web-app (the rendered pod labels) on ``track`` (None: no track label)."""
        labels = dict(self.manifests["Deployment"]["spec"]["template"]["metadata"]["labels"])
        if track is not None:
            labels[TRACK_LABEL] = track
        container = {
            "name": "app",
            "image": "registry.example.com/acme/web-app:1",
            "ports": [{"name": "http", "containerPort": 8080}],
        }
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "labels": labels},
            "spec": {"containers": [container]},
        }
        self.client.request("POST", f"/api/v1/namespaces/{NS}/pods", body=pod)

    def ready_endpoints(self, service: str) -> set[str]:
        """Pods listed ready in the EndpointSlices the endpoints controller made for ``service``."""
        slices = self.client.get(
            f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices",
            query=[("labelSelector", f"kubernetes.io/service-name={service}")],
        )
        return {
            e["targetRef"]["name"]
            for s in slices.get("items") or []
            for e in s.get("endpoints") or []
            if (e.get("conditions") or {}).get("ready")
        }

    def wait_endpoints(self, service: str, pods: set[str]) -> None:
        """Bounded poll until ``service``'s ready endpoints are exactly ``pods``."""
        try:
            wait_until(lambda: self.ready_endpoints(service) == pods, timeout=10)
        except AssertionError:
            got = self.ready_endpoints(service)
            raise AssertionError(f"Service {service}: endpoints {got}, wanted {pods}") from None


def context(client: KubeClient) -> tuple[RolloutContext, io.StringIO]:
    out = io.StringIO()
    ctx = RolloutContext(
        client=client,
        namespace=NS,
        store=None,  # type: ignore[arg-type]  # no record is written by a router
        record=StateRecord("web-app", "production", "canary", "Progressing", IMAGE),
        progress=Progress(LocalPlatform({}, stream=out), stream=out),
        cancel=CancelToken(),
    )
    return ctx, out


@pytest.fixture
def cluster(sandbox: SandboxHandle, tmp_path: Path) -> Iterator[Cluster]:
    """web-app's rendered Service, HTTPRoute and Ingress (with the docs paths), applied."""
    client = connect(kubeconfig=str(sandbox.kubeconfig))
    manifests = rendered(tmp_path)
    assert manifests["Service"]["spec"]["selector"] == SELECTOR
    apply_object(client, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    ingress = with_docs_paths(manifests["Ingress"])
    for obj in (manifests["Service"], manifests["HTTPRoute"], ingress):
        apply_object(client, obj)
    ctx, out = context(client)
    try:
        yield Cluster(sandbox, client, ctx, out, manifests)
    finally:
        client.close()
