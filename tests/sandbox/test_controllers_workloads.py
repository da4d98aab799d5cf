"""The workload controllers at rest: a settled cluster restored from a snapshot is not rewritten."""

from __future__ import annotations

from typing import Any

from kubernetes import client
from tests.sandbox.test_pyclient_workloads import NS, container, job, statefulset

from kube_sandbox.controllers import ControllerManager
from kube_sandbox.storage.store import Store
from kube_sandbox.testing import POD_READY_DELAY, SandboxHandle, wait_until


def test_settled_workloads_restored_are_left_as_they_are(
    api: client.ApiClient, sandbox: SandboxHandle
) -> None:
    apps, batch = client.AppsV1Api(api), client.BatchV1Api(api)
    apps.create_namespaced_stateful_set(NS, statefulset("db", "postgres:16", replicas=2))
    apps.create_namespaced_daemon_set(
        NS,
        client.V1DaemonSet(
            metadata=client.V1ObjectMeta(name="agent"),
            spec=client.V1DaemonSetSpec(
                selector=client.V1LabelSelector(match_labels={"app": "agent"}),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels={"app": "agent"}),
                    spec=client.V1PodSpec(containers=[container("fluent-bit:3")]),
                ),
            ),
        ),
    )
    batch.create_namespaced_job(NS, job("once", "busybox:1", completions=2))
    batch.create_namespaced_job(NS, job("bad", "app:crashloop", backoff_limit=0))

    def settled() -> Any:
        sts = apps.read_namespaced_stateful_set("db", NS).status
        ds = apps.read_namespaced_daemon_set("agent", NS).status
        done = [c.type for c in batch.read_namespaced_job("once", NS).status.conditions or []]
        bad = [c.type for c in batch.read_namespaced_job("bad", NS).status.conditions or []]
        return (
            sts.ready_replicas == 2
            and sts.current_revision == sts.update_revision
            and ds.number_available == 1
            and "Complete" in done
            and "Failed" in bad
        )

    wait_until(settled)
    sandbox.server.controllers.stop()  # type: ignore[union-attr]
    snapshot = sandbox.store.snapshot()
    restored = Store()
    restored.restore(snapshot)
    manager = ControllerManager(restored, pod_ready_delay=POD_READY_DELAY)
    manager.start()
    try:
        assert manager.wait_idle()
        written = [
            (e.resource, e.type, e.obj["metadata"]["name"], e.obj.get("status"))
            for e in restored.events_since(int(snapshot["resourceVersion"]))
        ]
        assert restored.resource_version == snapshot["resourceVersion"], written
    finally:
        manager.stop()
