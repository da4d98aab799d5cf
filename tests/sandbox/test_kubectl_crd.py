"""CustomResourceDefinitions: a CRD applied with kubectl makes its kind served.

The real kubectl and the official Python client (ApiextensionsV1Api, CustomObjectsApi) drive
the whole life of a custom kind: the CRD established, the kind in discovery, custom objects
applied, listed (with the CRD's printer columns), watched, patched, scaled, validated against
the schema with upstream's messages, pruned; the CRD deleted with its objects; a restart from
the state file. Then the Gateway API's HTTPRoute, from its bundled CRD (and without it).
"""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch
from tests.sandbox.test_kubectl_conformance import Kubectl
from tests.sandbox.test_kubectl_conformance import kubectl as kubectl  # the fixture

from kube_sandbox.testing import SandboxHandle, running_sandbox, wait_until

pytestmark = pytest.mark.kubectl

CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wg]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
    additionalPrinterColumns:
    - {name: Size, type: string, jsonPath: .spec.size}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        required: [spec]
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: string, enum: [S, M, L]}
              replicas: {type: integer, minimum: 1, maximum: 10, default: 1}
              name: {type: string, maxLength: 5, pattern: '^[a-z]+$'}
              tags: {type: array, maxItems: 2, items: {type: string}}
              extra: {type: object, x-kubernetes-preserve-unknown-fields: true}
          status:
            type: object
            properties:
              replicas: {type: integer}
"""
WIDGET = (
    "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: M, name: abc}\n"
)
GROUP = ("example.com", "v1", "default", "widgets")


def install(kubectl: Kubectl) -> None:
    created = kubectl("apply", "-f", kubectl.manifest("crd.yaml", CRD))
    assert created.stdout.strip() == (
        "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created"
    )
    kubectl("wait", "--for=condition=established", "crd/widgets.example.com", "--timeout=10s")


def client_for(sandbox: SandboxHandle) -> Any:
    return k8s_config.new_client_from_config(config_file=str(sandbox.kubeconfig))


def test_a_crd_is_established_and_its_kind_is_in_discovery(
    kubectl: Kubectl, sandbox: SandboxHandle
) -> None:
    install(kubectl)
    with client_for(sandbox) as api:
        crd = k8s.ApiextensionsV1Api(api).read_custom_resource_definition("widgets.example.com")
    conditions = {c.type: (c.status, c.reason, c.message) for c in crd.status.conditions}
    assert conditions == {
        "NamesAccepted": ("True", "NoConflicts", "no conflicts found"),
        "Established": ("True", "InitialNamesAccepted", "the initial names have been accepted"),
    }
    assert crd.status.accepted_names.list_kind == "WidgetList"  # defaulted
    assert crd.status.stored_versions == ["v1"]
    listed = kubectl("api-resources", "--api-group=example.com", "--no-headers").stdout.split()
    assert listed == ["widgets", "wg", "example.com/v1", "true", "Widget"]
    assert kubectl("get", "wg").stderr.strip() == "No resources found in default namespace."
    crds = kubectl("get", "crds").stdout.splitlines()
    assert crds[0].split() == ["NAME", "CREATED", "AT"]
    assert [line.split()[0] for line in crds[1:]] == [
        "httproutes.gateway.networking.k8s.io",
        "widgets.example.com",
    ]
    assert crds[2].split()[1] == crd.metadata.creation_timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_custom_objects_through_kubectl(kubectl: Kubectl, sandbox: SandboxHandle) -> None:
    install(kubectl)
    path = kubectl.manifest("w1.yaml", WIDGET)
    assert kubectl("apply", "-f", path).stdout.strip() == "widget.example.com/w1 created"
    assert kubectl("apply", "-f", path).stdout.strip() == "widget.example.com/w1 unchanged"
    table = kubectl("get", "widgets").stdout.splitlines()
    assert table[0].split() == ["NAME", "SIZE", "REPLICAS", "AGE"]
    assert table[1].split()[:3] == ["w1", "M", "1"]  # replicas: the schema's default
    kubectl("patch", "widget/w1", "--type=merge", "-p", '{"spec":{"size":"L"}}')
    assert kubectl.json("wg", "w1")["spec"] == {"name": "abc", "replicas": 1, "size": "L"}
    assert kubectl("scale", "widget/w1", "--replicas=4").stdout.strip() == (
        "widget.example.com/w1 scaled"
    )
    assert kubectl.json("widget", "w1")["spec"]["replicas"] == 4
    ssa = WIDGET.replace("metadata: {name: w1}", "metadata: {name: w2}")
    kubectl("apply", "--server-side", "-f", kubectl.manifest("w2.yaml", ssa))
    stored = sandbox.store.get("example.com/widgets", "default", "w2")
    assert stored["metadata"]["managedFields"][0]["operation"] == "Apply"
    watcher = subprocess.Popen(
        [*kubectl.base, "get", "widgets", "--watch-only", "-o", "name"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines: list[str] = []
        reader = threading.Thread(
            target=lambda: lines.append(watcher.stdout.readline().strip())  # type: ignore[union-attr]
        )
        reader.start()

        tries = iter(range(1000))

        def patch_and_look() -> bool:  # until the watch has started and seen a change
            kubectl("label", "widget/w2", "--overwrite", f"seen=n{next(tries)}")
            reader.join(timeout=0.5)
            return bool(lines)

        wait_until(patch_and_look, timeout=20)
        assert lines == ["widget.example.com/w2"]
    finally:
        watcher.kill()
        watcher.wait(timeout=10)


def test_an_invalid_custom_object_is_refused_with_the_schema_message(kubectl: Kubectl) -> None:
    install(kubectl)
    bad = WIDGET.replace("spec: {size: M, name: abc}", "spec: {size: XL, replicas: 0, name: Ab}")
    result = kubectl("apply", "-f", kubectl.manifest("bad.yaml", bad), ok=False)
    assert result.returncode == 1
    assert result.stderr == (
        'The Widget "w1" is invalid: \n'
        "* spec.name: Invalid value: \"Ab\": spec.name in body should match '^[a-z]+$'\n"
        "* spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or "
        "equal to 1\n"
        '* spec.size: Unsupported value: "XL": supported values: "S", "M", "L"\n'
    )
    typed = WIDGET.replace("name: abc", "name: abc, replicas: many")
    result = kubectl("apply", "-f", kubectl.manifest("typed.yaml", typed), ok=False)
    assert result.stderr == (
        'The Widget "w1" is invalid: spec.replicas: Invalid value: "string": spec.replicas in '
        'body must be of type integer: "string"\n'
    )
    missing = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w3}\nspec: {}\n"
    result = kubectl("apply", "-f", kubectl.manifest("missing.yaml", missing), ok=False)
    assert result.stderr == 'The Widget "w3" is invalid: spec.size: Required value\n'
    unknown = WIDGET.replace("name: abc", "name: abc, colour: red")
    result = kubectl("apply", "-f", kubectl.manifest("unknown.yaml", unknown), ok=False)
    assert result.stderr.strip().endswith(
        'Widget in version "v1" cannot be handled as a Widget: strict decoding error: '
        'unknown field "spec.colour"'
    ), result.stderr


def test_custom_objects_through_the_python_client(kubectl: Kubectl, sandbox: SandboxHandle) -> None:
    install(kubectl)
    with client_for(sandbox) as api:
        custom = k8s.CustomObjectsApi(api)
        body = {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "py"},
            "spec": {"size": "S", "extra": {"free": {"form": 1}}, "junk": True},
            "status": {"replicas": 9},
        }
        created = custom.create_namespaced_custom_object(*GROUP, body)
        assert created["spec"] == {"size": "S", "replicas": 1, "extra": {"free": {"form": 1}}}
        assert "status" not in created, "the status subresource: a create drops status"
        events: list[tuple[str, str]] = []

        def watch() -> None:
            for event in k8s_watch.Watch().stream(
                custom.list_namespaced_custom_object, *GROUP, timeout_seconds=5
            ):
                events.append((event["type"], event["object"]["spec"]["size"]))
                if len(events) == 2:
                    return

        thread = threading.Thread(target=watch)
        thread.start()
        wait_until(lambda: events, timeout=10)
        patched = custom.patch_namespaced_custom_object(
            "example.com", "v1", "default", "widgets", "py", {"spec": {"size": "L"}}
        )
        assert patched["spec"]["size"] == "L" and patched["metadata"]["generation"] == 2
        thread.join(timeout=10)
        assert events == [("ADDED", "S"), ("MODIFIED", "L")]
        status = custom.patch_namespaced_custom_object_status(
            "example.com", "v1", "default", "widgets", "py", {"status": {"replicas": 3}}
        )
        assert status["status"] == {"replicas": 3}
        assert status["metadata"]["generation"] == 2, "a status write is no spec change"
        listed = custom.list_namespaced_custom_object(*GROUP)
        assert [i["metadata"]["name"] for i in listed["items"]] == ["py"]
        scale = custom.get_namespaced_custom_object_scale(
            "example.com", "v1", "default", "widgets", "py"
        )
        assert scale["spec"] == {"replicas": 1} and scale["status"] == {"replicas": 3}
        with pytest.raises(k8s.ApiException) as refused:
            custom.patch_namespaced_custom_object(
                "example.com", "v1", "default", "widgets", "py", {"spec": {"tags": ["a", "b", "c"]}}
            )
        status_body = json.loads(refused.value.body)
        assert refused.value.status == 422
        assert status_body["message"] == (
            'Widget.example.com "py" is invalid: spec.tags: Too many: 3: must have at most 2 items'
        )
        assert status_body["details"]["causes"] == [
            {
                "reason": "FieldValueTooMany",
                "message": "Too many: 3: must have at most 2 items",
                "field": "spec.tags",
            }
        ]


def test_deleting_the_crd_deletes_its_objects_and_unserves_the_kind(
    kubectl: Kubectl, sandbox: SandboxHandle
) -> None:
    install(kubectl)
    kubectl("apply", "-f", kubectl.manifest("w1.yaml", WIDGET))
    kubectl("delete", "crd", "widgets.example.com")
    assert sandbox.store.list("example.com/widgets")[0] == []
    resp = requests.get(sandbox.url + "/apis/example.com/v1/namespaces/default/widgets", timeout=5)
    assert resp.status_code == 404
    fresh = [p for p in kubectl.base if not p.startswith("--cache-dir")]
    gone = subprocess.run(
        [*fresh, f"--cache-dir={kubectl.tmp / 'cache-2'}", "get", "widgets"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert gone.returncode == 1
    assert gone.stderr.strip() == 'error: the server doesn\'t have a resource type "widgets"'


def test_a_crd_with_a_bad_name_is_refused(kubectl: Kubectl) -> None:
    bad = CRD.replace(
        "metadata: {name: widgets.example.com}", "metadata: {name: gadgets.example.com}"
    )
    result = kubectl("apply", "-f", kubectl.manifest("bad-crd.yaml", bad), ok=False)
    assert result.returncode == 1
    assert (
        'metadata.name: Invalid value: "gadgets.example.com": must be '
        'spec.names.plural+"."+spec.group'
    ) in result.stderr, result.stderr


def test_crds_and_their_objects_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with running_sandbox(tmp_path, state_file=state, controllers=False) as sb:
        crd = json.loads(json.dumps(__import__("yaml").safe_load(CRD)))
        assert (
            requests.post(
                sb.url + "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                json=crd,
                timeout=5,
            ).status_code
            == 201
        )
        widget = {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w"},
            "spec": {"size": "S"},
        }
        url = sb.url + "/apis/example.com/v1/namespaces/default/widgets"
        assert requests.post(url, json=widget, timeout=5).status_code == 201
    with running_sandbox(tmp_path, state_file=state, controllers=False) as sb:
        got = requests.get(url.replace(url.split("/apis")[0], sb.url) + "/w", timeout=5)
        assert got.status_code == 200 and got.json()["spec"] == {"size": "S", "replicas": 1}
        doc = requests.get(sb.url + "/apis/example.com/v1", timeout=5).json()
        assert [r["name"] for r in doc["resources"]] == [
            "widgets",
            "widgets/status",
            "widgets/scale",
        ]


ROUTE = """\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web}
spec:
  parentRefs: [{name: gw}]
  hostnames: [web.example.com]
  rules:
  - backendRefs: [{name: web, port: 80}]
"""


def test_httproute_comes_from_its_bundled_crd(kubectl: Kubectl, sandbox: SandboxHandle) -> None:
    crd = kubectl.json("crd", "httproutes.gateway.networking.k8s.io")
    annotations = crd["metadata"]["annotations"]
    assert annotations["gateway.networking.k8s.io/bundle-version"] == "v1.2.1"
    assert [v["name"] for v in crd["spec"]["versions"]] == ["v1", "v1beta1"]
    kubectl("apply", "-f", kubectl.manifest("route.yaml", ROUTE))
    table = kubectl("get", "httproutes").stdout.splitlines()
    assert table[0].split() == ["NAME", "HOSTNAMES", "AGE"]
    assert table[1].split()[:2] == ["web", '["web.example.com"]']
    beta = kubectl.json("httproutes.v1beta1.gateway.networking.k8s.io", "web")  # both served
    assert beta["apiVersion"] == "gateway.networking.k8s.io/v1beta1"
    listed = kubectl("api-resources", "--api-group=gateway.networking.k8s.io", "-o", "wide")
    assert "gateway-api" in listed.stdout.splitlines()[1].split()
    too_many = ROUTE.replace(
        "hostnames: [web.example.com]",
        "hostnames: [" + ",".join(f"h{i}.x" for i in range(17)) + "]",
    )
    refused = kubectl("apply", "-f", kubectl.manifest("many.yaml", too_many), ok=False)
    assert refused.stderr == (
        'The HTTPRoute "web" is invalid: spec.hostnames: Too many: 17: must have at most 16 items\n'
    )


def test_no_gateway_api_leaves_httproute_out(tmp_path: Path, kubectl_binary: Any) -> None:
    with running_sandbox(tmp_path, controllers=False, gateway_api=False) as sb:
        kubectl = Kubectl(kubectl_binary, sb, tmp_path)
        result = kubectl("get", "httproutes", ok=False)
        assert result.returncode == 1
        assert result.stderr.strip() == (
            'error: the server doesn\'t have a resource type "httproutes"'
        )
        # (without --validate=false kubectl looks for the kind in /openapi/v2 first, which the
        # sandbox does not serve: "error validating data: the server could not find ...")
        route = kubectl.manifest("route.yaml", ROUTE)
        applied = kubectl("apply", "--validate=false", "-f", route, ok=False)
        assert applied.stderr == (
            f'error: resource mapping not found for name: "web" namespace: "" from "{route}": '
            'no matches for kind "HTTPRoute" in version "gateway.networking.k8s.io/v1"\n'
            "ensure CRDs are installed first\n"
        )


def test_a_crd_whose_kind_is_taken_is_not_established(bare_sandbox: SandboxHandle) -> None:
    import yaml

    url = bare_sandbox.url + "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    first = yaml.safe_load(CRD)
    assert requests.post(url, json=first, timeout=5).status_code == 201
    second = yaml.safe_load(
        CRD.replace("widgets", "gizmos").replace("widget,", "gizmo,").replace("[wg]", "[gz]")
    )
    created = requests.post(url, json=second, timeout=5).json()
    conditions = {c["type"]: c for c in created["status"]["conditions"]}
    assert (conditions["NamesAccepted"]["status"], conditions["NamesAccepted"]["reason"]) == (
        "False",
        "KindConflict",
    )
    assert conditions["NamesAccepted"]["message"] == '"Widget" is already in use'
    assert conditions["Established"]["reason"] == "NotAccepted"
    gizmos = bare_sandbox.url + "/apis/example.com/v1/namespaces/default/gizmos"
    assert requests.get(gizmos, timeout=5).status_code == 404, "not established: not served"
