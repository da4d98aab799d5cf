"""Several workloads per app: a web Deployment (the primary), a worker Deployment and a
StatefulSet are applied, watched and — when one of them fails — rolled back together; a
StatefulSet stuck on a broken revision is forced back (its stuck pods deleted)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.commands.files_app import NAMESPACE, REPOSITORY, WEB, App, app_on_sandbox

WORKER = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: worker}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: worker}}}}
  template:
    metadata: {{labels: {{app: worker}}}}
    spec:
      containers: [{{name: worker, image: "registry.example.com/acme/worker:{tag}"}}]
"""
DB = """\
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: db}}
spec:
  replicas: 3
  serviceName: db
  selector: {{matchLabels: {{app: db}}}}
  template:
    metadata: {{labels: {{app: db}}}}
    spec:
      containers: [{{name: db, image: "registry.example.com/acme/db:{tag}"}}]
"""


def files(app: App, worker: str, db: str) -> None:
    app.files(web=WEB, worker=WORKER.format(tag=worker), db=DB.format(tag=db))


def image(workload: dict[str, Any]) -> str:
    return str(workload["spec"]["template"]["spec"]["containers"][0]["image"])


def pod_images(app: App, selector: str) -> list[tuple[str, bool]]:
    """(image, ready) of every pod the selector matches."""
    pods = app.client.get(f"/api/v1/namespaces/{NAMESPACE}/pods", [("labelSelector", selector)])[
        "items"
    ]
    return sorted(
        (
            p["spec"]["containers"][0]["image"],
            any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in p.get("status", {}).get("conditions") or []
            ),
        )
        for p in pods
    )


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    with app_on_sandbox(tmp_path, monkeypatch) as made:
        yield made


def test_every_workload_is_watched_and_a_broken_worker_rolls_all_three_back(app: App) -> None:
    files(app, worker="1", db="1")
    plan = app.run("plan", "--env", "staging", "--image", ":1")
    assert plan.returncode == 0, plan.stderr
    assert "wait for the other workloads to roll out" in plan.stdout
    assert "deployment/worker, statefulset/db" in plan.stdout
    first = app.deploy("1")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "rolled out: deployment/worker, statefulset/db" in first.stdout + first.stderr

    files(app, worker="2-crashloop", db="2")  # the new worker cannot start; the db can
    failed = app.deploy("2")
    out = failed.stdout + failed.stderr
    assert failed.returncode == 1, out
    assert "deployment/worker: pod worker-" in out and "CrashLoopBackOff" in out
    # All three are back on their previous templates, and what runs is that.
    assert image(app.get("deployments/web-app")) == f"{REPOSITORY}:1"
    assert image(app.get("deployments/worker")) == "registry.example.com/acme/worker:1"
    assert image(app.get("statefulsets/db")) == "registry.example.com/acme/db:1"
    assert pod_images(app, "app=worker") == [("registry.example.com/acme/worker:1", True)] * 2
    assert pod_images(app, "app=db") == [("registry.example.com/acme/db:1", True)] * 3
    assert pod_images(app, "app=web-app") == [(f"{REPOSITORY}:1", True)] * 2
    assert "rolled out: deployment/worker, statefulset/db" in out  # watched on the way back
    status = app.run("status", "--env", "staging", "--json")
    assert '"phase": "RolledBack"' in status.stdout, status.stdout + status.stderr


def test_a_statefulset_stuck_on_a_broken_revision_is_forced_back(app: App) -> None:
    files(app, worker="1", db="1")
    assert app.deploy("1").returncode == 0
    files(app, worker="1", db="2-crashloop")
    failed = app.deploy("2")
    out = failed.stdout + failed.stderr
    assert failed.returncode == 1, out
    assert "statefulset/db: pod db-2" in out  # the highest ordinal is replaced first
    # OrderedReady never replaces a pod that is not Ready: ci-deploy deletes it.
    assert "statefulset/db: deleted pod db-2 stuck on the new revision" in out
    assert pod_images(app, "app=db") == [("registry.example.com/acme/db:1", True)] * 3
    sts = app.get("statefulsets/db")
    assert sts["status"]["currentRevision"] == sts["status"]["updateRevision"]


AGENT = """\
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: agent}}
spec:
  selector: {{matchLabels: {{app: agent}}}}
  template:
    metadata: {{labels: {{app: agent}}}}
    spec:
      containers: [{{name: agent, image: "registry.example.com/acme/agent:{tag}"}}]
"""


def test_a_good_release_of_all_four_succeeds_and_is_a_no_op_when_repeated(app: App) -> None:
    files(app, worker="1", db="1")
    (app.root / "deploy" / "agent.yaml").write_text(AGENT.format(tag="1"))
    assert app.deploy("1").returncode == 0
    files(app, worker="2", db="2")
    (app.root / "deploy" / "agent.yaml").write_text(AGENT.format(tag="2"))
    second = app.deploy("2")
    out = second.stdout + second.stderr
    assert second.returncode == 0, out
    assert "rolled out: deployment/worker, statefulset/db, daemonset/agent" in out
    assert pod_images(app, "app=db") == [("registry.example.com/acme/db:2", True)] * 3
    assert pod_images(app, "app=worker") == [("registry.example.com/acme/worker:2", True)] * 2
    agents = pod_images(app, "app=agent")
    assert agents and set(agents) == {("registry.example.com/acme/agent:2", True)}
    again = app.deploy("2")
    assert again.returncode == 0 and "nothing to do" in again.stdout + again.stderr


CANARY = f"""\
app: web-app
image: {{repository: {REPOSITORY}}}
manifests:
  files: ["deploy/*.yaml"]
environments:
  staging: {{namespace: {NAMESPACE}, create_namespace: true, strategy: canary, replicas: 2}}
canary:
  traffic_router: replicas
  stages:
    - {{name: first, traffic_percentage: 50, pause: true}}
    - {{name: all, traffic_percentage: 100}}
"""
SERVICE = """\
apiVersion: v1
kind: Service
metadata: {name: web-app}
spec: {selector: {app: web-app}, ports: [{port: 80}]}
"""
SMOKE = """\
apiVersion: batch/v1
kind: Job
metadata: {{name: smoke, annotations: {{ci-deploy.dev/hook: post-deploy}}}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{{name: smoke, image: "registry.example.com/acme/tools:{tag}"}}]
"""


@pytest.fixture
def canary_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    with app_on_sandbox(tmp_path, monkeypatch, CANARY) as made:
        yield made


def test_during_a_canary_the_other_workloads_roll_with_its_first_step_and_promote_ends_it(
    canary_app: App,
) -> None:
    app = canary_app
    app.files(web=WEB, svc=SERVICE, worker=WORKER.format(tag="1"), smoke=SMOKE.format(tag="1"))
    first = app.deploy("1")  # a first deploy rolls out directly
    assert first.returncode == 0, first.stdout + first.stderr
    app.files(web=WEB, svc=SERVICE, worker=WORKER.format(tag="2"), smoke=SMOKE.format(tag="2"))
    paused = app.deploy("2")
    out = paused.stdout + paused.stderr
    assert paused.returncode == 0 and "paused after stage first" in out, out
    # The worker is not split: it rolled to its new template with the canary's first step.
    assert "rolled out: deployment/worker" in out
    assert pod_images(app, "app=worker") == [("registry.example.com/acme/worker:2", True)] * 2
    smoke = app.client.get(f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/smoke")
    assert "tools:1" in str(smoke["spec"]["template"])  # the hook waits for the promotion
    promoted = app.run("promote", "--env", "staging")
    out = promoted.stdout + promoted.stderr
    assert promoted.returncode == 0, out
    assert "post-deploy hook job/smoke completed" in out
    smoke = app.client.get(f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/smoke")
    assert "tools:2" in str(smoke["spec"]["template"])
    assert image(app.get("deployments/web-app")) == f"{REPOSITORY}:2"


def test_a_canary_whose_worker_breaks_is_rolled_back_with_the_worker(canary_app: App) -> None:
    app = canary_app
    app.files(web=WEB, svc=SERVICE, worker=WORKER.format(tag="1"))
    assert app.deploy("1").returncode == 0
    app.files(web=WEB, svc=SERVICE, worker=WORKER.format(tag="2-crashloop"))
    failed = app.deploy("2")
    out = failed.stdout + failed.stderr
    assert failed.returncode == 1, out
    assert "deployment/worker: pod worker-" in out
    assert pod_images(app, "app=worker") == [("registry.example.com/acme/worker:1", True)] * 2
    assert (
        app.client.get_or_none(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/web-app-canary")
        is None
    )


BLUE_GREEN = f"""\
app: web-app
image: {{repository: {REPOSITORY}}}
manifests:
  files: ["deploy/*.yaml"]
environments:
  staging: {{namespace: {NAMESPACE}, create_namespace: true, strategy: blue_green, replicas: 2}}
blue_green: {{auto_promote: true, scale_down_delay: 0s}}
"""


def test_a_blue_green_release_whose_worker_breaks_keeps_serving_blue_and_restores_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with app_on_sandbox(tmp_path, monkeypatch, BLUE_GREEN) as app:
        app.files(web=WEB, svc=SERVICE, worker=WORKER.format(tag="1"))
        assert app.deploy("1").returncode == 0
        assert app.deploy("2").returncode == 0  # now colours: the release serves from one
        service = app.get(f"/api/v1/namespaces/{NAMESPACE}/services/web-app")
        serving = service["spec"]["selector"]["ci-deploy.dev/color"]
        app.files(web=WEB, svc=SERVICE, worker=WORKER.format(tag="3-crashloop"))
        failed = app.deploy("3")
        out = failed.stdout + failed.stderr
        assert failed.returncode == 1, out
        assert "deployment/worker: pod worker-" in out
        service = app.get(f"/api/v1/namespaces/{NAMESPACE}/services/web-app")
        assert service["spec"]["selector"]["ci-deploy.dev/color"] == serving
        assert pod_images(app, "app=worker") == [("registry.example.com/acme/worker:1", True)] * 2


PRIMARY = f"""\
app: web-app
image: {{repository: {REPOSITORY}}}
manifests:
  files: ["deploy/*.yaml"]
  primary: frontend
environments:
  staging: {{namespace: {NAMESPACE}, create_namespace: true, replicas: 2}}
  production:
    namespace: {NAMESPACE}-prod
    create_namespace: true
    replicas: 2
    strategy: canary
canary:
  traffic_router: replicas
  stages:
    - {{name: first, traffic_percentage: 50, pause: true}}
    - {{name: all, traffic_percentage: 100}}
"""
FRONTEND = WEB.replace("name: web-app}", "name: frontend}").replace("app: web-app", "app: front")
FRONT_SERVICE = SERVICE.replace("app: web-app", "app: front")


def test_the_primary_can_be_another_deployment_than_the_app_named_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with app_on_sandbox(tmp_path, monkeypatch, PRIMARY) as app:
        app.files(web=FRONTEND, svc=FRONT_SERVICE, worker=WORKER.format(tag="1"))
        first = app.deploy("1")
        assert first.returncode == 0, first.stdout + first.stderr
        assert "wait for deployment/frontend to roll out" in first.stderr
        assert "rolled out: deployment/worker" in first.stderr
        live = app.get("deployments/frontend")
        assert "ci-deploy.dev/state" in live["metadata"]["annotations"]  # the record is on it
        assert app.deploy("2").returncode == 0
        status = app.run("status", "--env", "staging", "--json")
        assert status.returncode == 0, status.stderr
        assert f'"image": "{REPOSITORY}:2"' in status.stdout
        back = app.run("rollback", "--env", "staging")
        assert back.returncode == 0, back.stdout + back.stderr
        assert image(app.get("deployments/frontend")) == f"{REPOSITORY}:1"
        # A canary of it: frontend-canary beside frontend, promoted from a separate process.
        prod = f"/apis/apps/v1/namespaces/{NAMESPACE}-prod/deployments"
        assert app.run("deploy", "--env", "production", "--image", ":1").returncode == 0
        paused = app.run("deploy", "--env", "production", "--image", ":2")
        assert paused.returncode == 0 and "paused after stage first" in paused.stderr
        assert app.client.get_or_none(f"{prod}/frontend-canary") is not None
        promoted = app.run("promote", "--env", "production")
        assert promoted.returncode == 0, promoted.stdout + promoted.stderr
        assert image(app.get(f"{prod}/frontend")) == f"{REPOSITORY}:2"
        assert app.client.get_or_none(f"{prod}/frontend-canary") is None


def test_a_primary_that_is_not_rendered_is_named_with_what_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with app_on_sandbox(
        tmp_path, monkeypatch, PRIMARY.replace("primary: frontend", "primary: front")
    ) as app:
        app.files(web=FRONTEND, worker=WORKER.format(tag="1"))
        refused = app.deploy("1")
        assert refused.returncode == 2, refused.stderr
        assert "no Deployment named 'front' in what manifests.files gives" in refused.stderr
        assert "(it gives: frontend, worker; set manifests.primary to one)" in refused.stderr
