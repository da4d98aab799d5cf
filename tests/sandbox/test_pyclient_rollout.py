"""The official kubernetes Python client against the sandbox: rollouts as ci-deploy sees them."""

from __future__ import annotations

from typing import Any

from kubernetes import client, watch

from kube_sandbox.testing import deployment_manifest as deployment
from kube_sandbox.testing import wait_until

Obj = dict[str, Any]
NS = "default"


def complete(d: client.V1Deployment) -> bool:
    """What kubectl rollout status calls done."""
    s, want = d.status, d.spec.replicas
    return bool(
        s is not None
        and (s.observed_generation or 0) >= d.metadata.generation
        and (s.updated_replicas or 0) == want
        and (s.replicas or 0) == want
        and (s.available_replicas or 0) == want
    )


def progressing(d: client.V1Deployment) -> client.V1DeploymentCondition | None:
    conditions = (d.status.conditions if d.status else None) or []
    return next((c for c in conditions if c.type == "Progressing"), None)


def test_rollout_observed_by_a_watch_resumed_from_a_resource_version(
    api: client.ApiClient,
) -> None:
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment(NS, deployment("web", "nginx:1", 4))
    wait_until(lambda: complete(apps.read_namespaced_deployment("web", NS)))
    listed = apps.list_namespaced_deployment(NS, field_selector="metadata.name=web")
    since = listed.metadata.resource_version
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}}}}
    apps.patch_namespaced_deployment("web", NS, patch)

    seen: list[int] = []
    last: client.V1Deployment | None = None
    # First watch: take two events, then drop the connection as a flaky network would.
    w = watch.Watch()
    for event in w.stream(
        apps.list_namespaced_deployment, NS, resource_version=since, timeout_seconds=10
    ):
        last = event["object"]
        seen.append(int(last.metadata.resource_version))
        if len(seen) == 2:
            w.stop()
    assert last is not None and not complete(last)
    # Resume from the last resourceVersion seen: nothing is lost or repeated.
    w = watch.Watch()
    for event in w.stream(
        apps.list_namespaced_deployment,
        NS,
        resource_version=last.metadata.resource_version,
        timeout_seconds=20,
    ):
        assert event["type"] == "MODIFIED"
        last = event["object"]
        seen.append(int(last.metadata.resource_version))
        if complete(last):
            w.stop()
    assert complete(last)
    assert seen == sorted(set(seen)), "resourceVersions repeat or go backwards"
    assert last.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    cond = progressing(last)
    assert cond is not None and cond.reason == "NewReplicaSetAvailable"
    pods = client.CoreV1Api(api).list_namespaced_pod(NS, label_selector="app=web").items
    assert len(pods) == 4 and {p.spec.containers[0].image for p in pods} == {"nginx:2"}
    assert all(p.status.container_statuses[0].ready for p in pods)


def test_crashloop_rollout_reports_progress_deadline_exceeded(api: client.ApiClient) -> None:
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment(
        NS, deployment("bad", "app:crashloop", 2, progressDeadlineSeconds=1)
    )

    def timed_out() -> client.V1Deployment | None:
        d = apps.read_namespaced_deployment("bad", NS)
        cond = progressing(d)
        return d if cond is not None and cond.reason == "ProgressDeadlineExceeded" else None

    d = wait_until(timed_out)
    cond = progressing(d)
    assert cond is not None and cond.status == "False"
    assert cond.message.endswith("has timed out progressing.")
    assert (d.status.unavailable_replicas, d.status.available_replicas) == (2, None)
    pods = core.list_namespaced_pod(NS, label_selector="app=bad").items
    for pod in pods:
        cs = pod.status.container_statuses[0]
        assert cs.state.waiting.reason == "CrashLoopBackOff"
        assert cs.last_state.terminated.exit_code == 1 and cs.restart_count >= 1
    events = core.list_namespaced_event(NS).items
    backoff = [e for e in events if e.reason == "BackOff" and e.involved_object.kind == "Pod"]
    assert backoff and all(e.type == "Warning" for e in backoff)


def test_rollback_by_template_restores_the_previous_replicaset(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment(NS, deployment("web", "nginx:1", 3))
    wait_until(lambda: complete(apps.read_namespaced_deployment("web", NS)))
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}}}}
    apps.patch_namespaced_deployment("web", NS, patch)
    wait_until(
        lambda: (
            complete(d := apps.read_namespaced_deployment("web", NS)) and d.metadata.generation == 2
        )
    )

    # Roll back as ci-deploy does: the previous ReplicaSet's template, without its hash label.
    rss = apps.list_namespaced_replica_set(NS, label_selector="app=web").items
    previous = next(
        rs for rs in rss if rs.metadata.annotations["deployment.kubernetes.io/revision"] == "1"
    )
    template = api.sanitize_for_serialization(previous.spec.template)
    template["metadata"]["labels"].pop("pod-template-hash")
    apps.patch_namespaced_deployment("web", NS, {"spec": {"template": template}})
    d = wait_until(
        lambda: (
            complete(x := apps.read_namespaced_deployment("web", NS))
            and x.metadata.generation == 3
            and x
        )
    )
    assert d.spec.template.spec.containers[0].image == "nginx:1"
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "3"
    rss = apps.list_namespaced_replica_set(NS, label_selector="app=web").items
    by_image = {rs.spec.template.spec.containers[0].image: rs for rs in rss}
    assert set(by_image) == {"nginx:1", "nginx:2"}
    reused = by_image["nginx:1"]
    assert reused.metadata.uid == previous.metadata.uid
    assert reused.metadata.annotations["deployment.kubernetes.io/revision"] == "3"
    assert (reused.spec.replicas, by_image["nginx:2"].spec.replicas) == (3, 0)


def test_scale_subresource_and_hpa_status(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment(NS, deployment("web", "nginx:1", 2))
    scale = apps.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 4}})
    assert scale.spec.replicas == 4
    wait_until(lambda: complete(apps.read_namespaced_deployment("web", NS)))
    assert apps.read_namespaced_deployment_scale("web", NS).status.replicas == 4
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 3,
        },
    }
    autoscaling = client.AutoscalingV2Api(api)
    autoscaling.create_namespaced_horizontal_pod_autoscaler(NS, hpa)
    wait_until(lambda: apps.read_namespaced_deployment("web", NS).spec.replicas == 3)
    status = wait_until(
        lambda: (
            (s := autoscaling.read_namespaced_horizontal_pod_autoscaler("web", NS).status)
            and s.desired_replicas == 3
            and s
        )
    )
    assert {c.type for c in status.conditions} == {"AbleToScale", "ScalingActive", "ScalingLimited"}
    pods = wait_until(
        lambda: (
            len(x := client.CoreV1Api(api).list_namespaced_pod(NS, label_selector="app=web").items)
            == 3
            and x
        )
    )
    assert all(p.metadata.owner_references[0].kind == "ReplicaSet" for p in pods)
