"""Schema validation: Kubernetes kinds through kubernetes-validate's bundled schemas, the
Gateway API HTTPRoute through the schema shipped with ci-deploy."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from ci_deploy.render.validate import (
    _SCHEMA_DIR,
    CRD_SCHEMAS,
    UnknownKind,
    check_kube_version,
    schema_errors,
    supported_kube_versions,
)

# A route using most of what the Gateway API standard channel offers.
ROUTE: dict[str, Any] = {
    "apiVersion": "gateway.networking.k8s.io/v1",
    "kind": "HTTPRoute",
    "metadata": {"name": "shop", "namespace": "shop-prod", "labels": {"a": "b"}},
    "spec": {
        "parentRefs": [
            {"name": "public", "namespace": "gateways", "sectionName": "https", "port": 443}
        ],
        "hostnames": ["shop.example.com", "*.shop.example.com"],
        "rules": [
            {
                "matches": [
                    {
                        "path": {"type": "PathPrefix", "value": "/api"},
                        "headers": [{"type": "Exact", "name": "x-canary", "value": "1"}],
                        "queryParams": [{"name": "debug", "value": "1"}],
                        "method": "GET",
                    }
                ],
                "filters": [
                    {
                        "type": "RequestHeaderModifier",
                        "requestHeaderModifier": {
                            "set": [{"name": "x-env", "value": "prod"}],
                            "remove": ["x-debug"],
                        },
                    },
                    {
                        "type": "URLRewrite",
                        "urlRewrite": {
                            "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}
                        },
                    },
                ],
                "backendRefs": [
                    {"name": "shop", "port": 80, "weight": 90},
                    {"name": "shop-canary", "port": 80, "weight": 10},
                ],
                "timeouts": {"request": "10s", "backendRequest": "2s"},
            }
        ],
    },
}


def test_shipped_schemas_are_valid_json_schemas() -> None:
    for name in CRD_SCHEMAS.values():
        Draft202012Validator.check_schema(json.loads((_SCHEMA_DIR / name).read_text()))


def test_full_httproute_is_valid() -> None:
    assert schema_errors(ROUTE, "1.32") == []


def broken(path: list[str | int], value: Any) -> dict[str, Any]:
    route = copy.deepcopy(ROUTE)
    target: Any = route
    for part in path[:-1]:
        target = target[part]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return route


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (
            ["spec", "rules", 0, "backendRefs", 0, "wieght"],
            5,
            ("spec", "rules", 0, "backendRefs", 0),
        ),
        (["spec", "rules", 0, "matches", 0, "path", "type"], "Prefix", None),
        (["spec", "rules", 0, "backendRefs", 1, "port"], 70000, None),
        (["spec", "parentRefs", 0, "name"], KeyError, ("spec", "parentRefs", 0)),
        (["spec", "hostnames", 0], "Shop.Example.com", None),
        (["spec", "rules", 0, "timeouts", "request"], "10 seconds", None),
        (["spec", "rules", 0, "filters", 0, "type"], "Rewrite", None),
        (["metadata", "labelz"], {}, ("metadata",)),  # ObjectMeta from the Kubernetes schemas
        (["spec", "hostnames"], ["a.example.com"] * 17, None),
    ],
)
def test_httproute_errors_are_found(
    path: list[str | int], value: Any, expected: tuple[Any, ...] | None
) -> None:
    errors = schema_errors(broken(path, value), "1.32")
    assert len(errors) == 1, errors
    where = expected if expected is not None else tuple(path)
    assert errors[0][0] == where


def test_every_error_of_an_object_is_reported_in_path_order() -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "replicas": "two",
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"spec": {"containers": [{"name": "app", "imagePullPolicy": 1}]}},
        },
    }
    errors = schema_errors(deployment, "1.32")
    assert errors == [
        (("spec", "replicas"), "'two' is not of type 'integer', 'null'"),
        (
            ("spec", "template", "spec", "containers", 0, "imagePullPolicy"),
            "1 is not of type 'string', 'null'",
        ),
    ]


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [("gateway.networking.k8s.io/v1", "GRPCRoute"), ("v1", "Pods"), ("../v1", "Service")],
)
def test_kinds_without_schema_are_unknown(api_version: str, kind: str) -> None:
    with pytest.raises(UnknownKind):
        schema_errors({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}}, "1.32")


def test_kube_versions_follow_the_bundled_schemas() -> None:
    versions = supported_kube_versions()
    assert versions[0] == "1.25" and "1.32" in versions and versions[-1] == "1.37"
    assert check_kube_version("v1.30.2") == "1.30"
