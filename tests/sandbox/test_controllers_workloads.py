"""The workload controllers' pure parts (cron schedules, revision hashes) and a settled cluster.

A settled cluster of StatefulSets, DaemonSets and Jobs restored from a snapshot is not rewritten.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from kubernetes import client
from tests.sandbox.test_pyclient_workloads import NS, container, job, statefulset

from kube_sandbox.controllers import ControllerManager
from kube_sandbox.controllers.cronjob import Schedule
from kube_sandbox.controllers.history import fnv32, revision_hash, safe_encode
from kube_sandbox.controllers.job import compress_indexes
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


def test_cron_schedules_as_robfig_cron_reads_them() -> None:
    wednesday = datetime(2026, 12, 2, 2, 13, tzinfo=timezone.utc)
    every5 = Schedule.parse("*/5 * * * *")
    assert every5.next_after(wednesday) == wednesday.replace(minute=15)
    since = wednesday.replace(hour=1, minute=0)
    assert every5.latest_between(since, wednesday) == wednesday.replace(minute=10)
    assert every5.latest_between(wednesday.replace(minute=11), wednesday) is None
    weekdays = Schedule.parse("0 3 * * mon-fri")
    assert weekdays.next_after(wednesday) == wednesday.replace(hour=3, minute=0)
    assert Schedule.parse("@monthly").next_after(wednesday) == datetime(
        2027, 1, 1, tzinfo=timezone.utc
    )
    # both day fields restricted: either may match (the Friday comes before the 13th)
    assert Schedule.parse("0 0 13 * 5").next_after(wednesday) == datetime(
        2026, 12, 4, tzinfo=timezone.utc
    )
    for bad in ("* * * *", "61 * * * *", "*/0 * * * *"):
        with pytest.raises(ValueError):
            Schedule.parse(bad)


def test_revision_hashes_and_completed_indexes() -> None:
    assert fnv32(b"") == 0x811C9DC5 and fnv32(b"a") == 0x050C5D7E  # FNV-1, as Go's fnv.New32
    assert set(safe_encode("1234567890")) <= set("bcdfghjklmnpqrstvwxz2456789")
    data = {"spec": {"template": {"metadata": {"labels": {"app": "x"}}, "$patch": "replace"}}}
    assert revision_hash(data) == revision_hash(data) != revision_hash(data, 1)
    assert compress_indexes({0, 1, 2, 4, 6, 7}) == "0-2,4,6-7"
    assert compress_indexes(set()) == ""
