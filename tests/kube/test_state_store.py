"""The state record and server-side apply on the sandbox: field managers, concurrency, errors."""

from __future__ import annotations

import pytest

from ci_deploy.kube.apply import ApplyError, apply_objects
from ci_deploy.kube.client import KubeClient
from ci_deploy.kube.state import STATE_ANNOTATION, StateError, StateRecord, StateStore


def deployment(image: str) -> dict[str, object]:
    labels = {"app": "web"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def record(phase: str = "Progressing") -> StateRecord:
    return StateRecord("web", "staging", "rolling", phase, "web:2")  # type: ignore[arg-type]


def test_record_round_trips_and_survives_a_later_apply(client: KubeClient) -> None:
    apply_objects(client, [deployment("web:1")])
    store = StateStore(client, "default", "web")
    store.write(record())
    apply_objects(client, [deployment("web:2")])  # SSA by ci-deploy, without the annotation
    found, live = StateStore(client, "default", "web").read()
    assert found is not None
    assert (found.phase, found.revision, found.app) == ("Progressing", "web:2", "web")
    assert live is not None
    assert STATE_ANNOTATION not in (live["spec"]["template"]["metadata"].get("annotations") or {})
    managers = {m["manager"] for m in live["metadata"]["managedFields"]}
    assert {"ci-deploy", "ci-deploy-state"} <= managers


def test_a_record_changed_by_another_writer_is_not_overwritten(client: KubeClient) -> None:
    apply_objects(client, [deployment("web:1")])
    ours = StateStore(client, "default", "web")
    ours.read()
    theirs = StateStore(client, "default", "web")
    theirs.read()
    theirs.write(record("Paused"))
    with pytest.raises(StateError, match="changed by another process"):
        ours.write(record("Succeeded"))
    found, _ = ours.read()
    assert found is not None and found.phase == "Paused"


def test_other_changes_to_the_deployment_do_not_block_the_write(client: KubeClient) -> None:
    apply_objects(client, [deployment("web:1")])
    store = StateStore(client, "default", "web")
    store.read()
    apply_objects(client, [deployment("web:3")])  # bumps resourceVersion, record untouched
    store.write(record("Succeeded"))
    found, _ = store.read()
    assert found is not None and found.phase == "Succeeded"


def test_refused_objects_carry_the_api_message(client: KubeClient) -> None:
    bad = deployment("web:1")
    bad["metadata"]["name"] = "Web_App"  # type: ignore[index]
    with pytest.raises(ApplyError) as caught:
        apply_objects(client, [bad])
    assert caught.value.error.status == 422
    assert "Deployment default/Web_App" in str(caught.value)
    assert "RFC 1123" in caught.value.error.message


def test_apply_returns_objects_in_input_order_with_our_field_manager(client: KubeClient) -> None:
    objs = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"c{i}", "namespace": "default"},
            "data": {"i": str(i)},
        }
        for i in range(20)
    ]
    result = apply_objects(client, objs)
    assert [o["metadata"]["name"] for o in result] == [f"c{i}" for i in range(20)]
    stored = client.get("/api/v1/namespaces/default/configmaps/c7")
    assert stored["data"] == {"i": "7"}
    assert [m["manager"] for m in stored["metadata"]["managedFields"]] == ["ci-deploy"]
    assert stored["metadata"]["managedFields"][0]["operation"] == "Apply"
