"""The outcomes of the progressive-delivery verbs that ``test_canary`` does not reach, on the
sandbox through the real CLI: ``promote`` and ``abort`` with nothing in flight (exit 2, the
cluster untouched down to resourceVersions and the lock), an abort whose step the API refuses
(exit 3, recorded, and the advice it prints works once the cause is gone), the same for the
abort that a new image runs first (the new image is not applied), and ``deploy --no-pause``
through every stage of the example's production canary.
"""

from __future__ import annotations

import time
from typing import Any

from tests.commands.conftest import EXAMPLE
from tests.commands.test_canary import (
    APP,
    IMAGE,
    NS,
    Cluster,
    first_release,
    image_of,
    image_of_pod,
    ok,
    said,
)
from tests.commands.test_canary import cluster as cluster  # the fixture

from ci_deploy.kube.client import DEPLOYMENT
from ci_deploy.kube.state import record_of
from ci_deploy.retry import DEFAULT_POLICY

CANARY = f"{APP}-canary"
KINDS = (
    ("/apis/apps/v1", "deployments"),
    ("/apis/apps/v1", "replicasets"),
    ("/api/v1", "pods"),
    ("/api/v1", "services"),
    ("/apis/networking.k8s.io/v1", "ingresses"),
    ("/apis/gateway.networking.k8s.io/v1", "httproutes"),
    ("/apis/coordination.k8s.io/v1", "leases"),
)


def snapshot(cluster: Cluster, namespace: str = NS) -> dict[str, str]:
    """Every object of the namespace that a verb could touch (the deploy lock's Lease too),
    with its resourceVersion: any write shows."""
    found = {}
    for group, plural in KINDS:
        items = cluster.client.get(f"{group}/namespaces/{namespace}/{plural}").get("items") or []
        for item in items:
            meta = item["metadata"]
            found[f"{plural}/{meta['name']}"] = str(meta["resourceVersion"])
    return found


def settled_snapshot(cluster: Cluster) -> dict[str, str]:
    """``snapshot`` once the controllers have stopped writing (two equal reads in a row)."""
    seen = [snapshot(cluster)]

    def still() -> bool:
        time.sleep(0.2)
        seen.append(snapshot(cluster))
        return seen[-1] == seen[-2]

    cluster.wait_until(still)
    return seen[-1]


def namespaces(cluster: Cluster) -> set[str]:
    return {n["metadata"]["name"] for n in cluster.client.get("/api/v1/namespaces")["items"]}


def finished_canary(cluster: Cluster) -> None:
    """:1 stable, then a canary of :2 promoted to the end: nothing is in flight."""
    first_release(cluster, "gateway-api")
    ok(cluster.deploy("2"))
    ok(cluster.run("promote", "--env", "production", "--full"))
    record = cluster.record()
    assert record.phase == "Succeeded" and record.plan is None
    assert image_of(cluster.deployment()) == f"{IMAGE}:2"
    assert cluster.deployment(CANARY) is None


# -- nothing in flight: promote and abort say so and change nothing ------------------------------
def test_promote_and_abort_with_nothing_in_flight_exit_2_and_touch_nothing(
    cluster: Cluster,
) -> None:
    # an environment never deployed: no Deployment, not even the namespace
    cluster.write("gateway-api")
    before_namespaces = namespaces(cluster)
    assert NS not in before_namespaces
    for verb in ("promote", "abort"):
        never = cluster.run(verb, "--env", "production")
        ok(never, 2)
        assert f"nothing to {verb} in production: no rollout is recorded there" in never.stderr
        assert namespaces(cluster) == before_namespaces  # nothing created, not even the lock
        assert cluster.deployment() is None

    # after a finished canary: the record says Succeeded, there is no plan to act on
    finished_canary(cluster)
    before, record = settled_snapshot(cluster), cluster.record()
    for verb in ("promote", "abort"):
        done = cluster.run(verb, "--env", "production")
        ok(done, 2)
        assert (
            f"nothing to {verb} in production: the last rollout ({IMAGE}:2, strategy canary) "
            "is Succeeded" in done.stderr
        )
        assert "`ci-deploy status --env production` shows it" in done.stderr
        # not a write anywhere: every object at its resourceVersion, the lock never taken
        assert snapshot(cluster) == before
        assert cluster.record() == record
    assert image_of(cluster.deployment()) == f"{IMAGE}:2"
    assert cluster.deployment()["spec"]["replicas"] == 4  # type: ignore[index]
    assert cluster.backend_weights() == {APP: 1}


# -- an abort whose step the API refuses ------------------------------------------------------
def test_an_abort_refused_by_the_api_exits_3_records_it_and_its_advice_works(
    cluster: Cluster,
) -> None:
    before = first_release(cluster, "gateway-api")
    ok(cluster.deploy("2"))
    paused = cluster.record()
    assert cluster.backend_weights() == {APP: 90, CANARY: 10}
    # an admission webhook refuses every change to the canary Deployment (its delete included)
    cluster.sb.faults.set(refuse_path=f"/deployments/{CANARY}", refuse_status=403)
    failed = cluster.run("abort", "--env", "production")
    refusals = cluster.sb.faults.describe()["counts"]
    cluster.sb.faults.reset()
    ok(failed, 3)
    assert refusals == {"refused 403": 1}  # the delete, refused once (a 403 is not retried)
    assert f"error: abort of {IMAGE}:2 in production failed at step remove-canary" in failed.stderr
    assert "admission webhook denied the request" in failed.stderr
    assert "hint: a human must act: kubectl -n shop get deployment,service" in failed.stderr
    assert "then run `ci-deploy abort --env production` again" in failed.stderr
    assert failed.outputs["phase"] == "Failed"  # type: ignore[attr-defined]
    # the record says what happened, and still holds what a second abort plans from: the
    # rollout's plan and the step it had reached
    record = cluster.record()
    assert record.phase == "Failed"
    assert record.message.startswith(
        f"abort of {IMAGE}:2 in production failed at step remove-canary: "
    )
    assert record.revision == f"{IMAGE}:2" and record.plan == paused.plan
    assert record.step == paused.step and record.step.endswith(" pause")
    # the steps before the refused one were done: no traffic to the canary; it still runs
    assert cluster.backend_weights() == {APP: 100, CANARY: 0}
    canary = cluster.deployment(CANARY)
    assert canary is not None and canary["spec"]["replicas"] == 1
    assert image_of(canary) == f"{IMAGE}:2"
    assert image_of(cluster.deployment()) == f"{IMAGE}:1"
    assert cluster.deployment()["status"]["readyReplicas"] == 4  # type: ignore[index]

    # the webhook lifted, the advice is followed: the abort goes through
    again = cluster.run("abort", "--env", "production")
    ok(again)
    assert again.outputs["phase"] == "Aborted"  # type: ignore[attr-defined]
    assert f"Aborted: {IMAGE}:2 removed, {IMAGE}:1 serves" in said(again)
    assert cluster.deployment(CANARY) is None and cluster.pods("canary") == []
    assert cluster.backend_weights() == {APP: 1}
    assert cluster.inventory() == before
    assert image_of(cluster.deployment()) == f"{IMAGE}:1"
    record = cluster.record()
    assert record.phase == "Aborted" and record.plan is None


# -- a new image while paused: the abort it runs first fails ------------------------------------
def test_a_new_image_whose_abort_first_fails_exits_3_and_is_not_applied(
    cluster: Cluster,
) -> None:
    before = first_release(cluster, "replicas")
    ok(cluster.deploy("2"))
    paused = cluster.record()
    assert paused.phase == "Paused"
    stable_generation = cluster.deployment()["metadata"]["generation"]  # type: ignore[index]
    # every write to the canary Deployment answered 500, retried until the budget is spent
    cluster.sb.faults.set(refuse_path=f"/deployments/{CANARY}", refuse_status=500)
    newer = cluster.deploy("3")
    refusals = cluster.sb.faults.describe()["counts"]
    cluster.sb.faults.reset()
    ok(newer, 3)
    assert refusals == {"refused 500": DEFAULT_POLICY.attempts}  # the delete, retried, given up
    assert "still paused here: it is aborted first" in said(newer)
    assert (
        f"error: the rollout still in flight in production could not be aborted before "
        f"{IMAGE}:3" in newer.stderr
    )
    assert f"{IMAGE}:3 was not started" in newer.stderr
    assert "hint: a human must act: run `ci-deploy abort --env production` again" in newer.stderr
    assert newer.outputs["phase"] == "Failed"  # type: ignore[attr-defined]
    # :3 is nowhere: the canary of :2 still runs beside the stable :1
    canary = cluster.deployment(CANARY)
    assert canary is not None and image_of(canary) == f"{IMAGE}:2"
    assert canary["metadata"]["generation"] == 1  # never patched
    stable = cluster.deployment()
    assert image_of(stable) == f"{IMAGE}:1"
    assert stable is not None and stable["metadata"]["generation"] == stable_generation
    assert {image_of_pod(p) for p in cluster.pods("canary")} == {f"{IMAGE}:2"}
    assert {image_of_pod(p) for p in cluster.pods("stable")} == {f"{IMAGE}:1"}
    assert cluster.inventory() == before | {f"Deployment {CANARY}"}
    # recorded on the rollout still there (:2, its plan and step), not on :3, never started
    record = cluster.record()
    assert record.phase == "Failed"
    assert record.message.startswith(
        f"the rollout still in flight in production could not be aborted before {IMAGE}:3"
    )
    assert record.revision == f"{IMAGE}:2" and record.previous_revision == f"{IMAGE}:1"
    assert record.plan == paused.plan and record.step == paused.step
    assert newer.outputs["revision"] == f"{IMAGE}:2"  # type: ignore[attr-defined]

    # the advice, once the cause is gone: the abort of the :2 canary goes through
    again = cluster.run("abort", "--env", "production")
    ok(again)
    assert again.outputs["phase"] == "Aborted"  # type: ignore[attr-defined]
    assert cluster.deployment(CANARY) is None and cluster.pods("canary") == []
    assert cluster.inventory() == before
    assert image_of(cluster.deployment()) == f"{IMAGE}:1"
    assert cluster.record().phase == "Aborted"
    # and :3 can be deployed now, as a canary beside :1
    ok(cluster.deploy("3"))
    assert image_of(cluster.deployment(CANARY)) == f"{IMAGE}:3"
    assert cluster.record().previous_revision == f"{IMAGE}:1"


# -- deploy --no-pause: every stage of the example's production canary ---------------------------
def test_no_pause_runs_the_example_production_canary_through_every_stage(
    cluster: Cluster,
) -> None:
    cluster.config = EXAMPLE  # as written: 5 replicas, 5/25 (gated)/75/100 %, replicas router
    ns, image = "web-app-prod", "registry.example.com/acme/web-app"
    # production may not create its namespace; it names `cluster: production`: the sandbox's
    # context stands in for it
    cluster.client.request("POST", "/api/v1/namespaces", body={"metadata": {"name": ns}})
    where = ("--context", "ci-deploy-sandbox")

    def stable() -> dict[str, Any] | None:
        return cluster.client.get_or_none(DEPLOYMENT.path(ns, "web-app"))

    ok(cluster.run("deploy", "--env", "production", "--image", f"{image}:1.0.0", *where))
    assert image_of(stable()) == f"{image}:1.0.0"
    # 15m + 30m + 45m + a 2h monitor, divided by 36000: 0.35 s
    done = cluster.run(
        "deploy",
        "--env",
        "production",
        "--image",
        f"{image}:2.0.0",
        "--no-pause",
        "--time-scale",
        "36000",
        *where,
    )
    ok(done)
    text = said(done)
    for line in (  # each stage at its size (the pod ratio nearest its weight), then promoted
        "stage initial: 16.7% to the canary (1 canary pod next to 5 stable)",
        "stage initial: 25ms passed, healthy, analysis passed",  # on the synthetic Prometheus
        "✓ response_time_p95 (canary): pass — 50ms, rule < 500ms",
        "✓ cpu_usage (canary): pass — 20%, rule < 70%",
        "stage expanded: 28.6% to the canary (2 canary pods next to 5 stable)",
        "stage expanded: 50ms passed, healthy",
        "gate after stage expanded passed without a pause (as asked)",
        "stage majority: 75% to the canary (15 canary pods next to 5 stable)",
        "stage majority: 75ms passed, healthy",
        f"verified: deployment/web-app and its Ready pods run app={image}:2.0.0",
        "removed deployment/web-app-canary",
        "stage full: 200ms passed, healthy, analysis passed",
        "✓ error_rate (stable): pass — 0%, rule not > 0.5%",
        "step 22/22: record",
        f"Succeeded: {image}:2.0.0 in production",
    ):
        assert line in text, line
    assert "paused after stage" not in text
    assert done.outputs["phase"] == "Succeeded"  # type: ignore[attr-defined]
    deployment = stable()
    assert image_of(deployment) == f"{image}:2.0.0"
    assert deployment is not None and deployment["spec"]["replicas"] == 5
    assert deployment["status"]["readyReplicas"] == 5
    assert cluster.client.get_or_none(DEPLOYMENT.path(ns, "web-app-canary")) is None
    pods = cluster.client.get(f"/api/v1/namespaces/{ns}/pods")["items"]
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    assert {image_of_pod(p) for p in live} == {f"{image}:2.0.0"}
    assert len(live) == 5
    record = record_of(deployment)
    assert record is not None and record.phase == "Succeeded"
    assert record.revision == f"{image}:2.0.0" and record.previous_revision == f"{image}:1.0.0"
    assert record.plan is None and record.canary_weight is None
    assert record.step == "22/22 record"  # the last step of the plan ran
