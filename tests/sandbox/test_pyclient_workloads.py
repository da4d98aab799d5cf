"""The workload controllers through the official Python client's typed models.

StatefulSet (ordered creation, partitioned update, ordered scale-down), DaemonSet, Job
(parallel completions, Indexed, OnFailure crash loop, suspend/resume), CronJob and
ControllerRevision read back as ``V1StatefulSet``, ``V1Job`` … The order of pod creations and
deletions is read from the store's event history (white-box), never from timings.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

from kubernetes import client

from kube_sandbox.testing import SandboxHandle, wait_until

NS = "default"
Obj = dict[str, Any]


def container(image: str) -> client.V1Container:
    return client.V1Container(name="app", image=image)


def statefulset(
    name: str, image: str, replicas: int = 3, strategy: Any = None
) -> client.V1StatefulSet:
    return client.V1StatefulSet(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1StatefulSetSpec(
            replicas=replicas,
            service_name=name,
            selector=client.V1LabelSelector(match_labels={"app": name}),
            update_strategy=strategy,
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": name}),
                spec=client.V1PodSpec(containers=[container(image)]),
            ),
        ),
    )


def job(name: str, image: str, restart: str = "Never", **spec: Any) -> client.V1Job:
    return client.V1Job(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1JobSpec(
            template=client.V1PodTemplateSpec(
                spec=client.V1PodSpec(restart_policy=restart, containers=[container(image)])
            ),
            **spec,
        ),
    )


def sts_rolled_out(s: client.V1StatefulSet) -> bool:
    """kubectl's StatefulSetStatusViewer, for a set with rollingUpdate.partition."""
    st, want = s.status, s.spec.replicas
    partition = s.spec.update_strategy.rolling_update.partition or 0
    return bool(
        (st.observed_generation or 0) >= s.metadata.generation
        and (st.ready_replicas or 0) >= want
        and (st.updated_replicas or 0) >= want - partition
    )


def condition_types(j: client.V1Job) -> list[str]:
    return [c.type for c in (j.status.conditions or []) if c.status == "True"]


def pod_events(sandbox: SandboxHandle) -> list[tuple[str, str, Obj]]:
    return [
        (e.type, e.obj["metadata"]["name"], e.obj)
        for e in sandbox.store.events_since(0)
        if e.resource == "/pods"
    ]


def is_ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def test_statefulset_ordered_partitioned_scaled_and_deleted(
    api: client.ApiClient, sandbox: SandboxHandle
) -> None:
    apps = client.AppsV1Api(api)
    apps.create_namespaced_stateful_set(NS, statefulset("db", "postgres:16"))
    s = wait_until(
        lambda: (x := apps.read_namespaced_stateful_set("db", NS)) and sts_rolled_out(x) and x
    )
    assert s.spec.pod_management_policy == "OrderedReady"
    assert s.status.current_revision == s.status.update_revision
    first = s.status.update_revision
    # OrderedReady: db-1 is created only after db-0 was reported Ready, db-2 after db-1
    events = pod_events(sandbox)
    added = [i for i, (kind, _, _) in enumerate(events) if kind == "ADDED"]
    assert [events[i][1] for i in added] == ["db-0", "db-1", "db-2"]
    for previous, nxt in (("db-0", added[1]), ("db-1", added[2])):
        assert any(name == previous and is_ready(obj) for _, name, obj in events[:nxt]), (
            f"{events[nxt][1]} was created before {previous} was Ready"
        )

    patch = {
        "spec": {
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
            "template": {"spec": {"containers": [{"name": "app", "image": "postgres:17"}]}},
        }
    }
    apps.patch_namespaced_stateful_set("db", NS, patch)
    s = wait_until(
        lambda: (x := apps.read_namespaced_stateful_set("db", NS)) and sts_rolled_out(x) and x
    )
    assert s.status.updated_replicas == 1 and s.status.current_replicas == 2
    assert s.status.current_revision == first != s.status.update_revision
    core = client.CoreV1Api(api)
    images = {
        p.metadata.name: p.spec.containers[0].image
        for p in core.list_namespaced_pod(NS, label_selector="app=db").items
    }
    assert images == {"db-0": "postgres:16", "db-1": "postgres:16", "db-2": "postgres:17"}
    revisions = apps.list_namespaced_controller_revision(NS).items
    assert sorted(r.revision for r in revisions) == [1, 2]
    assert {r.metadata.name for r in revisions} == {first, s.status.update_revision}

    mark = sandbox.store.resource_version
    apps.patch_namespaced_stateful_set_scale("db", NS, {"spec": {"replicas": 1}})
    wait_until(lambda: len(core.list_namespaced_pod(NS, label_selector="app=db").items) == 1)
    deleted = [
        e.obj["metadata"]["name"]
        for e in sandbox.store.events_since(mark)
        if e.resource == "/pods" and e.type == "DELETED"
    ]
    assert deleted == ["db-2", "db-1"], "scale-down removes the highest ordinal first"

    apps.delete_namespaced_stateful_set("db", NS)
    wait_until(lambda: not core.list_namespaced_pod(NS, label_selector="app=db").items)
    wait_until(lambda: not apps.list_namespaced_controller_revision(NS).items)


def test_parallel_statefulset_creates_all_pods_at_once(
    api: client.ApiClient, sandbox: SandboxHandle
) -> None:
    apps = client.AppsV1Api(api)
    body = statefulset("cache", "redis:7", replicas=3)
    body.spec.pod_management_policy = "Parallel"
    apps.create_namespaced_stateful_set(NS, body)
    wait_until(
        lambda: (apps.read_namespaced_stateful_set("cache", NS).status.ready_replicas or 0) == 3
    )
    events = pod_events(sandbox)
    added = [i for i, (kind, _, _) in enumerate(events) if kind == "ADDED"]
    assert len(added) == 3
    assert not any(is_ready(obj) for _, _, obj in events[: added[-1]]), (
        "Parallel creates every pod before any is Ready"
    )


def test_daemonset_typed_status(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    body = client.V1DaemonSet(
        metadata=client.V1ObjectMeta(name="agent"),
        spec=client.V1DaemonSetSpec(
            selector=client.V1LabelSelector(match_labels={"app": "agent"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "agent"}),
                spec=client.V1PodSpec(containers=[container("fluent-bit:3")]),
            ),
        ),
    )
    apps.create_namespaced_daemon_set(NS, body)
    ds = wait_until(
        lambda: (
            (x := apps.read_namespaced_daemon_set("agent", NS)).status.number_available == 1 and x
        )
    )
    assert ds.status.desired_number_scheduled == 1 and ds.status.updated_number_scheduled == 1
    assert ds.spec.update_strategy.rolling_update.max_unavailable == 1
    (pod,) = client.CoreV1Api(api).list_namespaced_pod(NS, label_selector="app=agent").items
    terms = pod.spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution
    assert terms.node_selector_terms[0].match_fields[0].values == ["sandbox-node"]
    assert pod.metadata.labels["controller-revision-hash"]

    # a nodeSelector the one node does not match: nothing to run, and nothing runs
    patch = {"spec": {"template": {"spec": {"nodeSelector": {"disk": "ssd"}}}}}
    apps.patch_namespaced_daemon_set("agent", NS, patch)
    ds = wait_until(
        lambda: (
            (x := apps.read_namespaced_daemon_set("agent", NS)).status.observed_generation == 2
            and x
        )
    )
    assert ds.status.desired_number_scheduled == 0
    wait_until(
        lambda: not client.CoreV1Api(api).list_namespaced_pod(NS, label_selector="app=agent").items
    )


def test_jobs_parallel_indexed_onfailure_and_suspended(api: client.ApiClient) -> None:
    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    batch.create_namespaced_job(NS, job("many", "busybox:1", completions=4, parallelism=2))
    many = wait_until(
        lambda: "Complete" in condition_types(x := batch.read_namespaced_job("many", NS)) and x
    )
    assert condition_types(many) == ["SuccessCriteriaMet", "Complete"]
    assert many.status.succeeded == 4 and many.status.completion_time is not None
    phases = [
        p.status.phase for p in core.list_namespaced_pod(NS, label_selector="job-name=many").items
    ]
    assert phases == ["Succeeded"] * 4

    batch.create_namespaced_job(
        NS, job("idx", "busybox:1", completions=3, parallelism=3, completion_mode="Indexed")
    )
    idx = wait_until(
        lambda: "Complete" in condition_types(x := batch.read_namespaced_job("idx", NS)) and x
    )
    assert idx.status.completed_indexes == "0-2"
    names = sorted(
        p.metadata.name for p in core.list_namespaced_pod(NS, label_selector="job-name=idx").items
    )
    assert [n.rsplit("-", 1)[0] for n in names] == ["idx-0", "idx-1", "idx-2"]

    # OnFailure: the container restarts in place; its restarts count against backoffLimit
    batch.create_namespaced_job(NS, job("loop", "app:crashloop", "OnFailure", backoff_limit=1))
    loop = wait_until(
        lambda: "Failed" in condition_types(x := batch.read_namespaced_job("loop", NS)) and x
    )
    assert [c.reason for c in loop.status.conditions] == ["BackoffLimitExceeded"] * 2
    wait_until(lambda: not core.list_namespaced_pod(NS, label_selector="job-name=loop").items)

    batch.create_namespaced_job(NS, job("slowpoke", "app:neverready", active_deadline_seconds=1))
    late = wait_until(
        lambda: "Failed" in condition_types(x := batch.read_namespaced_job("slowpoke", NS)) and x
    )
    assert [c.reason for c in late.status.conditions] == ["DeadlineExceeded"] * 2
    assert late.status.conditions[1].message == "Job was active longer than specified deadline"

    batch.create_namespaced_job(NS, job("later", "busybox:1", suspend=True))
    later = wait_until(
        lambda: "Suspended" in condition_types(x := batch.read_namespaced_job("later", NS)) and x
    )
    assert later.status.start_time is None and not later.status.active
    assert not core.list_namespaced_pod(NS, label_selector="job-name=later").items
    batch.patch_namespaced_job("later", NS, {"spec": {"suspend": False}})
    later = wait_until(
        lambda: "Complete" in condition_types(x := batch.read_namespaced_job("later", NS)) and x
    )
    suspended = next(c for c in later.status.conditions if c.type == "Suspended")
    assert (suspended.status, suspended.reason) == ("False", "JobResumed")


def test_cronjob_typed_roundtrip(api: client.ApiClient, sandbox: SandboxHandle) -> None:
    batch = client.BatchV1Api(api)
    body = client.V1CronJob(
        metadata=client.V1ObjectMeta(name="report"),
        spec=client.V1CronJobSpec(
            schedule="*/5 * * * *",
            job_template=client.V1JobTemplateSpec(spec=job("x", "busybox:1").spec),
        ),
    )
    batch.create_namespaced_cron_job(NS, body)
    cj = batch.read_namespaced_cron_job("report", NS)
    assert cj.spec.concurrency_policy == "Allow" and cj.spec.successful_jobs_history_limit == 3
    assert cj.status is not None and cj.status.active is None

    # white-box: the CronJob last ran six minutes ago, so a */5 slot has passed since
    before = int(time.time()) // 300 * 5
    stored = sandbox.store.get("batch/cronjobs", NS, "report")
    last = datetime.now(timezone.utc) - timedelta(minutes=6)
    stored["status"] = {"lastScheduleTime": last.strftime("%Y-%m-%dT%H:%M:%SZ")}
    sandbox.store.update("batch/cronjobs", stored)
    made = wait_until(lambda: batch.list_namespaced_job(NS).items)
    after = int(time.time()) // 300 * 5
    (started,) = made
    assert started.metadata.name in {f"report-{before}", f"report-{after}"}
    assert started.metadata.owner_references[0].name == "report"
    stamp = started.metadata.annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"]
    assert stamp.endswith(":00Z") and started.spec.backoff_limit == 6
    cj = wait_until(
        lambda: (
            (x := batch.read_namespaced_cron_job("report", NS)).status.last_successful_time and x
        )
    )
    assert cj.status.last_schedule_time is not None and not cj.status.active
    assert "Complete" in condition_types(batch.read_namespaced_job(started.metadata.name, NS))
    assert len(batch.list_namespaced_job(NS).items) == 1, "one slot, one Job"

    batch.delete_namespaced_cron_job("report", NS)
    assert not batch.list_namespaced_cron_job(NS).items
    wait_until(lambda: not batch.list_namespaced_job(NS).items)  # the Job is collected too


def test_ordered_ready_waits_for_min_ready_seconds(
    api: client.ApiClient, sandbox: SandboxHandle
) -> None:
    apps = client.AppsV1Api(api)
    body = statefulset("slowstart", "nginx:1", replicas=2)
    body.spec.min_ready_seconds = 1
    apps.create_namespaced_stateful_set(NS, body)
    wait_until(
        lambda: apps.read_namespaced_stateful_set("slowstart", NS).status.available_replicas == 2
    )
    pods = {p["metadata"]["name"]: p for p in sandbox.store.list("/pods", NS)[0]}
    ready_since = next(
        c["lastTransitionTime"]
        for c in pods["slowstart-0"]["status"]["conditions"]
        if c["type"] == "Ready"
    )
    created = pods["slowstart-1"]["metadata"]["creationTimestamp"]
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    gap = datetime.strptime(created, fmt) - datetime.strptime(ready_since, fmt)
    # whole-second stamps: created >= ready + 1 s means the stamps differ by at least 1 s
    assert gap >= timedelta(seconds=1), (ready_since, created)
