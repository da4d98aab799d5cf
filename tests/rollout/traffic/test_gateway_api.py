"""The gateway-api router: HTTPRoute backendRefs weights, read back as a gateway reads them."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest
from tests.rollout.traffic.conftest import NAMES, NS, SELECTOR, Cluster

from ci_deploy.rollout.session import StepFailed
from ci_deploy.rollout.traffic import TRACK_LABEL, Split, router_for
from ci_deploy.rollout.traffic.gateway_api import ROUTER, routed_rules
from ci_deploy.rollout.traffic.replicas import ROUTER as REPLICAS

Obj = dict[str, Any]
# The rendered ref as the API server stores it (the CRD defaults group, kind and weight).
STABLE = {"name": "web-app", "port": 80, "group": "", "kind": "Service"}
CANARY = {**STABLE, "name": "web-app-canary"}


def refs(cluster: Cluster) -> list[Obj]:
    [rule] = cluster.route_rules()
    return list(rule["backendRefs"])


def without_refs(spec: Obj) -> Obj:
    doc = copy.deepcopy(spec)
    for rule in doc["rules"]:
        rule.pop("backendRefs", None)
    return doc


def test_the_router_is_registered_and_describes_itself() -> None:
    assert router_for("gateway-api") is ROUTER
    assert ROUTER.describe(NAMES) == (
        "gateway-api: HTTPRoute web-app weights between Service web-app (stable pods) "
        "and web-app-canary"
    )
    assert ROUTER.split(5, 10) == Split(5, 5, 1, 10)  # the gateway weighs: exactly 5 %


def test_prepare_leaves_the_route_as_rendered(cluster: Cluster) -> None:
    rendered = cluster.must("HTTPRoute", "web-app")
    ROUTER.prepare(cluster.ctx, NAMES)
    route = cluster.must("HTTPRoute", "web-app")
    assert route["spec"] == rendered["spec"]
    assert route["metadata"]["resourceVersion"] == rendered["metadata"]["resourceVersion"]
    assert refs(cluster) == [{**STABLE, "weight": 1}]
    assert cluster.selector("web-app") == {**SELECTOR, TRACK_LABEL: "stable"}
    assert cluster.selector("web-app-canary") == {**SELECTOR, TRACK_LABEL: "canary"}


def test_set_weight_splits_the_stable_ref_with_exact_integer_weights(cluster: Cluster) -> None:
    rendered = cluster.must("HTTPRoute", "web-app")["spec"]
    ROUTER.prepare(cluster.ctx, NAMES)

    ROUTER.set_weight(cluster.ctx, NAMES, ROUTER.split(5, 10))
    assert refs(cluster) == [{**STABLE, "weight": 95}, {**CANARY, "weight": 5}]

    pod_ratio = REPLICAS.split(5, 5)  # one canary pod next to five: 16.7 %, honoured as is
    assert pod_ratio.actual == 16.7
    ROUTER.set_weight(cluster.ctx, NAMES, pod_ratio)
    assert refs(cluster) == [{**STABLE, "weight": 833}, {**CANARY, "weight": 167}]

    ROUTER.set_weight(cluster.ctx, NAMES, ROUTER.split(75, 10))
    assert refs(cluster) == [{**STABLE, "weight": 25}, {**CANARY, "weight": 75}]

    route = cluster.must("HTTPRoute", "web-app")["spec"]
    assert without_refs(route) == without_refs(rendered)  # matches, parentRefs, hostnames kept
    lines = cluster.out.getvalue()
    assert (
        "traffic: HTTPRoute web-app: Service web-app weight 95, Service web-app-canary weight 5"
        in lines
    )
    assert "Service web-app weight 833, Service web-app-canary weight 167" in lines
    assert "Service web-app weight 25, Service web-app-canary weight 75" in lines


def test_reset_restores_the_rendered_route_and_removes_what_prepare_made(
    cluster: Cluster,
) -> None:
    rendered = cluster.must("HTTPRoute", "web-app")["spec"]
    before = cluster.inventory()
    ROUTER.prepare(cluster.ctx, NAMES)
    ROUTER.set_weight(cluster.ctx, NAMES, ROUTER.split(25, 4))
    assert cluster.inventory() == before | {("Service", "web-app-canary")}

    ROUTER.reset(cluster.ctx, NAMES)

    assert cluster.must("HTTPRoute", "web-app")["spec"] == rendered
    assert cluster.selector("web-app") == SELECTOR
    assert cluster.inventory() == before
    assert "traffic: HTTPRoute web-app: Service web-app alone" in cluster.out.getvalue()


def test_reset_twice_and_reset_without_prepare_change_nothing(cluster: Cluster) -> None:
    untouched = {kind: cluster.must(kind, "web-app") for kind in ("HTTPRoute", "Service")}
    ROUTER.reset(cluster.ctx, NAMES)  # prepare never ran (an abort right at the start)
    for kind, obj in untouched.items():
        assert (
            cluster.must(kind, "web-app")["metadata"]["resourceVersion"]
            == (obj["metadata"]["resourceVersion"])
        )

    ROUTER.prepare(cluster.ctx, NAMES)
    ROUTER.set_weight(cluster.ctx, NAMES, ROUTER.split(50, 2))
    ROUTER.reset(cluster.ctx, NAMES)
    after_one = cluster.must("HTTPRoute", "web-app")
    ROUTER.reset(cluster.ctx, NAMES)
    after_two = cluster.must("HTTPRoute", "web-app")
    assert after_two["metadata"]["resourceVersion"] == after_one["metadata"]["resourceVersion"]
    assert after_two["spec"] == untouched["HTTPRoute"]["spec"]
    assert cluster.selector("web-app") == SELECTOR


def test_reset_is_safe_when_the_objects_are_gone(cluster: Cluster) -> None:
    ROUTER.prepare(cluster.ctx, NAMES)
    cluster.delete("HTTPRoute", "web-app")
    cluster.delete("Service", "web-app-canary")
    cluster.delete("Service", "web-app")
    ROUTER.reset(cluster.ctx, NAMES)
    assert cluster.inventory() == {("Ingress", "web-app")}


def test_prepare_twice_keeps_the_weight_already_set(cluster: Cluster) -> None:
    ROUTER.prepare(cluster.ctx, NAMES)
    ROUTER.set_weight(cluster.ctx, NAMES, ROUTER.split(10, 10))
    canary = cluster.must("Service", "web-app-canary")
    route = cluster.must("HTTPRoute", "web-app")

    ROUTER.prepare(cluster.ctx, NAMES)  # a recovery that starts over

    again = cluster.must("Service", "web-app-canary")
    assert again["metadata"]["uid"] == canary["metadata"]["uid"]
    assert again["spec"] == canary["spec"]
    assert cluster.must("HTTPRoute", "web-app") == route
    assert refs(cluster) == [{**STABLE, "weight": 90}, {**CANARY, "weight": 10}]
    assert cluster.selector("web-app") == {**SELECTOR, TRACK_LABEL: "stable"}


def test_a_missing_route_fails_the_step_with_what_to_do(cluster: Cluster) -> None:
    cluster.delete("HTTPRoute", "web-app")
    message = cluster.prepare_fails(ROUTER).message  # nothing made before the check
    assert message.startswith(
        f"HTTPRoute web-app (traffic router gateway-api) not found in namespace {NS}: "
    )
    assert "manifests.http_route" in message and "canary.traffic_router: replicas" in message
    with pytest.raises(StepFailed, match=r"HTTPRoute web-app .* not found"):
        ROUTER.set_weight(cluster.ctx, NAMES, ROUTER.split(5, 10))


def test_a_route_without_a_ref_to_the_stable_service_fails_the_step(cluster: Cluster) -> None:
    route = copy.deepcopy(cluster.manifests["HTTPRoute"])
    route["spec"]["rules"][0]["backendRefs"] = [{"name": "docs", "port": 8080}]
    assert cluster.prepare_fails(ROUTER, route).message.startswith(
        f"HTTPRoute web-app in namespace {NS} has no backendRef to Service web-app: "
    )


def test_a_rule_that_also_sends_to_another_service_is_refused(cluster: Cluster) -> None:
    route = copy.deepcopy(cluster.manifests["HTTPRoute"])
    route["spec"]["rules"][0]["backendRefs"].append({"name": "docs", "port": 8080})
    message = cluster.prepare_fails(ROUTER, route).message
    assert "rule 1, sends to docs besides Service web-app" in message


# -- routed_rules, pure -------------------------------------------------------------------------


def rule(*backend_refs: Obj, **fields: Any) -> Obj:
    doc: Obj = {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], **fields}
    if backend_refs:
        doc["backendRefs"] = list(backend_refs)
    return doc


def test_routed_rules_keep_every_other_field_and_every_other_rule() -> None:
    header = {"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": []}}
    mine = rule({"name": "web-app", "port": 80, "filters": [header]}, timeouts={"request": "5s"})
    other_ns = rule({"name": "web-app", "namespace": "elsewhere", "port": 80})
    redirect = rule(filters=[{"type": "RequestRedirect", "requestRedirect": {"port": 443}}])
    docs = rule({"name": "docs", "port": 8080, "weight": 3})
    rules = [mine, other_ns, redirect, docs]

    out = routed_rules(rules, NAMES, NS, (95, 5, 0))

    assert out[0] == {
        **mine,
        "backendRefs": [
            {"name": "web-app", "port": 80, "filters": [header], "weight": 95},
            {"name": "web-app-canary", "port": 80, "filters": [header], "weight": 5},
        ],
    }
    assert out[1:] == [other_ns, redirect, docs]
    assert rules[0]["backendRefs"] == [{"name": "web-app", "port": 80, "filters": [header]}]


def test_routed_rules_update_an_already_split_rule_without_duplicating_it() -> None:
    split = routed_rules([rule({"name": "web-app", "port": 80})], NAMES, NS, (95, 5, 0))
    again = routed_rules(split, NAMES, NS, (40, 60, 0))
    assert again[0]["backendRefs"] == [
        {"name": "web-app", "port": 80, "weight": 40},
        {"name": "web-app-canary", "port": 80, "weight": 60},
    ]
    assert routed_rules(again, NAMES, NS, None) == [rule({"name": "web-app", "port": 80})]


def test_routed_rules_turn_a_lone_canary_ref_back_to_the_stable_service() -> None:
    lone = [rule({"name": "web-app-canary", "kind": "Service", "port": 80, "weight": 7})]
    assert routed_rules(lone, NAMES, NS, None) == [
        rule({"name": "web-app", "kind": "Service", "port": 80})
    ]


# -- a baseline: a third ref with the canary's weight ---------------------------------------------
WITH_BASELINE = replace(
    NAMES, baseline_deployment="web-app-baseline", baseline_service="web-app-baseline"
)
BASELINE = {**STABLE, "name": "web-app-baseline"}


def test_a_baseline_gets_its_own_service_and_the_canarys_weight(cluster: Cluster) -> None:
    cluster.names = WITH_BASELINE
    for pod, track in (("stable-1", "stable"), ("canary-1", "canary"), ("baseline-1", "baseline")):
        cluster.start_pod(pod, track)
    ROUTER.prepare(cluster.ctx, WITH_BASELINE)
    assert cluster.selector("web-app-baseline") == {**SELECTOR, TRACK_LABEL: "baseline"}
    cluster.wait_endpoints("web-app-baseline", {"baseline-1"})
    cluster.wait_endpoints("web-app", {"stable-1"})  # the stable Service has no baseline pod

    ROUTER.set_weight(cluster.ctx, WITH_BASELINE, ROUTER.split(10, 4, baseline=True))
    assert refs(cluster) == [
        {**STABLE, "weight": 80},
        {**CANARY, "weight": 10},
        {**BASELINE, "weight": 10},
    ]
    assert "Service web-app-baseline weight 10" in cluster.out.getvalue()
    # from 50 % on the strategy sends no more to the baseline: its ref goes, stable has the rest
    ROUTER.set_weight(cluster.ctx, WITH_BASELINE, ROUTER.split(60, 4))
    assert refs(cluster) == [{**STABLE, "weight": 40}, {**CANARY, "weight": 60}]

    ROUTER.reset(cluster.ctx, WITH_BASELINE)
    assert refs(cluster) == [{**STABLE, "weight": 1}]
    assert cluster.get("Service", "web-app-baseline") is None
    assert cluster.get("Service", "web-app-canary") is None
    assert ROUTER.describe(WITH_BASELINE).endswith(
        "and web-app-canary and web-app-baseline (the baseline, the canary's weight)"
    )


def test_routed_rules_make_the_baseline_ref_again_without_duplicating_it() -> None:
    first = routed_rules([rule({"name": "web-app", "port": 80})], WITH_BASELINE, NS, (80, 10, 10))
    assert first[0]["backendRefs"] == [
        {"name": "web-app", "port": 80, "weight": 80},
        {"name": "web-app-canary", "port": 80, "weight": 10},
        {"name": "web-app-baseline", "port": 80, "weight": 10},
    ]
    again = routed_rules(first, WITH_BASELINE, NS, (40, 30, 30))
    assert [r["weight"] for r in again[0]["backendRefs"]] == [40, 30, 30]
    alone = routed_rules(again, WITH_BASELINE, NS, (40, 60, 0))
    assert [r["name"] for r in alone[0]["backendRefs"]] == ["web-app", "web-app-canary"]
    assert routed_rules(again, WITH_BASELINE, NS, None) == [rule({"name": "web-app", "port": 80})]


def test_routed_rules_turn_lone_canary_and_baseline_refs_into_one_stable_ref() -> None:
    lone = [rule({"name": "web-app-canary", "port": 80}, {"name": "web-app-baseline", "port": 80})]
    assert routed_rules(lone, WITH_BASELINE, NS, None) == [rule({"name": "web-app", "port": 80})]
