"""The nginx-ingress router: a canary Ingress with canary-weight, read back as ingress-nginx
reads it."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from tests.rollout.traffic.conftest import NAMES, NS, SELECTOR, Cluster

from ci_deploy.rollout.session import StepFailed
from ci_deploy.rollout.traffic import TRACK_LABEL, Split, router_for
from ci_deploy.rollout.traffic.nginx_ingress import ROUTER, canary_ingress
from ci_deploy.rollout.traffic.replicas import ROUTER as REPLICAS

Obj = dict[str, Any]
TO_CANARY = {"service": {"name": "web-app-canary", "port": {"name": "http"}}}
CANARY = "nginx.ingress.kubernetes.io/canary"
WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"
TOTAL = "nginx.ingress.kubernetes.io/canary-weight-total"


def weight(cluster: Cluster) -> tuple[str, str]:
    annotations = cluster.must("Ingress", "web-app-canary")["metadata"]["annotations"]
    return annotations[WEIGHT], annotations[TOTAL]


def test_the_router_is_registered_and_describes_itself() -> None:
    assert router_for("nginx-ingress") is ROUTER
    assert ROUTER.describe(NAMES) == (
        "nginx-ingress: canary-weight on Ingress web-app-canary (to Service web-app-canary) "
        "next to web-app (to Service web-app, stable pods)"
    )
    assert ROUTER.split(16.7, 6) == Split(16.7, 16.7, 2, 6)


def test_prepare_makes_a_canary_ingress_for_the_stable_paths_only(cluster: Cluster) -> None:
    source = cluster.must("Ingress", "web-app")
    ROUTER.prepare(cluster.ctx, NAMES)

    canary = cluster.must("Ingress", "web-app-canary")
    assert canary["metadata"]["annotations"] == {CANARY: "true", WEIGHT: "0", TOTAL: "100"}
    assert canary["metadata"]["labels"] == {
        **source["metadata"]["labels"],
        TRACK_LABEL: "canary",
    }
    spec = canary["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert spec["tls"] == [{"hosts": ["web.example.com"], "secretName": "web-tls"}]
    # Same host and path as the main Ingress (ingress-nginx requires it), to the canary
    # Service on the same port; /docs and docs.example.com (Service docs) are not copied.
    assert spec["rules"] == [
        {
            "host": "web.example.com",
            "http": {
                "paths": [
                    {
                        "path": "/",
                        "pathType": "Prefix",
                        "backend": TO_CANARY,
                    }
                ]
            },
        }
    ]
    assert cluster.must("Ingress", "web-app")["spec"] == source["spec"]
    assert cluster.selector("web-app") == {**SELECTOR, TRACK_LABEL: "stable"}
    assert cluster.selector("web-app-canary") == {**SELECTOR, TRACK_LABEL: "canary"}


def test_set_weight_writes_the_exact_share_as_canary_weight(cluster: Cluster) -> None:
    ROUTER.prepare(cluster.ctx, NAMES)
    spec = cluster.must("Ingress", "web-app-canary")["spec"]

    ROUTER.set_weight(cluster.ctx, NAMES, ROUTER.split(5, 10))
    assert weight(cluster) == ("5", "100")
    ROUTER.set_weight(cluster.ctx, NAMES, REPLICAS.split(5, 5))  # 16.7 %, honoured as is
    assert weight(cluster) == ("167", "1000")
    ROUTER.set_weight(cluster.ctx, NAMES, ROUTER.split(75, 10))
    assert weight(cluster) == ("75", "100")

    canary = cluster.must("Ingress", "web-app-canary")
    assert canary["metadata"]["annotations"][CANARY] == "true"
    assert canary["spec"] == spec
    lines = cluster.out.getvalue()
    assert "traffic: Ingress web-app-canary: canary-weight 5 of 100 to Service web-app-canary" in (
        lines
    )
    assert "canary-weight 167 of 1000" in lines


def test_reset_removes_the_canary_ingress_and_service_and_the_narrowing(cluster: Cluster) -> None:
    before = cluster.inventory()
    source = cluster.must("Ingress", "web-app")
    ROUTER.prepare(cluster.ctx, NAMES)
    ROUTER.set_weight(cluster.ctx, NAMES, ROUTER.split(25, 4))
    assert cluster.inventory() == before | {
        ("Ingress", "web-app-canary"),
        ("Service", "web-app-canary"),
    }

    ROUTER.reset(cluster.ctx, NAMES)
    ROUTER.reset(cluster.ctx, NAMES)  # idempotent

    assert cluster.inventory() == before
    assert cluster.selector("web-app") == SELECTOR
    assert cluster.must("Ingress", "web-app")["spec"] == source["spec"]


def test_reset_without_prepare_changes_nothing(cluster: Cluster) -> None:
    before = {kind: cluster.must(kind, "web-app") for kind in ("Ingress", "Service")}
    inventory = cluster.inventory()
    ROUTER.reset(cluster.ctx, NAMES)
    assert cluster.inventory() == inventory
    for kind, obj in before.items():
        assert cluster.must(kind, "web-app") == obj


def test_prepare_twice_keeps_the_weight_already_set(cluster: Cluster) -> None:
    ROUTER.prepare(cluster.ctx, NAMES)
    ROUTER.set_weight(cluster.ctx, NAMES, REPLICAS.split(5, 5))
    first = cluster.must("Ingress", "web-app-canary")

    ROUTER.prepare(cluster.ctx, NAMES)  # a recovery that starts over

    again = cluster.must("Ingress", "web-app-canary")
    assert again["metadata"]["uid"] == first["metadata"]["uid"]
    assert again["spec"] == first["spec"]
    assert weight(cluster) == ("167", "1000")


def test_a_missing_ingress_fails_the_step_with_what_to_do(cluster: Cluster) -> None:
    cluster.delete("Ingress", "web-app")
    message = cluster.prepare_fails(ROUTER).message
    assert message.startswith(
        f"Ingress web-app (traffic router nginx-ingress) not found in namespace {NS}: "
    )
    assert "manifests.ingress" in message


def test_set_weight_without_a_canary_ingress_fails_the_step(cluster: Cluster) -> None:
    with pytest.raises(StepFailed) as failed:
        ROUTER.set_weight(cluster.ctx, NAMES, ROUTER.split(5, 10))
    assert failed.value.message.startswith(
        f"canary Ingress web-app-canary (traffic router nginx-ingress) not found in namespace {NS}"
    )


def test_an_ingress_without_a_path_to_the_stable_service_fails_the_step(cluster: Cluster) -> None:
    ingress = copy.deepcopy(cluster.manifests["Ingress"])
    ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] = "docs"
    assert cluster.prepare_fails(ROUTER, ingress).message.startswith(
        f"Ingress web-app in namespace {NS} has no path with Service web-app as its backend: "
    )


def test_a_canary_ingress_keeps_the_class_annotation_of_an_older_ingress() -> None:
    source: Obj = {
        "metadata": {
            "name": "web-app",
            "namespace": NS,
            "annotations": {"kubernetes.io/ingress.class": "nginx", "other": "not copied"},
        },
        "spec": {
            "rules": [
                {
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "web-app", "port": {"number": 80}}},
                            }
                        ]
                    }
                }
            ]
        },
    }
    canary = canary_ingress(source, NAMES, ("0", "100"))
    assert canary is not None
    assert canary["metadata"]["annotations"] == {
        CANARY: "true",
        WEIGHT: "0",
        TOTAL: "100",
        "kubernetes.io/ingress.class": "nginx",
    }
    assert "ingressClassName" not in canary["spec"] and "tls" not in canary["spec"]
    path = canary["spec"]["rules"][0]["http"]["paths"][0]
    assert path["backend"] == {"service": {"name": "web-app-canary", "port": {"number": 80}}}


def test_no_baseline_one_canary_ingress_per_host_and_path_is_all_ingress_nginx_takes() -> None:
    assert "only one canary Ingress per host and path" in ROUTER.baseline_unsupported
    with pytest.raises(ValueError, match="only one canary Ingress"):
        ROUTER.split(10, 4, baseline=True)
