"""The canary strategy end to end on the sandbox: the real CLI in subprocesses, the cluster read
back through the API at every step (the objects a real controller reads: Deployment replica
counts, pod labels, Service selectors and their EndpointSlices, HTTPRoute weights, the canary
Ingress's annotations), for each traffic router; pause → promote from separate processes,
abort, a new image while paused, retry after abort, automatic rollback, a killed run.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from tests.commands.conftest import Engine
from tests.platforms.github_output import SCRIPT as READ_GITHUB_OUTPUT

from ci_deploy.kube.client import DEPLOYMENT, connect
from ci_deploy.kube.state import StateRecord, record_of
from kube_sandbox.testing import running_sandbox

STATUS_SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "status.schema.json"
NS = "shop"
APP = "shop"
IMAGE = "registry.example.com/acme/shop"
TRACK = "ci-deploy.dev/track"
SELECTOR = {"app.kubernetes.io/name": APP, "app.kubernetes.io/instance": f"{APP}-production"}

CONFIG = """\
app: shop
image:
  repository: registry.example.com/acme/shop
manifests:
  http_route:
    hostnames: [shop.example.com]
    parent_ref: {{name: public, namespace: infra}}
  ingress:
    host: shop.example.com
    class_name: nginx
environments:
  production:
    namespace: shop
    create_namespace: true
    replicas: 4
    strategy: canary
canary:
  traffic_router: {router}
  stages:
{stages}
"""

GATED = """\
    - {name: one, traffic_percentage: 10, pause: true}
    - {name: two, traffic_percentage: 50, pause: true}
    - {name: all, traffic_percentage: 100}
"""


class Cluster(Engine):
    """The sandbox, a canary config, the CLI, and readers of what controllers see."""

    def write(self, router: str, stages: str = GATED) -> None:
        self.config.write_text(CONFIG.format(router=router, stages=stages))

    def deploy(self, tag: str, *extra: str, **env: str) -> subprocess.CompletedProcess[str]:
        args = ("deploy", "--env", "production", "--image", f"{IMAGE}:{tag}", *extra)
        return self.run(*args, **env)

    # -- reading the cluster -------------------------------------------------------------
    def get(self, path: str) -> dict[str, Any] | None:
        return self.client.get_or_none(path)

    def deployment(self, name: str = APP) -> dict[str, Any] | None:  # type: ignore[override]
        return self.get(DEPLOYMENT.path(NS, name))

    def record(self) -> StateRecord:  # type: ignore[override]
        found = record_of(self.deployment())
        assert found is not None
        return found

    def service(self, name: str = APP) -> dict[str, Any] | None:
        return self.get(f"/api/v1/namespaces/{NS}/services/{name}")

    def route(self) -> dict[str, Any]:
        found = self.get(f"/apis/gateway.networking.k8s.io/v1/namespaces/{NS}/httproutes/{APP}")
        assert found is not None
        return found

    def backend_weights(self) -> dict[str, int | None]:
        refs = self.route()["spec"]["rules"][0]["backendRefs"]
        return {r["name"]: r.get("weight") for r in refs}

    def ingress(self, name: str) -> dict[str, Any] | None:
        return self.get(f"/apis/networking.k8s.io/v1/namespaces/{NS}/ingresses/{name}")

    def endpoints(self, service: str) -> set[str]:
        """Pod names behind a Service, as its EndpointSlices say (what kube-proxy reads)."""
        query = f"?labelSelector=kubernetes.io/service-name={service}"
        slices = self.client.get(f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices{query}")
        return {
            e["targetRef"]["name"]
            for s in slices.get("items") or []
            for e in s.get("endpoints") or []
            if (e.get("conditions") or {}).get("ready")
        }

    def pods(self, track: str) -> list[dict[str, Any]]:
        query = f"?labelSelector={TRACK}={track}"
        items = self.client.get(f"/api/v1/namespaces/{NS}/pods{query}").get("items") or []
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def inventory(self) -> set[str]:
        """Every object of the app's kinds in the namespace (what could be left behind)."""
        found = set()
        for path, kind in (
            ("/apis/apps/v1/namespaces/shop/deployments", "Deployment"),
            ("/api/v1/namespaces/shop/services", "Service"),
            ("/apis/networking.k8s.io/v1/namespaces/shop/ingresses", "Ingress"),
            ("/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes", "HTTPRoute"),
        ):
            for item in self.client.get(path).get("items") or []:
                found.add(f"{kind} {item['metadata']['name']}")
        return found


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    # the synthetic Prometheus judges the example's canary (metrics from the image tags)
    with running_sandbox(tmp_path, pod_ready_delay=0.05, synthetic_prometheus=True) as sb:
        client = connect(str(sb.kubeconfig))
        try:
            yield Cluster(sb, tmp_path, tmp_path / "ci-deploy.yml", client)
        finally:
            client.close()


def said(result: subprocess.CompletedProcess[str]) -> str:
    """Everything the run printed (progress goes to stderr, the outcome line to stdout)."""
    return result.stdout + result.stderr


def ok(result: subprocess.CompletedProcess[str], code: int = 0) -> None:
    assert result.returncode == code, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr


def image_of(deployment: dict[str, Any] | None) -> str:
    assert deployment is not None
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def first_release(cluster: Cluster, router: str) -> set[str]:
    cluster.write(router)
    ok(cluster.deploy("1"))
    stable = cluster.deployment()
    assert stable is not None
    # a first deploy has nothing to run a canary beside: a direct rollout, pods on the stable
    # track (what routers and metric queries select)
    assert stable["spec"]["template"]["metadata"]["labels"][TRACK] == "stable"
    assert len(cluster.pods("stable")) == 4
    assert cluster.record().phase == "Succeeded"
    return cluster.inventory()


# -- the full canary, gate by gate, per router ---------------------------------------------
def test_replicas_router_pod_ratio_at_each_gate_then_promotion(cluster: Cluster) -> None:
    before = first_release(cluster, "replicas")
    paused = cluster.deploy("2")
    ok(paused)
    assert paused.outputs["phase"] == "Paused"  # type: ignore[attr-defined]
    # 10% with 4 stable pods: the nearest pod ratio is 1 canary pod, 20%; said, and recorded
    assert "nearest pod ratio is 20%" in said(paused)
    assert paused.outputs["canary-weight"] == "20"  # type: ignore[attr-defined]
    canary = cluster.deployment(f"{APP}-canary")
    assert canary is not None and canary["spec"]["replicas"] == 1
    assert image_of(canary) == f"{IMAGE}:2"
    assert cluster.deployment()["spec"]["replicas"] == 4  # type: ignore[index]
    # one Service in front of both tracks: its endpoints are the 4 stable pods and the canary
    service = cluster.service()
    assert service is not None and service["spec"]["selector"] == SELECTOR
    canary_pods = {p["metadata"]["name"] for p in cluster.pods("canary")}
    stable_pods = {p["metadata"]["name"] for p in cluster.pods("stable")}
    assert len(canary_pods) == 1
    cluster.wait_until(lambda: cluster.endpoints(APP) == canary_pods | stable_pods)

    second = cluster.run("promote", "--env", "production")
    ok(second)
    assert second.outputs["phase"] == "Paused"  # type: ignore[attr-defined]
    assert cluster.deployment(f"{APP}-canary")["spec"]["replicas"] == 4  # type: ignore[index]
    assert cluster.record().canary_weight == 50.0

    done = cluster.run("promote", "--env", "production")
    ok(done)
    assert done.outputs["phase"] == "Succeeded"  # type: ignore[attr-defined]
    assert image_of(cluster.deployment()) == f"{IMAGE}:2"
    assert cluster.deployment(f"{APP}-canary") is None
    assert cluster.pods("canary") == []
    assert cluster.inventory() == before  # nothing left behind
    record = cluster.record()
    assert record.phase == "Succeeded" and record.plan is None and record.canary_weight is None


def test_gateway_api_router_weights_at_each_gate_then_promotion(cluster: Cluster) -> None:
    before = first_release(cluster, "gateway-api")
    assert cluster.backend_weights() == {APP: 1}  # as the cluster stores the rendered route
    ok(cluster.deploy("2"))
    # exactly 10% of requests; the canary sized for that share of 4 pods (at least one)
    assert cluster.backend_weights() == {APP: 90, f"{APP}-canary": 10}
    assert cluster.deployment(f"{APP}-canary")["spec"]["replicas"] == 1  # type: ignore[index]
    # the stable Service selects the stable pods only, the canary Service the canary's
    stable_svc, canary_svc = cluster.service(), cluster.service(f"{APP}-canary")
    assert stable_svc is not None and canary_svc is not None
    assert stable_svc["spec"]["selector"] == {**SELECTOR, TRACK: "stable"}
    assert canary_svc["spec"]["selector"] == {**SELECTOR, TRACK: "canary"}
    canary_pods = {p["metadata"]["name"] for p in cluster.pods("canary")}
    stable_pods = {p["metadata"]["name"] for p in cluster.pods("stable")}
    cluster.wait_until(lambda: cluster.endpoints(f"{APP}-canary") == canary_pods)
    cluster.wait_until(lambda: cluster.endpoints(APP) == stable_pods)

    ok(cluster.run("promote", "--env", "production"))
    assert cluster.backend_weights() == {APP: 50, f"{APP}-canary": 50}
    assert cluster.deployment(f"{APP}-canary")["spec"]["replicas"] == 2  # type: ignore[index]

    ok(cluster.run("promote", "--env", "production"))
    assert cluster.backend_weights() == {APP: 1}  # the route as rendered again
    stable_svc = cluster.service()
    assert stable_svc is not None and stable_svc["spec"]["selector"] == SELECTOR
    assert cluster.service(f"{APP}-canary") is None
    assert image_of(cluster.deployment()) == f"{IMAGE}:2"
    assert cluster.inventory() == before


def test_nginx_ingress_router_canary_ingress_at_each_gate_then_promotion(
    cluster: Cluster,
) -> None:
    before = first_release(cluster, "nginx-ingress")
    ok(cluster.deploy("2"))
    canary_ingress = cluster.ingress(f"{APP}-canary")
    assert canary_ingress is not None
    notes = canary_ingress["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/canary"] == "true"
    assert notes["nginx.ingress.kubernetes.io/canary-weight"] == "10"
    rule = canary_ingress["spec"]["rules"][0]
    assert rule["host"] == "shop.example.com"
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == f"{APP}-canary"
    ok(cluster.run("promote", "--env", "production"))
    notes = cluster.ingress(f"{APP}-canary")["metadata"]["annotations"]  # type: ignore[index]
    assert notes["nginx.ingress.kubernetes.io/canary-weight"] == "50"
    ok(cluster.run("promote", "--env", "production"))
    assert cluster.ingress(f"{APP}-canary") is None
    assert cluster.inventory() == before


# -- abort, retry, a new image while paused, the same image again ------------------------------
def test_the_replicas_router_records_weight_0_only_once_the_canary_pods_are_gone(
    cluster: Cluster,
) -> None:
    first_release(cluster, "replicas")
    ok(cluster.deploy("2"))
    assert cluster.record().canary_weight == 20.0  # 1 canary pod beside 4 stable
    plan = cluster.run("plan", "--env", "production", "--image", f"{IMAGE}:3")
    assert "the canary's pods keep their share until they are removed, the next step" in said(plan)
    # The canary's deletion takes 3 s (every request on its Deployment is slowed): meanwhile
    # its pod still serves behind the one Service, and the record must not say weight 0.
    cluster.sb.faults.set(latency=3.0, path_contains=f"/deployments/{APP}-canary")
    proc = cluster.start("abort", "--env", "production")
    try:
        cluster.wait_until(lambda: cluster.record().step.endswith(" remove-canary"), seconds=30)
        during = cluster.record().canary_weight
        serving = {p["metadata"]["name"] for p in cluster.pods("canary")}
        behind_the_service = cluster.endpoints(APP)
        _, err = proc.communicate(timeout=60)
    finally:
        cluster.sb.faults.reset()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert len(serving) == 1 and serving <= behind_the_service  # it still took its share …
    assert during == 20.0  # … and the record said so
    assert "the canary's pods keep their share behind Service shop until they are removed" in err
    record = cluster.record()
    assert record.phase == "Aborted" and cluster.pods("canary") == []


def test_abort_returns_all_traffic_and_a_retry_of_the_same_image_starts_again(
    cluster: Cluster,
) -> None:
    before = first_release(cluster, "gateway-api")
    ok(cluster.deploy("2"))
    assert cluster.backend_weights() == {APP: 90, f"{APP}-canary": 10}
    aborted = cluster.run("abort", "--env", "production")
    ok(aborted)
    assert aborted.outputs["phase"] == "Aborted"  # type: ignore[attr-defined]
    assert cluster.backend_weights() == {APP: 1}
    assert cluster.deployment(f"{APP}-canary") is None
    assert cluster.inventory() == before
    stable = cluster.deployment()
    assert image_of(stable) == f"{IMAGE}:1"
    assert stable is not None and stable["status"]["readyReplicas"] == 4  # full capacity
    record = cluster.record()
    assert record.phase == "Aborted" and record.plan is None
    # Argo Rollouts could not retry an aborted canary with the same image (3120): this can
    retry = cluster.deploy("2")
    ok(retry)
    assert retry.outputs["phase"] == "Paused"  # type: ignore[attr-defined]
    assert cluster.backend_weights() == {APP: 90, f"{APP}-canary": 10}
    nothing = cluster.run("abort", "--env", "production")
    ok(nothing)
    again = cluster.run("abort", "--env", "production")
    ok(again, 2)  # nothing in progress any more: bad input, nothing changed
    assert "nothing to abort" in again.stderr


@pytest.mark.parametrize("router", ["gateway-api", "nginx-ingress"])
def test_teardown_of_a_paused_canary_leaves_none_of_its_objects(
    cluster: Cluster, router: str
) -> None:
    first_release(cluster, router)
    ok(cluster.deploy("2"))
    assert cluster.deployment(f"{APP}-canary") is not None
    done = cluster.run("teardown", "--env", "production", "--confirm", "production")
    ok(done)
    assert "torn down production:" in said(done)
    assert f"deleted Deployment {NS}/{APP}-canary" in said(done)
    assert cluster.inventory() == set()  # stable and canary: Deployments, Services, routes
    assert cluster.get(f"/api/v1/namespaces/{NS}/secrets/applyset-{APP}") is None
    cluster.wait_until(lambda: not cluster.pods("canary") and not cluster.pods("stable"))
    # a first deploy again: a direct rollout, no canary beside nothing
    ok(cluster.deploy("3"))
    assert cluster.record().phase == "Succeeded"
    assert cluster.deployment(f"{APP}-canary") is None


def test_the_same_image_while_paused_changes_nothing(cluster: Cluster) -> None:
    first_release(cluster, "replicas")
    ok(cluster.deploy("2"))
    canary = cluster.deployment(f"{APP}-canary")
    assert canary is not None
    again = cluster.deploy("2")
    ok(again)
    assert "is paused in production" in said(again)
    assert again.outputs["phase"] == "Paused"  # type: ignore[attr-defined]
    after = cluster.deployment(f"{APP}-canary")
    assert after is not None
    # no restart: the canary Deployment was not touched
    assert after["metadata"]["generation"] == canary["metadata"]["generation"]
    assert after["spec"]["template"] == canary["spec"]["template"]


def test_a_new_image_while_paused_aborts_the_old_canary_first(cluster: Cluster) -> None:
    before = first_release(cluster, "gateway-api")
    ok(cluster.deploy("2"))
    newer = cluster.deploy("3")
    ok(newer)
    assert "still paused here: it is aborted first" in said(newer)
    assert newer.outputs["phase"] == "Paused"  # type: ignore[attr-defined]
    assert image_of(cluster.deployment(f"{APP}-canary")) == f"{IMAGE}:3"
    assert {image_of_pod(p) for p in cluster.pods("canary")} == {f"{IMAGE}:3"}
    assert cluster.record().revision == f"{IMAGE}:3"
    assert cluster.record().previous_revision == f"{IMAGE}:1"
    ok(cluster.run("promote", "--env", "production", "--full"))
    assert image_of(cluster.deployment()) == f"{IMAGE}:3"
    assert cluster.inventory() == before


def image_of_pod(pod: dict[str, Any]) -> str:
    return str(pod["spec"]["containers"][0]["image"])


# -- failures: automatic rollback ---------------------------------------------------------------
def test_a_canary_that_degrades_during_a_stage_is_rolled_back(cluster: Cluster) -> None:
    before = first_release(cluster, "gateway-api")
    # Ready at first, unready from 20 × 0.05 s = 1 s on: caught while the stage is watched
    cluster.write(
        "gateway-api",
        "    - {name: one, traffic_percentage: 10, duration: 30s}\n"
        "    - {name: all, traffic_percentage: 100}\n",
    )
    started = time.monotonic()
    failed = cluster.deploy("2-degrades")
    took = time.monotonic() - started
    ok(failed, 1)
    assert "pods ready" in said(failed)
    assert took < 25  # judged during the stage, not at its end (30 s)
    assert failed.outputs["phase"] == "RolledBack"  # type: ignore[attr-defined]
    assert cluster.backend_weights() == {APP: 1}
    assert cluster.deployment(f"{APP}-canary") is None
    assert image_of(cluster.deployment()) == f"{IMAGE}:1"
    assert cluster.inventory() == before


def test_a_crashing_canary_never_gets_traffic(cluster: Cluster) -> None:
    before = first_release(cluster, "gateway-api")
    failed = cluster.deploy("2-crashloop")
    ok(failed, 1)
    assert cluster.record().phase == "RolledBack"
    assert cluster.backend_weights() == {APP: 1}
    assert cluster.inventory() == before
    stable = cluster.deployment()
    assert image_of(stable) == f"{IMAGE}:1"


# -- a killed run ---------------------------------------------------------------------------
def test_a_deploy_killed_mid_canary_is_continued_from_the_cluster(cluster: Cluster) -> None:
    before = first_release(cluster, "gateway-api")
    cluster.write(
        "gateway-api",
        "    - {name: one, traffic_percentage: 10, duration: 4s}\n"
        "    - {name: all, traffic_percentage: 100}\n",
    )
    proc = cluster.start(
        "deploy", "--env", "production", "--image", f"{IMAGE}:2", "--lock-ttl", "2s"
    )
    try:
        cluster.wait_until(lambda: "watch" in cluster.record().step, seconds=30)
        proc.send_signal(signal.SIGKILL)  # no handler, no cleanup: only the cluster knows
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed_at = cluster.record()
    assert killed_at.phase == "Progressing" and "watch" in killed_at.step
    assert cluster.backend_weights() == {APP: 90, f"{APP}-canary": 10}
    rerun = cluster.deploy("2", "--lock-timeout", "30s")
    ok(rerun)
    assert f"was interrupted at step {killed_at.step}" in said(rerun)
    # it went on from the recorded step: the steps before it were not run again
    assert "step 1/" not in said(rerun) and "start-canary" not in said(rerun)
    assert rerun.outputs["phase"] == "Succeeded"  # type: ignore[attr-defined]
    assert image_of(cluster.deployment()) == f"{IMAGE}:2"
    assert cluster.inventory() == before


# -- plan and time scale --------------------------------------------------------------------
def test_plan_prints_stages_gates_failure_paths_and_time(cluster: Cluster) -> None:
    first_release(cluster, "replicas")
    cluster.write(
        "replicas",
        "    - {name: initial, traffic_percentage: 5, duration: 15m}\n"
        "    - {name: expanded, traffic_percentage: 25, duration: 30m, pause: true}\n"
        "    - {name: full, traffic_percentage: 100, monitor_duration: 2h}\n",
    )
    plan = cluster.run("plan", "--env", "production", "--image", f"{IMAGE}:2", "--time-scale", "60")
    ok(plan)
    text = said(plan)
    assert "time scale: every duration divided by 60" in text
    assert "5% asked: with 4 stable pods the nearest pod ratio is 20%" in text
    assert "watch 15m (time-scaled: 15s)" in text
    assert "pause after stage expanded" in text
    assert "monitor 2h (time-scaled: 2m)" in text
    assert "expected time: at least 2m45s" in text
    assert "on failure before step" in text and "on failure from step" in text
    assert "abort (`ci-deploy abort --env production`)" in text
    assert cluster.deployment(f"{APP}-canary") is None  # plan changes nothing


def test_time_scale_is_refused_off_the_sandbox() -> None:
    from ci_deploy.errors import UserInputError
    from ci_deploy.rollout.options import DeployOptions, check_time_scale

    class RealCluster:  # what /version of a real kube-apiserver answers
        def get(self, path: str) -> dict[str, str]:
            assert path == "/version"
            return {"gitVersion": "v1.32.4-eks-1234"}

    opts = DeployOptions(config_path="x", environment="production", image=None, time_scale=60)
    with pytest.raises(UserInputError, match="only for rehearsals on the ci-deploy sandbox"):
        check_time_scale(RealCluster(), opts)  # type: ignore[arg-type]
    check_time_scale(RealCluster(), DeployOptions("x", "production", None))  # scale 1: fine


def test_status_says_what_comes_next_and_rollback_points_to_abort(cluster: Cluster) -> None:
    first_release(cluster, "replicas")
    ok(cluster.deploy("2"))
    status = cluster.run("status", "--env", "production")
    ok(status)
    assert "canary weight  20%" in status.stdout
    as_json = cluster.run("status", "--env", "production", "--json")
    ok(as_json)
    doc = json.loads(as_json.stdout)
    jsonschema.validate(doc, json.loads(STATUS_SCHEMA.read_text()))  # the documented shape
    assert doc["state"]["canaryWeight"] == 20 and doc["state"]["phase"] == "Paused"
    assert "plan" not in doc["state"]  # the recorded plan stays in the cluster
    assert "`ci-deploy promote --env production` continues after the gate" in status.stdout
    refused = cluster.run("rollback", "--env", "production")
    ok(refused, 2)
    assert "a rollback would leave it running" in refused.stderr
    assert "ci-deploy abort --env production" in refused.stderr
    assert cluster.deployment(f"{APP}-canary") is not None  # nothing changed


def test_an_autoscaler_on_the_stable_deployment_and_the_canary_do_not_fight(
    cluster: Cluster,
) -> None:
    cluster.write("gateway-api")
    text = cluster.config.read_text().replace(
        "manifests:\n", "manifests:\n  hpa: {min_replicas: 3, max_replicas: 6}\n", 1
    )
    cluster.config.write_text(text)
    ok(cluster.deploy("1"))
    hpa_path = f"/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers/{APP}"
    cluster.wait_until(lambda: cluster.deployment()["spec"]["replicas"] == 3)  # type: ignore[index]
    ok(cluster.deploy("2"))
    # 10% of the 3 pods the autoscaler keeps: one canary pod; the canary has no autoscaler
    assert cluster.deployment(f"{APP}-canary")["spec"]["replicas"] == 1  # type: ignore[index]
    hpas = cluster.client.get(f"/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers")
    assert [h["spec"]["scaleTargetRef"]["name"] for h in hpas["items"]] == [APP]
    # the autoscaler scales the stable set up while the canary waits at its gate...
    cluster.client.request(
        "PATCH",
        hpa_path,
        body={"spec": {"minReplicas": 5}},
        content_type="application/merge-patch+json",
    )
    cluster.wait_until(lambda: cluster.deployment()["spec"]["replicas"] == 5)  # type: ignore[index]
    # ...and the next stage sizes the canary from what the stable set is then: 50% of 5 → 3
    ok(cluster.run("promote", "--env", "production"))
    assert cluster.deployment(f"{APP}-canary")["spec"]["replicas"] == 3  # type: ignore[index]
    assert cluster.deployment()["spec"]["replicas"] == 5  # type: ignore[index]  # untouched
    ok(cluster.run("promote", "--env", "production"))
    stable = cluster.deployment()
    assert image_of(stable) == f"{IMAGE}:2"
    # the promotion applied the template, not a replica count: the autoscaler's 5 stay
    assert stable is not None and stable["spec"]["replicas"] == 5
    hpa = cluster.get(hpa_path)
    assert hpa is not None and hpa["spec"]["scaleTargetRef"]["name"] == APP


def test_a_pause_on_github_writes_outputs_and_a_summary_that_say_what_comes_next(
    cluster: Cluster, tmp_path: Path
) -> None:
    first_release(cluster, "gateway-api")
    output, summary = tmp_path / "github_output", tmp_path / "summary.md"
    output.touch()
    paused = cluster.deploy(
        "2",
        GITHUB_ACTIONS="true",
        GITHUB_OUTPUT=str(output),
        GITHUB_STEP_SUMMARY=str(summary),
    )
    ok(paused)
    text = summary.read_text()
    assert "### ci-deploy: shop to production: Paused" in text
    assert "| canary weight | 10% |" in text
    assert "`ci-deploy promote --env production` continues" in text
    # the next job reads $GITHUB_OUTPUT as the runner does (the last value of a name wins)
    read = subprocess.run(
        [sys.executable, READ_GITHUB_OUTPUT, str(output)],
        capture_output=True,
        text=True,
        check=True,
    )
    outputs = json.loads(read.stdout)
    assert outputs["phase"] == "Paused"
    assert outputs["canary-weight"] == "10"
    assert outputs["revision"] == f"{IMAGE}:2"
