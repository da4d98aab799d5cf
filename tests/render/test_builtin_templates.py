"""The built-in templates render, for every environment of the example, objects that pass the
Kubernetes schemas, carrying the configuration's values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ci_deploy.config import load_config, load_config_text
from ci_deploy.errors import UserInputError
from ci_deploy.render import render_manifests, template_dir, to_yaml
from ci_deploy.render.validate import schema_errors

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "web-app" / "ci-deploy.yml"
IMAGE = "registry.example.com/acme/web-app:1.2.3"
ENVIRONMENTS = ["development", "staging", "production"]

# Every optional object switched on: HPA, Ingress with TLS, HTTPRoute.
FULL = """\
app: shop
image: {repository: registry.example.com/acme/shop}
manifests:
  port: 9000
  health_path: /healthz
  hpa: {min_replicas: 2, max_replicas: 6, cpu_utilization: 65}
  ingress: {host: shop.example.com, class_name: nginx, path: /api, tls_secret: shop-tls}
  http_route:
    hostnames: [shop.example.com]
    parent_ref: {name: public, namespace: gateways}
rolling: {max_surge: "50%", max_unavailable: 0, progress_deadline: 90s}
environments:
  staging:
    replicas: 3
    resources: {cpu: 200m}
"""


def by_kind(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {obj["kind"]: obj for obj in objects}


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    containers = by_kind(objects)["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["app"]
    result: dict[str, Any] = containers[0]
    return result


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_example_environment_renders_valid_objects(env_name: str) -> None:
    cfg = load_config(EXAMPLE)
    env = cfg.environment(env_name)
    objects = render_manifests(cfg, env_name, IMAGE)
    assert [o["kind"] for o in objects] == ["Service", "Deployment", "Ingress"]
    for obj in objects:
        assert schema_errors(obj, "1.32") == []
        meta = obj["metadata"]
        assert meta["name"] == "web-app"
        assert meta["namespace"] == env.namespace
        assert meta["labels"]["app.kubernetes.io/name"] == "web-app"
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "ci-deploy"
        assert meta["labels"]["ci-deploy.dev/environment"] == env_name
    deployment = by_kind(objects)["Deployment"]
    assert deployment["spec"]["replicas"] == env.replicas
    assert container(objects)["image"] == IMAGE
    quantities = {"cpu": env.resources.cpu, "memory": env.resources.memory}
    assert container(objects)["resources"] == {"requests": quantities, "limits": quantities}


def test_example_container_env_comes_from_the_environment() -> None:
    objects = render_manifests(load_config(EXAMPLE), "production", IMAGE)
    assert container(objects)["env"] == [
        {"name": "LOG_LEVEL", "value": "warn"},
        {"name": "DATABASE_NAME", "value": "prod-db"},
        {"name": "PAYMENT_GATEWAY_URL", "value": "https://api.payment.com"},
        {"name": "HTTP_PORT", "value": "8080"},
        {"name": "METRICS_ENABLED", "value": "true"},
        {"name": "FEATURE_NEW_CHECKOUT", "value": "false"},
    ]


def test_deployment_follows_rolling_settings_and_probes() -> None:
    objects = render_manifests(load_config(EXAMPLE), "staging", IMAGE)
    spec = by_kind(objects)["Deployment"]["spec"]
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1},
    }
    assert spec["progressDeadlineSeconds"] == 600
    selector = {
        "app.kubernetes.io/name": "web-app",
        "app.kubernetes.io/instance": "web-app-staging",
    }
    assert spec["selector"] == {"matchLabels": selector}
    assert selector.items() <= spec["template"]["metadata"]["labels"].items()
    app = container(objects)
    assert app["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert app["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert app["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}


def test_ingress_host_is_the_environment_url_host() -> None:
    cfg = load_config(EXAMPLE)
    hosts = {
        name: by_kind(render_manifests(cfg, name, IMAGE))["Ingress"]["spec"]["rules"][0]["host"]
        for name in ENVIRONMENTS
    }
    # development has no url: the configured host; the others serve their own URL's host
    assert hosts == {
        "development": "app.example.com",
        "staging": "staging.example.com",
        "production": "app.example.com",
    }


def test_every_optional_object_renders_and_validates(tmp_path: Path) -> None:
    cfg = load_config_text(FULL, str(tmp_path / "ci-deploy.yml"))
    objects = render_manifests(cfg, "staging", "registry.example.com/acme/shop@sha256:" + "a" * 64)
    kinds = [o["kind"] for o in objects]
    assert kinds == ["Service", "Deployment", "HorizontalPodAutoscaler", "Ingress", "HTTPRoute"]
    for obj in objects:
        assert schema_errors(obj, "1.32") == []
    found = by_kind(objects)
    # The HPA owns the scale: a replicas field would reset it on every deploy.
    assert "replicas" not in found["Deployment"]["spec"]
    assert found["Deployment"]["spec"]["progressDeadlineSeconds"] == 90
    assert found["Deployment"]["spec"]["strategy"]["rollingUpdate"] == {
        "maxSurge": "50%",
        "maxUnavailable": 0,
    }
    assert container(objects)["resources"] == {
        "requests": {"cpu": "200m"},
        "limits": {"cpu": "200m"},
    }
    assert container(objects)["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert found["HorizontalPodAutoscaler"]["spec"] == {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "shop"},
        "minReplicas": 2,
        "maxReplicas": 6,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 65},
                },
            }
        ],
    }
    ingress = found["Ingress"]["spec"]
    assert ingress["ingressClassName"] == "nginx"
    assert ingress["tls"] == [{"hosts": ["shop.example.com"], "secretName": "shop-tls"}]
    assert ingress["rules"][0]["http"]["paths"][0]["path"] == "/api"
    route = found["HTTPRoute"]["spec"]
    assert route["parentRefs"] == [{"name": "public", "namespace": "gateways"}]
    assert route["hostnames"] == ["shop.example.com"]
    assert route["rules"][0]["backendRefs"] == [{"name": "shop", "port": 80}]


def test_rendering_is_deterministic() -> None:
    cfg = load_config(EXAMPLE)
    first = to_yaml(render_manifests(cfg, "production", IMAGE))
    second = to_yaml(render_manifests(load_config(EXAMPLE), "production", IMAGE))
    assert first == second
    assert first.startswith("---\napiVersion: v1\nkind: Service\n")


@pytest.mark.parametrize(
    ("given", "runs"),
    [
        (":1.2.4", "registry.example.com/acme/web-app:1.2.4"),
        ("@sha256:" + "b" * 64, "registry.example.com/acme/web-app@sha256:" + "b" * 64),
        ("other.example.com:5000/x/y:2", "other.example.com:5000/x/y:2"),
    ],
)
def test_image_tag_or_digest_alone_uses_the_configured_repository(given: str, runs: str) -> None:
    objects = render_manifests(load_config(EXAMPLE), "staging", given)
    assert container(objects)["image"] == runs


@pytest.mark.parametrize(
    "image",
    ["", ":", "web app:1", "team/App:1", "app:", "app@sha256:xyz", "app:1\n", ":1.0\n", "app:vé"],
)
def test_invalid_image_reference_is_bad_input(image: str) -> None:
    with pytest.raises(UserInputError, match="is not a valid image reference") as info:
        render_manifests(load_config(EXAMPLE), "staging", image)
    assert info.value.exit_code == 2


def test_unknown_environment_is_bad_input() -> None:
    with pytest.raises(UserInputError, match="did you mean 'staging'"):
        render_manifests(load_config(EXAMPLE), "stagin", IMAGE)


def test_unsupported_kube_version_is_bad_input() -> None:
    with pytest.raises(UserInputError, match=r"schemas exist for Kubernetes 1\.25 to 1\.37"):
        render_manifests(load_config(EXAMPLE), "staging", IMAGE, kube_version="1.12")


def test_other_kube_version_validates_against_its_schemas() -> None:
    objects = render_manifests(load_config(EXAMPLE), "staging", IMAGE, kube_version="v1.29.3")
    assert len(objects) == 3


def test_template_dir_is_the_checkout_folder_in_an_editable_install() -> None:
    assert template_dir() == ROOT / "templates" / "manifests"
    names = sorted(p.name for p in template_dir().glob("*.yaml.j2"))
    assert names == [
        "deployment.yaml.j2",
        "horizontalpodautoscaler.yaml.j2",
        "httproute.yaml.j2",
        "ingress.yaml.j2",
        "service.yaml.j2",
    ]
