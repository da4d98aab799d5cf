"""``strategy: blue_green`` on the sandbox, through the real CLI (a subprocess per verb).

Every assertion reads what a real controller reads: the Service's selector, the EndpointSlices
the endpoints controller publishes for the app's Service and the preview Service, the replica
counts and labels of both colours' Deployments and pods, and the state record.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.commands.conftest import EXAMPLE, Engine, read_outputs
from tests.commands.conftest import engine_factory as engine_factory  # the fixture

from ci_deploy.kube.client import DEPLOYMENT, POD
from ci_deploy.kube.endpoints import ready_endpoint_pods
from ci_deploy.kube.state import StateRecord
from ci_deploy.kube.verify import pod_ready
from kube_sandbox.testing import wait_until

IMAGE = "registry.example.com/acme/web-app"
NS = "web-app-staging"
COLOR = "ci-deploy.dev/color"
KEEP = "--time-scale", "30"  # scale_down_delay 30s → 1s


def config(tmp: Path, *, auto_promote: bool = True, keep: str = "30s", hpa: bool = False) -> Path:
    """The web-app example with staging on blue-green (and an HPA of the app)."""
    text = EXAMPLE.read_text().replace(
        "    url: https://staging.example.com\n",
        "    url: https://staging.example.com\n    strategy: blue_green\n",
        1,
    )
    if hpa:
        text = text.replace(
            "  ingress:\n", "  hpa: {min_replicas: 2, max_replicas: 6}\n  ingress:\n", 1
        )
    text += (
        f"\nblue_green:\n  auto_promote: {str(auto_promote).lower()}\n  scale_down_delay: {keep}\n"
    )
    path = tmp / f"bg-{auto_promote}-{keep}-{hpa}.yml"
    path.write_text(text)
    return path


@dataclass
class Cluster:
    """The engine (a sandbox and the CLI) plus readers of the app's objects."""

    engine: Engine

    def use(self, path: Path) -> None:
        self.engine.config = path

    def deploy(self, tag: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.engine.deploy(tag, *KEEP, *extra)

    def start(self, tag: str, *extra: str) -> subprocess.Popen[str]:
        return self.engine.start(
            "deploy", "--env", "staging", "--image", f"{IMAGE}:{tag}", *KEEP, *extra
        )

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.engine.run(*args, "--env", "staging")

    @property
    def client(self) -> Any:
        return self.engine.client

    def record(self) -> StateRecord:
        record = self.engine.record()
        assert record is not None
        return record

    def deployment(self, color: str) -> dict[str, Any] | None:
        name = "web-app" if color == "blue" else "web-app-green"
        return self.client.get_or_none(DEPLOYMENT.path(NS, name))  # type: ignore[no-any-return]

    def replicas(self, color: str) -> int:
        found = self.deployment(color)
        return int(found["spec"]["replicas"]) if found is not None else 0

    def image(self, color: str) -> str:
        found = self.deployment(color)
        assert found is not None
        return str(found["spec"]["template"]["spec"]["containers"][0]["image"])

    def pods(self, color: str | None = None) -> list[dict[str, Any]]:
        """The app's pods (of ``color``), terminating ones included."""
        query = [("labelSelector", f"{COLOR}={color}")] if color else None
        return list(self.client.get(POD.path(NS), query).get("items") or [])

    def ready_pods(self, color: str) -> set[str]:
        return {p["metadata"]["name"] for p in self.pods(color) if pod_ready(p)}

    def selector(self, service: str = "web-app") -> dict[str, str]:
        return dict(
            self.client.get(f"/api/v1/namespaces/{NS}/services/{service}")["spec"]["selector"]
        )

    def services(self) -> set[str]:
        items = self.client.get(f"/api/v1/namespaces/{NS}/services")["items"]
        return {s["metadata"]["name"] for s in items}

    def endpoints(self, service: str = "web-app") -> set[str]:
        return ready_endpoint_pods(self.client, NS, service)

    def serves(self, color: str, replicas: int = 2) -> None:
        """Bounded poll until the app's Service sends to exactly ``replicas`` ready pods of
        ``color`` (the EndpointSlices), and its selector says so."""
        wait_until(lambda: len(self.ready_pods(color)) == replicas)
        wait_until(lambda: self.endpoints() == self.ready_pods(color))
        assert self.selector()[COLOR] == color

    def settled(self, color: str) -> None:
        """The end of every rollout: ``color`` serves, the other colour is retired, and
        nothing else is left (no preview Service, no orphan)."""
        self.serves(color)
        self.retired("green" if color == "blue" else "blue")
        self.no_orphans()

    def retired(self, color: str) -> None:
        """``color`` is at zero replicas and has no pod left."""
        assert self.replicas(color) == 0
        assert self.pods(color) == []

    def no_orphans(self) -> None:
        """Only the app's Service and the two colours' Deployments; every pod, ReplicaSet and
        EndpointSlice belongs to one of them."""
        assert self.services() == {"web-app"}
        deployments = {d["metadata"]["uid"]: d for d in self._items("/apis/apps/v1", "deployments")}
        assert {d["metadata"]["name"] for d in deployments.values()} <= {"web-app", "web-app-green"}
        replicasets = {r["metadata"]["uid"]: r for r in self._items("/apis/apps/v1", "replicasets")}
        for rs in replicasets.values():
            assert _owner(rs) in deployments, f"orphan ReplicaSet {rs['metadata']['name']}"
        for pod in self.pods():
            assert _owner(pod) in replicasets, f"orphan pod {pod['metadata']['name']}"
        for piece in self._items("/apis/discovery.k8s.io/v1", "endpointslices"):
            service = piece["metadata"]["labels"]["kubernetes.io/service-name"]
            assert service == "web-app", f"EndpointSlice of Service {service} is left"

    def _items(self, group: str, plural: str) -> list[dict[str, Any]]:
        return list(self.client.get(f"{group}/namespaces/{NS}/{plural}").get("items") or [])

    def recorded(self) -> tuple[str, str | None]:
        """The record's phase and serving colour."""
        record = self.record()
        return record.phase, record.active_color

    def step(self) -> str:
        record = self.engine.record()
        return record.step if record is not None else ""


def outcome(outputs: dict[str, str]) -> tuple[str, str]:
    """The job outputs that say how it ended and which colour serves."""
    return outputs["phase"], outputs["active-color"]


def _owner(obj: dict[str, Any]) -> str | None:
    refs = [r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")]
    return str(refs[0]["uid"]) if refs else None


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str, dict[str, str]]:
    """Wait for a background run: exit code, stderr and job outputs."""
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err, read_outputs(proc.outputs)  # type: ignore[attr-defined]


@pytest.fixture
def make(engine_factory: Callable[..., Engine], tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    def build(pod_ready_delay: float = 0.05, **settings: Any) -> Cluster:
        engine = engine_factory(pod_ready_delay=pod_ready_delay)
        cluster = Cluster(engine)
        cluster.use(config(engine.tmp, **settings))
        return cluster

    yield build


@pytest.fixture
def bg(make: Callable[..., Cluster]) -> Cluster:
    return make()


def test_first_deploy_rolls_out_blue_and_the_service_selects_it(bg: Cluster) -> None:
    result = bg.deploy("1")
    assert result.returncode == 0, result.stderr
    assert "rolls deployment/web-app out directly as blue" in result.stderr
    assert outcome(result.outputs) == ("Succeeded", "blue") == bg.recorded()
    blue = bg.deployment("blue")
    assert blue is not None
    assert blue["metadata"]["labels"][COLOR] == "blue"
    assert blue["spec"]["template"]["metadata"]["labels"][COLOR] == "blue"
    bg.serves("blue")
    assert bg.deployment("green") is None
    bg.no_orphans()


def test_a_deploy_switches_to_green_keeps_blue_then_scales_it_down(bg: Cluster) -> None:
    assert bg.deploy("1").returncode == 0
    proc = bg.start("2", "--time-scale", "10")  # scale_down_delay 30s → 3s
    wait_until(lambda: bg.step().endswith(" watch"), timeout=30)
    # Switched: the app's Service sends to green alone, blue still runs at full size.
    bg.serves("green")
    assert bg.record().active_color == "green"
    assert bg.image("green") == f"{IMAGE}:2"
    assert len(bg.ready_pods("blue")) == 2 and bg.replicas("blue") == 2
    assert bg.image("blue") == f"{IMAGE}:1"
    assert "web-app-preview" not in bg.services()
    code, err, outputs = finish(proc)
    assert code == 0, err
    assert outcome(outputs) == ("Succeeded", "green")
    assert bg.record().previous_revision == f"{IMAGE}:1"
    bg.settled("green")
    status = bg.run("status")
    assert f"live image    {IMAGE}:2" in status.stdout  # green's, not the app-named Deployment's
    assert "healthy: 2/2 ready" in status.stdout
    # The next version goes to blue (the app-named Deployment), and green is retired.
    third = bg.deploy("3")
    assert third.returncode == 0, third.stderr
    assert (
        "deploy blue: deployment/web-app with registry.example.com/acme/web-app:3" in third.stderr
    )
    assert third.outputs["active-color"] == "blue"
    bg.settled("blue")
    assert bg.image("blue") == f"{IMAGE}:3"


def test_deploy_runs_the_plan_that_plan_prints_and_the_same_image_again_is_a_noop(
    bg: Cluster,
) -> None:
    assert bg.deploy("1").returncode == 0
    plan = bg.run("plan", "--image", f"{IMAGE}:2", *KEEP)
    assert plan.returncode == 0, plan.stderr
    deploy = bg.deploy("2")
    assert deploy.returncode == 0, deploy.stderr
    for line in plan.stdout.strip().splitlines():
        if line.strip().startswith("objects: "):
            continue  # plan's dry-run summary; deploy's apply step says what it did instead
        assert line.strip() in deploy.stderr
    green = bg.deployment("green")
    assert green is not None
    again = bg.deploy("2")
    assert again.returncode == 0, again.stderr
    assert "already deployed and Succeeded in staging (green serves it)" in again.stderr
    after = bg.deployment("green")
    assert after is not None
    assert after["metadata"]["resourceVersion"] == green["metadata"]["resourceVersion"]


def test_a_crashing_image_is_removed_before_the_switch_and_the_service_is_untouched(
    bg: Cluster,
) -> None:
    assert bg.deploy("1").returncode == 0
    service = bg.client.get(f"/api/v1/namespaces/{NS}/services/web-app")
    result = bg.deploy("crashloop")
    assert result.returncode == 1, result.stderr
    assert "CrashLoopBackOff" in result.stderr
    assert outcome(result.outputs) == ("RolledBack", "blue") == bg.recorded()
    after = bg.client.get(f"/api/v1/namespaces/{NS}/services/web-app")
    assert after["metadata"]["resourceVersion"] == service["metadata"]["resourceVersion"]
    bg.settled("blue")


def test_new_pods_failing_after_the_switch_send_traffic_back_to_blue(
    make: Callable[..., Cluster],
) -> None:
    # Pods take 1.5s to become ready: green's pods, killed after the switch, are replaced by
    # pods that are not ready for that long, which the keep-time watch sees.
    bg = make(pod_ready_delay=1.5)
    assert bg.deploy("1").returncode == 0
    proc = bg.start("2", "--time-scale", "3")  # scale_down_delay 30s → 10s
    wait_until(lambda: bg.step().endswith(" watch"), timeout=40)
    bg.serves("green")
    for pod in bg.pods("green"):
        bg.client.request("DELETE", POD.path(NS, pod["metadata"]["name"]))
    code, err, outputs = finish(proc)
    assert code == 1, err
    assert "deployment/web-app-green has 0 of 2 pods ready" in err
    assert outcome(outputs) == ("RolledBack", "blue")
    bg.settled("blue")
    assert bg.image("blue") == f"{IMAGE}:1"


def test_a_manual_gate_pauses_before_the_switch_and_promote_switches(
    make: Callable[..., Cluster],
) -> None:
    bg = make(auto_promote=False)
    assert bg.deploy("1").returncode == 0
    paused = bg.deploy("2")
    assert paused.returncode == 0, paused.stderr
    assert outcome(paused.outputs) == ("Paused", "blue")
    # Green runs at full size behind the preview Service; all traffic still goes to blue.
    wait_until(lambda: len(bg.ready_pods("green")) == 2)
    assert bg.selector("web-app-preview")[COLOR] == "green"
    wait_until(lambda: bg.endpoints("web-app-preview") == bg.ready_pods("green"))
    bg.serves("blue")
    promote = bg.run("promote")
    assert promote.returncode == 0, promote.stderr
    assert outcome(promote.outputs) == ("Succeeded", "green")
    bg.settled("green")


def test_abort_while_paused_restores_blue_and_leaves_nothing_behind(
    make: Callable[..., Cluster],
) -> None:
    bg = make(auto_promote=False)
    assert bg.deploy("1").returncode == 0
    assert bg.deploy("2").returncode == 0
    assert bg.record().phase == "Paused"
    abort = bg.run("abort")
    assert abort.returncode == 0, abort.stderr
    assert outcome(abort.outputs) == ("Aborted", "blue")
    bg.settled("blue")
    assert bg.image("blue") == f"{IMAGE}:1"
    again = bg.deploy("2", "--no-pause")  # an aborted version can be deployed again
    assert again.returncode == 0, again.stderr
    bg.serves("green")


def test_teardown_while_paused_deletes_both_colours_and_the_preview(
    make: Callable[..., Cluster],
) -> None:
    bg = make(auto_promote=False)
    assert bg.deploy("1").returncode == 0
    assert bg.deploy("2").returncode == 0
    assert bg.record().phase == "Paused"
    assert bg.services() == {"web-app", "web-app-preview"}
    done = bg.engine.run("teardown", "--env", "staging", "--confirm", "staging")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "torn down staging:" in done.stdout + done.stderr
    assert bg.deployment("blue") is None and bg.deployment("green") is None
    assert bg.services() == set()
    wait_until(lambda: bg.pods() == [] and bg._items("/apis/apps/v1", "replicasets") == [])
    assert bg.engine.record() is None


def test_a_new_image_while_paused_aborts_the_old_one_first(make: Callable[..., Cluster]) -> None:
    bg = make(auto_promote=False)
    assert bg.deploy("1").returncode == 0
    assert bg.deploy("2").returncode == 0
    newer = bg.deploy("3")
    assert newer.returncode == 0, newer.stderr
    assert "is still paused here: it is aborted first" in newer.stderr
    assert bg.record().phase == "Paused" and bg.record().revision == f"{IMAGE}:3"
    wait_until(lambda: len(bg.ready_pods("green")) == 2)
    images = {p["spec"]["containers"][0]["image"] for p in bg.pods("green")}
    assert images == {f"{IMAGE}:3"}
    wait_until(lambda: bg.endpoints("web-app-preview") == bg.ready_pods("green"))
    bg.serves("blue")
    assert bg.run("abort").returncode == 0
    bg.retired("green")
    bg.no_orphans()


def test_a_rolling_app_moves_to_blue_green_without_sending_traffic_to_green_early(
    bg: Cluster,
) -> None:
    rolled = bg.deploy("1", "--strategy", "rolling")
    assert rolled.returncode == 0, rolled.stderr
    assert COLOR not in bg.selector()
    proc = bg.start("2", "--time-scale", "10")
    wait_until(lambda: bg.deployment("green") is not None, timeout=30)
    # Green exists: the Service was narrowed to blue before it started.
    assert bg.selector()[COLOR] == "blue"
    blue = bg.deployment("blue")
    assert blue is not None and blue["spec"]["template"]["metadata"]["labels"][COLOR] == "blue"
    code, err, _ = finish(proc)
    assert code == 0, err
    bg.settled("green")


def budget(min_available: int) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "web-app", "namespace": NS},
        "spec": {
            "minAvailable": min_available,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "web-app"}},
        },
    }


def test_blue_is_scaled_down_only_once_the_disruption_budget_allows_it(bg: Cluster) -> None:
    assert bg.deploy("1").returncode == 0
    pdbs = f"/apis/policy/v1/namespaces/{NS}/poddisruptionbudgets"
    bg.client.request("POST", pdbs, body=budget(3))  # more than green's 2 pods can give
    proc = bg.start("2", "--timeout", "60s")
    wait_until(lambda: bg.step().endswith(" scale"), timeout=30)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:  # held: blue keeps its pods while the budget says no
        assert bg.replicas("blue") == 2 and len(bg.ready_pods("blue")) == 2
        assert proc.poll() is None
        time.sleep(0.1)
    bg.client.request(
        "PATCH",
        f"{pdbs}/web-app",
        body={"spec": {"minAvailable": 2}},
        content_type="application/merge-patch+json",
    )
    code, err, _ = finish(proc)
    assert code == 0, err
    bg.serves("green")
    bg.retired("blue")


def test_a_disruption_budget_that_never_allows_it_fails_and_switches_back(bg: Cluster) -> None:
    assert bg.deploy("1").returncode == 0
    bg.client.request(
        "POST", f"/apis/policy/v1/namespaces/{NS}/poddisruptionbudgets", body=budget(3)
    )
    result = bg.deploy("2", "--timeout", "3s")
    assert result.returncode == 1, result.stderr
    assert "blue was not scaled down" in result.stderr
    assert (
        "PodDisruptionBudget web-app (minAvailable: 3) needs 3 healthy pods; 2 would be left"
        in (result.stderr)
    )
    assert outcome(result.outputs) == ("RolledBack", "blue")
    bg.serves("blue")
    bg.retired("green")


def test_rollback_brings_the_previous_colour_up_and_switches_back_to_it(bg: Cluster) -> None:
    assert bg.deploy("1").returncode == 0
    assert bg.deploy("2").returncode == 0
    bg.retired("blue")
    plan = bg.run("plan", "--rollback")
    assert plan.returncode == 0, plan.stderr
    assert "route Service web-app to the blue pods" in plan.stdout
    result = bg.run("rollback")
    assert result.returncode == 0, result.stderr
    assert outcome(result.outputs) == ("RolledBack", "blue")
    bg.settled("blue")
    assert bg.image("blue") == f"{IMAGE}:1"
    again = bg.run("rollback")
    assert again.returncode == 0 and "already rolled back" in again.stderr
    assert bg.run("rollback", "--to-revision", "1").returncode == 2
    newer = bg.deploy("3")  # the next deploy goes to the colour that does not serve
    assert newer.returncode == 0, newer.stderr
    bg.serves("green")
    assert bg.image("green") == f"{IMAGE}:3"


def test_the_autoscaler_follows_the_serving_colour(make: Callable[..., Cluster]) -> None:
    bg = make(hpa=True)
    hpa = f"/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers/web-app"
    assert bg.deploy("1").returncode == 0
    assert bg.client.get(hpa)["spec"]["scaleTargetRef"]["name"] == "web-app"
    result = bg.deploy("2")
    assert result.returncode == 0, result.stderr
    assert bg.client.get(hpa)["spec"]["scaleTargetRef"]["name"] == "web-app-green"
    bg.settled("green")  # the autoscaler does not bring blue back


# A pre-switch smoke check as a user would write one with kubectl: the preview Service must
# select the new colour; the result the test wants is read from a file beside it.
SMOKE_SCRIPT = """\
import pathlib, subprocess, sys
selector = subprocess.run(
    ["kubectl", "get", "service", "web-app-preview", "-n", "web-app-staging",
     "-o", "jsonpath={.spec.selector.ci-deploy\\\\.dev/color}"],
    capture_output=True, text=True, check=True,
).stdout
print(f"preview selects colour {selector}")
sys.exit(int(pathlib.Path("smoke-exit").read_text()))
"""


def with_smoke(path: Path) -> Path:
    text = path.read_text().replace(
        "analysis:\n",
        "analysis:\n  smoke:\n    - name: preview\n"
        "      command: {run: python3 smoke.py, timeout: 30s}\n",
        1,
    )
    out = path.with_name("bg-smoke.yml")
    out.write_text(text)
    (path.parent / "smoke.py").write_text(SMOKE_SCRIPT)
    return out


def test_a_failing_smoke_check_through_the_preview_stops_the_switch(bg: Cluster) -> None:
    bg.use(with_smoke(bg.engine.config))
    tmp = bg.engine.config.parent
    (tmp / "smoke-exit").write_text("0")
    assert bg.deploy("1").returncode == 0  # the first release: no preview, no smoke check
    service = bg.client.get(f"/api/v1/namespaces/{NS}/services/web-app")
    (tmp / "smoke-exit").write_text("1")
    failed = bg.deploy("2")
    assert failed.returncode == 1, failed.stderr
    assert "✗ command preview: fail" in failed.stderr
    assert "preview selects colour green" in failed.stderr  # it ran against the new colour
    assert outcome(failed.outputs) == ("RolledBack", "blue") == bg.recorded()
    after = bg.client.get(f"/api/v1/namespaces/{NS}/services/web-app")
    assert after["metadata"]["resourceVersion"] == service["metadata"]["resourceVersion"]
    bg.settled("blue")
    (tmp / "smoke-exit").write_text("0")
    passed = bg.deploy("3")
    assert passed.returncode == 0, passed.stderr
    assert "✓ command preview: pass" in passed.stderr
    assert outcome(passed.outputs) == ("Succeeded", "green")


def test_an_abort_killed_mid_run_is_taken_up_at_the_rollouts_step(
    make: Callable[..., Cluster],
) -> None:
    import signal

    bg = make(keep="10m")  # time-scaled: 20 s with blue kept at full size after the switch
    assert bg.deploy("1").returncode == 0
    deploy = bg.start("2", "--lock-ttl", "2s")
    try:
        wait_until(lambda: bg.step().endswith(" watch"), timeout=40)
        deploy.send_signal(signal.SIGKILL)  # killed after the switch: green serves
        deploy.wait(timeout=10)
    finally:
        if deploy.poll() is None:
            deploy.kill()
    rollout_step = bg.step()
    bg.serves("green")
    # the abort hangs at its switch back (20 s on every request to the app's Service) and is
    # killed there too
    bg.engine.sb.faults.set(latency=20.0, path_contains="/services/web-app")
    abort = bg.engine.start(
        "abort", "--env", "staging", "--lock-ttl", "2s", "--lock-timeout", "30s"
    )
    try:
        try:
            wait_until(lambda: bg.step().startswith("abort ") and "route" in bg.step(), timeout=40)
        except AssertionError:
            abort.kill()
            raise AssertionError(bg.step() + abort.communicate()[1][-3000:]) from None
        abort.send_signal(signal.SIGKILL)
        abort.wait(timeout=10)
    finally:
        if abort.poll() is None:
            abort.kill()
        bg.engine.sb.faults.reset()
    killed = bg.record()
    assert killed.phase == "Progressing"
    assert killed.step.startswith("abort 4/") and killed.step.endswith(" route"), killed.step
    assert killed.plan is not None and killed.plan["abortedAt"] == rollout_step
    status = bg.run("status")
    assert f"an abort is in flight (or was interrupted at step {killed.step})" in status.stdout
    # the abort run again reads the rollout's step (after the switch), not the abort's 4: it
    # switches back to blue before green is scaled down — never green scaled down while the
    # Service still selects it
    again = bg.run("abort", "--lock-timeout", "30s")
    assert again.returncode == 0, again.stderr
    assert outcome(again.outputs) == ("Aborted", "blue")
    bg.settled("blue")
    assert bg.image("blue") == f"{IMAGE}:1"


def test_a_deploy_killed_while_it_aborts_the_rollout_in_flight_is_finished_by_the_next(
    make: Callable[..., Cluster],
) -> None:
    import signal

    bg = make(auto_promote=False)
    assert bg.deploy("1").returncode == 0
    assert bg.deploy("2").returncode == 0
    paused = bg.record()
    assert paused.phase == "Paused"
    # 3 arrives: 2 is aborted first; that abort hangs at removing the preview Service (20 s on
    # every request to it) and the deploy is killed there
    bg.engine.sb.faults.set(latency=20.0, path_contains="/services/web-app-preview")
    deploy = bg.start("3", "--lock-ttl", "2s")
    try:
        wait_until(lambda: bg.step().startswith("abort ") and "remove-preview" in bg.step(), 40)
        deploy.send_signal(signal.SIGKILL)
        deploy.wait(timeout=10)
    finally:
        if deploy.poll() is None:
            deploy.kill()
        bg.engine.sb.faults.reset()
    killed = bg.record()
    # the record is the aborted rollout's, at its own step: what a killed `abort` leaves
    assert (killed.revision, killed.phase) == (f"{IMAGE}:2", "Progressing")
    assert killed.plan is not None and killed.plan["abortedAt"] == paused.step
    again = bg.deploy("3", "--no-pause", "--lock-timeout", "30s")
    assert again.returncode == 0, again.stderr
    assert f"being aborted here (that abort stopped at step {killed.step})" in again.stderr
    assert outcome(again.outputs) == ("Succeeded", "green")
    bg.settled("green")
    assert bg.image("green") == f"{IMAGE}:3"
