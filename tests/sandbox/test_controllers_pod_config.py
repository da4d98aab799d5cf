"""The simulated kubelet starts no container whose Secret or ConfigMap is missing (as upstream).

Env (``valueFrom``, ``envFrom``): Waiting ``CreateContainerConfigError``, message
``secret "x" not found``, event ``Failed`` ``Error: secret "x" not found``. Volumes: the pod
stays ``ContainerCreating`` with a ``FailedMount`` event. ``optional: true`` starts anyway.
The pod starts once the object is created.
"""

from __future__ import annotations

import time
from typing import Any

from tests.sandbox.test_controllers_pods import NS, container, ready

from kube_sandbox.storage.store import Store
from kube_sandbox.testing import POD_READY_DELAY, wait_until

Obj = dict[str, Any]


def _pod(name: str, **extra: Any) -> Obj:
    app: Obj = {"name": "app", "image": "app:1"}
    volumes = extra.pop("volumes", None)
    app.update(extra)
    spec: Obj = {"containers": [app]}
    if volumes:
        spec["volumes"] = volumes
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def _waiting(store: Store, name: str) -> Obj:
    state = container(store, name).get("state") or {}
    waiting: Obj = state.get("waiting") or {}
    return waiting


def _events(store: Store, name: str) -> list[tuple[str, str, str]]:
    items, _ = store.list("/events", NS)
    return [
        (e["type"], e["reason"], e["message"]) for e in items if e["involvedObject"]["name"] == name
    ]


def _secret(name: str, **data: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NS},
        "data": data,
    }


def test_a_missing_secret_in_env_is_create_container_config_error_until_it_exists(
    store: Store,
) -> None:
    env = [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]
    store.create("/pods", _pod("web", env=env))

    wait_until(lambda: _waiting(store, "web").get("reason") == "CreateContainerConfigError")
    assert _waiting(store, "web")["message"] == 'secret "db" not found'
    pod = store.get("/pods", NS, "web")
    assert pod["status"]["phase"] == "Pending" and not ready(pod)
    wait_until(
        lambda: ("Warning", "Failed", 'Error: secret "db" not found') in _events(store, "web")
    )
    time.sleep(5 * POD_READY_DELAY)
    assert not ready(store.get("/pods", NS, "web"))  # it does not start by itself

    store.create("/secrets", _secret("db", password="cHc="))

    wait_until(lambda: ready(store.get("/pods", NS, "web")))
    assert container(store, "web")["state"].get("running")


def test_a_missing_key_names_the_key_and_the_object(store: Store) -> None:
    store.create("/secrets", _secret("db", user="dQ=="))
    env = [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]
    store.create("/pods", _pod("web", env=env))

    wait_until(lambda: _waiting(store, "web").get("reason") == "CreateContainerConfigError")

    assert _waiting(store, "web")["message"] == "couldn't find key password in Secret default/db"


def test_a_missing_configmap_in_env_from_is_create_container_config_error(
    store: Store,
) -> None:
    store.create("/pods", _pod("web", envFrom=[{"configMapRef": {"name": "settings"}}]))

    wait_until(lambda: _waiting(store, "web").get("reason") == "CreateContainerConfigError")

    assert _waiting(store, "web")["message"] == 'configmap "settings" not found'


def test_optional_references_do_not_hold_the_container(store: Store) -> None:
    env = [
        {
            "name": "PW",
            "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw", "optional": True}},
        }
    ]
    volumes = [{"name": "cfg", "configMap": {"name": "settings", "optional": True}}]
    store.create(
        "/pods",
        _pod(
            "web",
            env=env,
            envFrom=[{"secretRef": {"name": "x", "optional": True}}],
            volumes=volumes,
        ),
    )

    wait_until(lambda: ready(store.get("/pods", NS, "web")))


def test_a_missing_configmap_volume_holds_the_pod_in_container_creating(store: Store) -> None:
    volumes = [{"name": "cfg", "configMap": {"name": "settings"}}]
    store.create("/pods", _pod("web", volumes=volumes))

    wait_until(lambda: any(r == "FailedMount" for _, r, _ in _events(store, "web")))

    assert (
        "Warning",
        "FailedMount",
        'MountVolume.SetUp failed for volume "cfg" : configmap "settings" not found',
    ) in _events(store, "web")
    assert _waiting(store, "web").get("reason") == "ContainerCreating"
    assert not ready(store.get("/pods", NS, "web"))

    store.create(
        "/configmaps",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": NS},
        },
    )

    wait_until(lambda: ready(store.get("/pods", NS, "web")))
