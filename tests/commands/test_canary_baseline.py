"""The canary's baseline end to end on the sandbox (``canary.baseline: true``): at each gate the
objects controllers read — the baseline Deployment's template and size, its pods' labels, the
EndpointSlices, the HTTPRoute's three weights — then promotion, abort and rollback leaving
nothing behind, and nginx-ingress refused. The sandbox, CLI and readers are test_canary's.
"""

from __future__ import annotations

import copy
from typing import Any

from tests.commands import test_canary
from tests.commands.test_canary import APP, IMAGE, SELECTOR, TRACK, Cluster, first_release, ok, said

cluster = test_canary.cluster  # the same fixture: a sandbox and the shop app

BASELINE = f"{APP}-baseline"
# the baseline at 10 % and 30 %; at 60 % it is gone (60 + 60 > 100), the canary goes on alone
STAGES = """\
    - {name: one, traffic_percentage: 10, pause: true}
    - {name: two, traffic_percentage: 30, pause: true}
    - {name: three, traffic_percentage: 60, pause: true}
    - {name: all, traffic_percentage: 100}
"""


def with_baseline(cluster: Cluster, router: str, stages: str = STAGES) -> None:
    """Write the shop config for ``router`` with ``canary.baseline: true``."""
    cluster.write(router, stages)
    text = cluster.config.read_text().replace(
        f"  traffic_router: {router}\n", f"  traffic_router: {router}\n  baseline: true\n"
    )
    cluster.config.write_text(text)


def names(pods: list[dict[str, Any]]) -> set[str]:
    return {p["metadata"]["name"] for p in pods}


def without_track(template: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(template)
    out["metadata"]["labels"].pop(TRACK)
    return out


def replicas(cluster: Cluster, name: str) -> int:
    deployment = cluster.deployment(name)
    assert deployment is not None, f"deployment/{name} is missing"
    return int(deployment["spec"]["replicas"])


def check_baseline(cluster: Cluster, pods: int) -> set[str]:
    """The baseline at a gate: the stable template on the baseline track, the canary's size,
    ``pods`` ready pods of the stable version; its pod names."""
    stable, baseline = cluster.deployment(), cluster.deployment(BASELINE)
    assert stable is not None and baseline is not None
    assert baseline["spec"]["template"]["metadata"]["labels"][TRACK] == "baseline"
    assert without_track(baseline["spec"]["template"]) == without_track(stable["spec"]["template"])
    assert baseline["spec"]["selector"]["matchLabels"] == {**SELECTOR, TRACK: "baseline"}
    assert replicas(cluster, BASELINE) == replicas(cluster, f"{APP}-canary") == pods
    found = cluster.pods("baseline")
    assert len(found) == pods
    assert {p["spec"]["containers"][0]["image"] for p in found} == {f"{IMAGE}:1"}
    return names(found)


def gone(cluster: Cluster) -> None:
    """No baseline Deployment, no baseline pods (its Service goes with the router's objects)."""
    assert cluster.deployment(BASELINE) is None
    assert cluster.pods("baseline") == []


# -- replicas: one Service in front of the three tracks ------------------------------------------
def test_replicas_baseline_beside_the_canary_at_each_gate_then_promotion(cluster: Cluster) -> None:
    before = first_release(cluster, "replicas")
    with_baseline(cluster, "replicas")
    paused = cluster.deploy("2")
    ok(paused)
    # 10 % with 4 stable pods and a baseline: one pod each, 1/6 of the pods, said so
    assert (
        "16.7% to the canary (1 canary pod), 16.7% to the baseline (1 baseline pod), 66.7% to the "
        "stable version (4 stable pods)"
    ) in said(paused)
    assert paused.outputs["canary-weight"] == "16.7"  # type: ignore[attr-defined]
    baseline = check_baseline(cluster, 1)
    everyone = names(cluster.pods("stable")) | names(cluster.pods("canary")) | baseline
    assert len(everyone) == 6
    cluster.wait_until(lambda: cluster.endpoints(APP) == everyone)
    assert cluster.service(BASELINE) is None  # no Service of its own: the pod ratio is the share

    ok(cluster.run("promote", "--env", "production"))
    # 30 %: k / (4 + 2k) nearest 0.3 is k = 3 (30 %): 3 canary, 3 baseline, 4 stable pods
    baseline = check_baseline(cluster, 3)
    assert cluster.record().canary_weight == 30.0
    everyone = names(cluster.pods("stable")) | names(cluster.pods("canary")) | baseline
    cluster.wait_until(lambda: cluster.endpoints(APP) == everyone)

    ok(cluster.run("promote", "--env", "production"))
    gone(cluster)  # 60 %: the baseline removed, the canary alone beside the stable set (6 of 10)
    assert replicas(cluster, f"{APP}-canary") == 6

    done = cluster.run("promote", "--env", "production")
    ok(done)
    assert done.outputs["phase"] == "Succeeded"  # type: ignore[attr-defined]
    gone(cluster)
    assert cluster.inventory() == before


# -- gateway-api: a third weighted backendRef ---------------------------------------------------
def test_gateway_api_baseline_gets_the_canarys_weight_at_each_gate_then_promotion(
    cluster: Cluster,
) -> None:
    before = first_release(cluster, "gateway-api")
    with_baseline(cluster, "gateway-api")
    plan = cluster.run("plan", "--env", "production", "--image", f"{IMAGE}:2")
    ok(plan)
    text = said(plan)
    assert f"start the baseline: deployment/{BASELINE} with the stable version ({IMAGE}:1)" in text
    assert "10% to the canary (1 canary pod), 10% to the baseline (1 baseline pod), 80% to" in text
    assert "30% to the baseline (2 baseline pods), 40% to the stable version" in text
    assert f"remove the baseline: deployment/{BASELINE}, until its pods are gone (from 50%" in text
    assert "runs beside the canary at stage one, two with the canary's pod count" in text
    assert cluster.deployment(BASELINE) is None  # plan changes nothing

    ok(cluster.deploy("2"))
    assert cluster.backend_weights() == {APP: 80, f"{APP}-canary": 10, BASELINE: 10}
    baseline = check_baseline(cluster, 1)
    service = cluster.service(BASELINE)
    assert service is not None and service["spec"]["selector"] == {**SELECTOR, TRACK: "baseline"}
    cluster.wait_until(lambda: cluster.endpoints(BASELINE) == baseline)
    cluster.wait_until(lambda: cluster.endpoints(APP) == names(cluster.pods("stable")))
    cluster.wait_until(lambda: cluster.endpoints(f"{APP}-canary") == names(cluster.pods("canary")))

    ok(cluster.run("promote", "--env", "production"))
    weights = cluster.backend_weights()
    assert weights == {APP: 40, f"{APP}-canary": 30, BASELINE: 30}
    assert sum(w or 0 for w in weights.values()) == 100
    baseline = check_baseline(cluster, 2)  # 30 % of 4 stable pods' load: 2 pods each
    cluster.wait_until(lambda: cluster.endpoints(BASELINE) == baseline)

    ok(cluster.run("promote", "--env", "production"))
    assert cluster.backend_weights() == {APP: 40, f"{APP}-canary": 60}
    gone(cluster)
    # its Service is the router's, removed with the canary's when the router resets; no route
    # sends to it and it selects nothing meanwhile
    cluster.wait_until(lambda: cluster.endpoints(BASELINE) == set())

    ok(cluster.run("promote", "--env", "production"))
    assert cluster.backend_weights() == {APP: 1}
    assert cluster.service(BASELINE) is None
    assert image_of_stable(cluster) == f"{IMAGE}:2"
    assert cluster.inventory() == before


def image_of_stable(cluster: Cluster) -> str:
    return test_canary.image_of(cluster.deployment())


# -- every way out leaves no baseline behind ----------------------------------------------------
def test_abort_removes_the_baseline_with_the_canary(cluster: Cluster) -> None:
    before = first_release(cluster, "gateway-api")
    with_baseline(cluster, "gateway-api")
    ok(cluster.deploy("2"))
    ok(cluster.run("promote", "--env", "production"))  # at 30 %, the baseline at 2 pods
    check_baseline(cluster, 2)
    aborted = cluster.run("abort", "--env", "production")
    ok(aborted)
    assert aborted.outputs["phase"] == "Aborted"  # type: ignore[attr-defined]
    assert cluster.backend_weights() == {APP: 1}
    gone(cluster)
    assert cluster.inventory() == before
    stable = cluster.service()
    assert stable is not None and stable["spec"]["selector"] == SELECTOR


def test_a_canary_that_degrades_is_rolled_back_with_its_baseline(cluster: Cluster) -> None:
    before = first_release(cluster, "replicas")
    with_baseline(
        cluster,
        "replicas",
        "    - {name: one, traffic_percentage: 10, duration: 30s}\n"
        "    - {name: all, traffic_percentage: 100}\n",
    )
    failed = cluster.deploy("2-degrades")
    ok(failed, 1)
    assert failed.outputs["phase"] == "RolledBack"  # type: ignore[attr-defined]
    assert "remove-baseline" in said(failed)
    gone(cluster)
    assert cluster.inventory() == before
    assert image_of_stable(cluster) == f"{IMAGE}:1"


# -- refused before anything is touched ---------------------------------------------------------
def test_a_baseline_with_nginx_ingress_is_refused_naming_the_keys(cluster: Cluster) -> None:
    before = first_release(cluster, "nginx-ingress")
    with_baseline(cluster, "nginx-ingress")
    for verb in ("plan", "deploy"):
        refused = cluster.run(verb, "--env", "production", "--image", f"{IMAGE}:2")
        ok(refused, 2)
        assert "canary.baseline: true cannot be used with canary.traffic_router: nginx-ingress" in (
            refused.stderr
        )
        assert "only one canary Ingress per host and path" in refused.stderr
    assert cluster.inventory() == before
    assert cluster.record().revision == f"{IMAGE}:1"


def test_a_baseline_that_would_never_run_is_refused(cluster: Cluster) -> None:
    first_release(cluster, "replicas")
    with_baseline(
        cluster,
        "replicas",
        "    - {name: half, traffic_percentage: 50}\n    - {name: all, traffic_percentage: 100}\n",
    )
    refused = cluster.deploy("2")
    ok(refused, 2)
    assert "no stage of canary.stages is below 50%" in refused.stderr
    assert cluster.deployment(f"{APP}-canary") is None
