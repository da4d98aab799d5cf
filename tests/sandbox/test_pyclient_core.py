"""The official ``kubernetes`` Python client against the sandbox: typed responses validate."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from kube_sandbox.testing import SandboxHandle


def make_deployment(
    name: str = "web", image: str = "nginx:1.25", replicas: int = 2
) -> client.V1Deployment:
    labels = {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(
                    containers=[
                        client.V1Container(
                            name="web",
                            image=image,
                            ports=[client.V1ContainerPort(container_port=8080)],
                            env=[client.V1EnvVar(name="MODE", value="a")],
                        )
                    ]
                ),
            ),
        ),
    )


def test_version_validates(api: client.ApiClient) -> None:
    info = client.VersionApi(api).get_code()
    assert info.major == "1" and info.minor == "32"
    assert info.git_version.startswith("v1.32.") and info.platform == "linux/amd64"


def test_discovery_lists_groups_and_resources(api: client.ApiClient) -> None:
    groups = {
        g.name: g.preferred_version.group_version
        for g in client.ApisApi(api).get_api_versions().groups
    }
    assert groups["apps"] == "apps/v1"
    assert groups["autoscaling"] == "autoscaling/v2"
    assert groups["gateway.networking.k8s.io"] == "gateway.networking.k8s.io/v1"
    assert groups["coordination.k8s.io"] == "coordination.k8s.io/v1"
    apps = client.AppsV1Api(api).get_api_resources()
    by_name = {r.name: r for r in apps.resources}
    assert by_name["deployments"].kind == "Deployment" and by_name["deployments"].namespaced
    assert by_name["deployments"].short_names == ["deploy"]
    assert (
        by_name["deployments/scale"].kind == "Scale"
        and by_name["deployments/scale"].group == "autoscaling"
    )
    assert "watch" in by_name["deployments"].verbs
    core = {r.name for r in client.CoreV1Api(api).get_api_resources().resources}
    assert {
        "namespaces",
        "pods",
        "services",
        "configmaps",
        "secrets",
        "events",
        "endpoints",
        "pods/status",
    } <= core


def test_deployment_crud_round_trip(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    created = apps.create_namespaced_deployment("default", make_deployment())
    assert created.metadata.uid and created.metadata.generation == 1
    assert created.spec.strategy.type == "RollingUpdate"
    assert (
        created.spec.template.spec.containers[0].termination_message_path == "/dev/termination-log"
    )
    read = apps.read_namespaced_deployment("web", "default")
    assert read.metadata.resource_version == created.metadata.resource_version or int(
        read.metadata.resource_version
    ) > int(created.metadata.resource_version)
    listed = apps.list_namespaced_deployment("default")
    assert [d.metadata.name for d in listed.items] == ["web"]
    assert listed.metadata.resource_version
    status = apps.delete_namespaced_deployment("web", "default")
    assert status["status"] == "Success" and status["details"]["name"] == "web"
    with pytest.raises(client.ApiException) as err:
        apps.read_namespaced_deployment("web", "default")
    assert err.value.status == 404


def test_stale_replace_raises_409(api: client.ApiClient, sandbox: SandboxHandle) -> None:
    core = client.CoreV1Api(api)
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cfg"), data={"a": "1"})
    first = core.create_namespaced_config_map("default", body)
    first.data = {"a": "2"}
    core.replace_namespaced_config_map("cfg", "default", first)
    first.data = {"a": "3"}  # still carries the old resourceVersion
    with pytest.raises(client.ApiException) as err:
        core.replace_namespaced_config_map("cfg", "default", first)
    assert err.value.status == 409
    assert core.read_namespaced_config_map("cfg", "default").data == {"a": "2"}


# Each served kind, created through the typed client: the response must deserialise into the
# client's model with the server-side defaults filled in.
TYPED = "typed"


@pytest.fixture
def typed_ns(api: client.ApiClient) -> client.V1Namespace:
    """The namespace the typed-model tests create their objects in."""
    return client.CoreV1Api(api).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=TYPED))
    )


def test_typed_namespace_is_active_with_the_kubernetes_finalizer(
    typed_ns: client.V1Namespace,
) -> None:
    assert typed_ns.status.phase == "Active" and typed_ns.spec.finalizers == ["kubernetes"]


def test_typed_service_gets_a_cluster_ip_and_defaults(
    api: client.ApiClient, typed_ns: client.V1Namespace
) -> None:
    svc = client.CoreV1Api(api).create_namespaced_service(
        TYPED,
        client.V1Service(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1ServiceSpec(
                selector={"app": "web"}, ports=[client.V1ServicePort(port=80, target_port=8080)]
            ),
        ),
    )
    assert svc.spec.cluster_ip.startswith("10.96.") and svc.spec.type == "ClusterIP"
    assert svc.spec.ports[0].protocol == "TCP" and svc.spec.session_affinity == "None"


def test_typed_secret_string_data_becomes_base64_data(
    api: client.ApiClient, typed_ns: client.V1Namespace
) -> None:
    secret = client.CoreV1Api(api).create_namespaced_secret(
        TYPED, client.V1Secret(metadata=client.V1ObjectMeta(name="s"), string_data={"k": "v"})
    )
    assert secret.data == {"k": "dg=="} and secret.type == "Opaque"


def test_typed_event_is_listed(api: client.ApiClient, typed_ns: client.V1Namespace) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_event(
        TYPED,
        client.CoreV1Event(
            metadata=client.V1ObjectMeta(name="e1"),
            involved_object=client.V1ObjectReference(
                kind="Deployment", name="web", namespace=TYPED
            ),
            reason="Test",
            message="hello",
        ),
    )
    assert core.list_namespaced_event(TYPED).items[0].reason == "Test"


def test_typed_replicaset_of_zero_has_zero_replicas(
    api: client.ApiClient, typed_ns: client.V1Namespace
) -> None:
    rs = client.AppsV1Api(api).create_namespaced_replica_set(
        TYPED,
        client.V1ReplicaSet(
            metadata=client.V1ObjectMeta(name="rs"),
            spec=client.V1ReplicaSetSpec(
                replicas=0,
                selector=client.V1LabelSelector(match_labels={"app": "rs"}),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels={"app": "rs"}),
                    spec=client.V1PodSpec(
                        containers=[client.V1Container(name="c", image="busybox:1")]
                    ),
                ),
            ),
        ),
    )
    assert rs.status.replicas == 0


def test_typed_hpa_gets_min_replicas_and_a_status(
    api: client.ApiClient, typed_ns: client.V1Namespace
) -> None:
    hpa = client.AutoscalingV2Api(api).create_namespaced_horizontal_pod_autoscaler(
        TYPED,
        client.V2HorizontalPodAutoscaler(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V2HorizontalPodAutoscalerSpec(
                max_replicas=5,
                scale_target_ref=client.V2CrossVersionObjectReference(
                    api_version="apps/v1", kind="Deployment", name="web"
                ),
            ),
        ),
    )
    assert hpa.spec.min_replicas == 1 and hpa.status.desired_replicas == 0


def test_typed_ingress_round_trips(api: client.ApiClient, typed_ns: client.V1Namespace) -> None:
    backend = client.V1IngressBackend(
        service=client.V1IngressServiceBackend(
            name="web", port=client.V1ServiceBackendPort(number=80)
        )
    )
    path = client.V1HTTPIngressPath(path="/", path_type="Prefix", backend=backend)
    rule = client.V1IngressRule(
        host="web.example", http=client.V1HTTPIngressRuleValue(paths=[path])
    )
    ing = client.NetworkingV1Api(api).create_namespaced_ingress(
        TYPED,
        client.V1Ingress(
            metadata=client.V1ObjectMeta(name="web"), spec=client.V1IngressSpec(rules=[rule])
        ),
    )
    assert ing.spec.rules[0].host == "web.example"


def test_typed_endpoint_slice_port_gets_tcp(
    api: client.ApiClient, typed_ns: client.V1Namespace
) -> None:
    slice_ = client.DiscoveryV1Api(api).create_namespaced_endpoint_slice(
        TYPED,
        client.V1EndpointSlice(
            metadata=client.V1ObjectMeta(name="web-abc"),
            address_type="IPv4",
            endpoints=[client.V1Endpoint(addresses=["10.0.0.1"])],
            ports=[client.DiscoveryV1EndpointPort(port=8080)],
        ),
    )
    assert slice_.ports[0].protocol == "TCP"


def test_lease_create_and_conditional_update(api: client.ApiClient) -> None:
    leases = client.CoordinationV1Api(api)
    lease = leases.create_namespaced_lease(
        "default",
        client.V1Lease(
            metadata=client.V1ObjectMeta(name="ci-deploy-lock"),
            spec=client.V1LeaseSpec(holder_identity="job-1", lease_duration_seconds=30),
        ),
    )
    lease.spec.holder_identity = "job-2"
    taken = leases.replace_namespaced_lease("ci-deploy-lock", "default", lease)
    assert taken.spec.holder_identity == "job-2"
    lease.spec.holder_identity = "job-3"  # lost the race: stale resourceVersion
    with pytest.raises(client.ApiException) as err:
        leases.replace_namespaced_lease("ci-deploy-lock", "default", lease)
    assert err.value.status == 409


def test_httproute_through_custom_objects_api(api: client.ApiClient) -> None:
    custom = client.CustomObjectsApi(api)
    route: dict[str, Any] = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "web"},
        "spec": {
            "parentRefs": [{"name": "gw"}],
            "rules": [
                {
                    "backendRefs": [
                        {"name": "web-stable", "port": 80, "weight": 90},
                        {"name": "web-canary", "port": 80, "weight": 10},
                    ]
                }
            ],
        },
    }
    custom.create_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", "default", "httproutes", route
    )
    patched = custom.patch_namespaced_custom_object(
        "gateway.networking.k8s.io",
        "v1",
        "default",
        "httproutes",
        "web",
        {
            "spec": {
                "rules": [
                    {
                        "backendRefs": [
                            {"name": "web-stable", "port": 80, "weight": 50},
                            {"name": "web-canary", "port": 80, "weight": 50},
                        ]
                    }
                ]
            }
        },
    )
    weights = [b["weight"] for b in patched["spec"]["rules"][0]["backendRefs"]]
    assert weights == [50, 50]


def test_scale_subresource_through_client(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment("default", make_deployment(replicas=1))
    scale = apps.read_namespaced_deployment_scale("web", "default")
    assert scale.spec.replicas == 1 and scale.status.selector == "app=web"
    scaled = apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 4}})
    assert scaled.spec.replicas == 4
    assert apps.read_namespaced_deployment("web", "default").spec.replicas == 4
