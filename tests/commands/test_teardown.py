"""``ci-deploy teardown``: deletes what ci-deploy applied for the app in an environment (its
ApplySet, with the record on the Deployment), only after ``--confirm ENV``, never an object it
did not apply; an interrupted teardown says so (exit 3) and a second run finishes it. The
cluster is read back after each run."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.commands.files_app import NAMESPACE, WEB, App, app_on_sandbox

from ci_deploy.kube.client import MERGE_PATCH as MERGE

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{a: b}}\n"
SERVICE = "apiVersion: v1\nkind: Service\nmetadata: {name: web-app}\n"
SERVICE += "spec: {selector: {app: web-app}, ports: [{port: 80}]}\n"
PARENT = f"/api/v1/namespaces/{NAMESPACE}/secrets/applyset-web-app"


class TeardownApp(App):
    def names(self, resource: str) -> set[str]:
        """Names of the objects of ``resource`` (``configmaps``, ``apps/deployments``)."""
        group, _, plural = resource.rpartition("/")
        base = f"/apis/{group}/v1" if group else "/api/v1"
        items = self.client.get(f"{base}/namespaces/{NAMESPACE}/{plural}")["items"]
        return {i["metadata"]["name"] for i in items}

    def applied(self) -> dict[str, set[str]]:
        return {
            "deployments": self.names("apps/deployments"),
            "services": self.names("services"),
            "configmaps": self.names("configmaps") - {"kube-root-ca.crt"},
        }

    def part_of_id(self) -> str:
        return str(self.client.get(PARENT)["metadata"]["labels"]["applyset.kubernetes.io/id"])


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TeardownApp]:
    with app_on_sandbox(tmp_path, monkeypatch, app=TeardownApp) as made:
        assert isinstance(made, TeardownApp)
        made.files(web=WEB, svc=SERVICE, settings=CONFIGMAP.format(name="settings"))
        done = made.deploy("1")
        assert done.returncode == 0, done.stderr
        yield made


def test_without_the_confirmation_nothing_is_deleted_and_the_list_is_shown(
    app: TeardownApp,
) -> None:
    before = app.applied()
    assert before == {
        "deployments": {"web-app"},
        "services": {"web-app"},
        "configmaps": {"settings"},
    }
    lease = f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases/ci-deploy-web-app"
    lease_version = app.client.get(lease)["metadata"]["resourceVersion"]
    refused = app.run("teardown", "--env", "staging")
    assert refused.returncode == 2, refused.stderr
    assert (
        "error: teardown of staging deletes 3 objects (ConfigMap web-staging/settings, "
        "Service web-staging/web-app, Deployment web-staging/web-app) and the rollout record; "
        "nothing was deleted" in refused.stderr
    )
    assert "hint: repeat the environment's name to go on: --confirm staging" in refused.stderr
    wrong = app.run("teardown", "--env", "staging", "--confirm", "production")
    assert wrong.returncode == 2
    assert "(--confirm 'production' is not 'staging')" in wrong.stderr
    assert app.applied() == before
    assert app.client.get_or_none(PARENT) is not None
    assert app.client.get(lease)["metadata"]["resourceVersion"] == lease_version  # not locked


def test_the_confirmed_teardown_deletes_what_ci_deploy_applied_and_nothing_else(
    app: TeardownApp,
) -> None:
    app.make_by_hand(app.part_of_id())
    done = app.run("teardown", "--env", "staging", "--confirm", "staging")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "deleted Deployment web-staging/web-app" in out
    assert "torn down staging: 3 objects deleted" in out
    assert app.applied() == {"deployments": set(), "services": set(), "configmaps": {"by-hand"}}
    assert app.client.get_or_none(PARENT) is None
    assert app.client.get_or_none(f"/api/v1/namespaces/{NAMESPACE}") is not None
    # the Deployment's ReplicaSets and pods go with it (the garbage collector)
    deadline = time.monotonic() + 20
    while app.names("apps/replicasets") or app.names("pods"):
        assert time.monotonic() < deadline, "the ReplicaSets and pods outlived their Deployment"
        time.sleep(0.1)
    status = app.run("status", "--env", "staging")
    assert "live image    none: no Deployment web-app in namespace web-staging" in status.stdout
    assert "last attempt  none recorded" in status.stdout
    again = app.run("teardown", "--env", "staging", "--confirm", "staging")
    assert again.returncode == 0
    assert "nothing to tear down: ci-deploy has applied nothing for web-app" in (
        again.stdout + again.stderr
    )
    # the environment can be deployed again, from a fresh history
    redeploy = app.deploy("2")
    assert redeploy.returncode == 0, redeploy.stderr
    assert app.applied()["deployments"] == {"web-app"}


def test_an_interrupted_teardown_says_so_and_a_second_run_finishes_it(app: TeardownApp) -> None:
    # RBAC (or a webhook) refuses deleting the Service: exit 3, the rest is still listed.
    app.sb.faults.set(refuse_path=f"/namespaces/{NAMESPACE}/services/web-app", refuse_status=403)
    stopped = app.run("teardown", "--env", "staging", "--confirm", "staging")
    assert stopped.returncode == 3, stopped.stdout + stopped.stderr
    assert "error: teardown stopped after deleting 1 object: " in stopped.stderr
    assert "hint: run the teardown again" in stopped.stderr
    assert "torn down" not in stopped.stdout + stopped.stderr
    assert app.applied() == {
        "deployments": {"web-app"},
        "services": {"web-app"},
        "configmaps": set(),
    }
    assert app.client.get_or_none(PARENT) is not None
    app.sb.faults.reset()
    finished = app.run("teardown", "--env", "staging", "--confirm", "staging")
    assert finished.returncode == 0, finished.stderr
    assert "torn down staging: 2 objects deleted" in finished.stdout + finished.stderr
    assert app.applied() == {"deployments": set(), "services": set(), "configmaps": set()}


def test_an_object_held_by_a_finalizer_past_the_timeout_is_reported_left(
    app: TeardownApp,
) -> None:
    settings = f"/api/v1/namespaces/{NAMESPACE}/configmaps/settings"
    hold = {"metadata": {"finalizers": ["example.com/hold"]}}
    app.client.request("PATCH", settings, body=hold, content_type=MERGE)
    stopped = app.run("teardown", "--env", "staging", "--confirm", "staging", "--timeout", "1s")
    said = stopped.stdout + stopped.stderr
    assert stopped.returncode == 3, said
    assert (
        "error: teardown stopped with 1 object left (ConfigMap web-staging/settings) "
        "after deleting 3" in said
    )
    assert "torn down" not in said
    # the ConfigMap is still there (being deleted), and so is the set's parent
    assert app.client.get(settings)["metadata"].get("deletionTimestamp")
    assert app.client.get_or_none(PARENT) is not None
    app.client.request(
        "PATCH", settings, body={"metadata": {"finalizers": None}}, content_type=MERGE
    )
    finished = app.run("teardown", "--env", "staging", "--confirm", "staging")
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert app.client.get_or_none(PARENT) is None
    assert app.applied() == {"deployments": set(), "services": set(), "configmaps": set()}


def test_a_namespace_that_is_not_there_has_nothing_to_tear_down(app: TeardownApp) -> None:
    done = app.run("teardown", "--env", "staging", "--namespace", "nowhere")
    assert done.returncode == 0, done.stderr
    assert "nothing to tear down: namespace nowhere is absent" in done.stdout + done.stderr
    assert app.client.get_or_none("/api/v1/namespaces/nowhere") is None
    assert app.applied()["deployments"] == {"web-app"}  # the real one is untouched
