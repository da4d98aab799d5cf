"""Validation as strict as a cluster's: immutable fields, names, labels, annotations, containers.

Messages and ``details`` are upstream's (``errors.NewInvalid``; field values printed as
apimachinery 1.32's ``ErrorBody`` does, Go ``%#v`` for structs and slices).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from kube_sandbox.testing import SandboxHandle

DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
SERVICES = "/api/v1/namespaces/default/services"
PODS = "/api/v1/namespaces/default/pods"
MERGE = {"Content-Type": "application/merge-patch+json"}
Obj = dict[str, Any]
WEB2_SELECTOR = (
    'v1.LabelSelector{MatchLabels:map[string]string{"app":"web2"}, '
    "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"
)


@pytest.fixture
def sandbox(bare_sandbox: SandboxHandle) -> SandboxHandle:
    return bare_sandbox


def _deployment(name: str = "web", app: str = "web", containers: Any = None) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": app}},
            "template": {
                "metadata": {"labels": {"app": app}},
                "spec": {"containers": containers or [{"name": "web", "image": "app:1"}]},
            },
        },
    }


def _pod(name: str = "p", **spec: Any) -> Obj:
    body: Obj = {"containers": [{"name": "web", "image": "app:1"}]}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": body}


def test_a_changed_deployment_selector_is_422_field_is_immutable(sandbox: SandboxHandle) -> None:
    assert requests.post(sandbox.url + DEPLOYS, json=_deployment()).status_code == 201
    patch = {"spec": {"selector": {"matchLabels": {"app": "web2"}}}}
    patch["spec"]["template"] = {"metadata": {"labels": {"app": "web2"}}}

    resp = requests.patch(sandbox.url + DEPLOYS + "/web", data=json.dumps(patch), headers=MERGE)

    assert resp.status_code == 422
    body = resp.json()
    assert body["reason"] == "Invalid"
    assert body["message"] == (
        f'Deployment.apps "web" is invalid: spec.selector: Invalid value: {WEB2_SELECTOR}: '
        "field is immutable"
    )
    assert body["details"] == {
        "name": "web",
        "group": "apps",
        "kind": "Deployment",
        "causes": [
            {
                "reason": "FieldValueInvalid",
                "message": f"Invalid value: {WEB2_SELECTOR}: field is immutable",
                "field": "spec.selector",
            }
        ],
    }
    stored = requests.get(sandbox.url + DEPLOYS + "/web").json()
    assert stored["spec"]["selector"] == {"matchLabels": {"app": "web"}}


def test_a_selector_change_that_also_mismatches_the_template_lists_both(
    sandbox: SandboxHandle,
) -> None:
    requests.post(sandbox.url + DEPLOYS, json=_deployment())
    patch = {"spec": {"selector": {"matchLabels": {"app": "web2"}}}}

    resp = requests.patch(sandbox.url + DEPLOYS + "/web", data=json.dumps(patch), headers=MERGE)

    assert resp.status_code == 422
    assert resp.json()["message"] == (
        'Deployment.apps "web" is invalid: [spec.template.metadata.labels: Invalid value: '
        'map[string]string{"app":"web"}: `selector` does not match template `labels`, '
        f"spec.selector: Invalid value: {WEB2_SELECTOR}: field is immutable]"
    )


def test_kubectl_apply_of_a_changed_selector_fails_as_on_a_cluster(
    kubectl_binary: Any, sandbox: SandboxHandle, tmp_path: Path
) -> None:
    base = [kubectl_binary.path, f"--kubeconfig={sandbox.kubeconfig}", "-n", "default"]
    base.append(f"--cache-dir={tmp_path / 'cache'}")
    manifest = tmp_path / "d.json"
    manifest.write_text(json.dumps(_deployment()))
    subprocess.run([*base, "apply", "-f", str(manifest)], check=True, capture_output=True)
    manifest.write_text(json.dumps(_deployment(app="web2")))

    proc = subprocess.run(
        [*base, "apply", "-f", str(manifest)], capture_output=True, text=True, check=False
    )

    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f'The Deployment "web" is invalid: spec.selector: Invalid value: {WEB2_SELECTOR}: '
        "field is immutable"
    )


def test_a_set_cluster_ip_may_not_change(sandbox: SandboxHandle) -> None:
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
    }
    ip = requests.post(sandbox.url + SERVICES, json=svc).json()["spec"]["clusterIP"]
    # a replace that leaves the allocated clusterIP out keeps it (patchAllocatedValues)
    kept = requests.put(sandbox.url + SERVICES + "/web", json=svc)
    assert kept.status_code == 200 and kept.json()["spec"]["clusterIP"] == ip

    patch = {"spec": {"clusterIP": "10.96.200.200"}}
    resp = requests.patch(sandbox.url + SERVICES + "/web", data=json.dumps(patch), headers=MERGE)

    assert resp.status_code == 422
    assert resp.json()["message"] == (
        'Service "web" is invalid: spec.clusterIPs[0]: Invalid value: []string{"10.96.200.200"}: '
        "may not change once set"
    )
    assert resp.json()["details"]["causes"][0]["field"] == "spec.clusterIPs[0]"


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (
            DEPLOYS,
            _deployment(name="Web_1"),
            'Deployment.apps "Web_1" is invalid: metadata.name: Invalid value: "Web_1": '
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
            "'-' or '.', and must start and end with an alphanumeric character (e.g. "
            "'example.com', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        ),
        (
            SERVICES,
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "1web"},
                "spec": {"ports": [{"port": 80}]},
            },
            'Service "1web" is invalid: metadata.name: Invalid value: "1web": a DNS-1035 label '
            "must consist of lower case alphanumeric characters or '-', start with an alphabetic "
            "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
            "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
        ),
        (
            PODS,
            _pod(containers=[{"name": "web", "image": "a"}, {"name": "web", "image": "b"}]),
            'Pod "p" is invalid: spec.containers[1].name: Duplicate value: "web"',
        ),
        (
            PODS,
            _pod(containers=[{"name": "web", "image": "a", "ports": [{"containerPort": 70000}]}]),
            'Pod "p" is invalid: spec.containers[0].ports[0].containerPort: Invalid value: 70000: '
            "must be between 1 and 65535, inclusive",
        ),
        (
            SERVICES,
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "web"},
                "spec": {"ports": [{"port": 0}]},
            },
            'Service "web" is invalid: spec.ports[0].port: Invalid value: 0: '
            "must be between 1 and 65535, inclusive",
        ),
    ],
    ids=[
        "deployment-name",
        "service-name-dns1035",
        "duplicate-container",
        "container-port",
        "port",
    ],
)
def test_create_validation_as_upstream(
    sandbox: SandboxHandle, path: str, body: Obj, message: str
) -> None:
    resp = requests.post(sandbox.url + path, json=body)

    assert resp.status_code == 422
    assert resp.json()["message"] == message


def test_label_keys_and_values_follow_upstreams_syntax(sandbox: SandboxHandle) -> None:
    pod = _pod()
    pod["metadata"]["labels"] = {"bad key": "ok", "good": "not ok!"}

    resp = requests.post(sandbox.url + PODS, json=pod)

    assert resp.status_code == 422
    causes = resp.json()["details"]["causes"]
    assert [(c["field"], c["reason"]) for c in causes] == [
        ("metadata.labels", "FieldValueInvalid"),
        ("metadata.labels", "FieldValueInvalid"),
    ]
    assert causes[0]["message"].startswith('Invalid value: "bad key": name part must consist of')
    assert causes[1]["message"].startswith(
        'Invalid value: "not ok!": a valid label must be an empty string or consist of'
    )


def test_annotations_may_not_exceed_256_kib_in_total(sandbox: SandboxHandle) -> None:
    pod = _pod()
    pod["metadata"]["annotations"] = {"a": "x" * 200_000, "b": "y" * 70_000}

    resp = requests.post(sandbox.url + PODS, json=pod)

    assert resp.status_code == 422
    assert resp.json()["message"] == (
        'Pod "p" is invalid: metadata.annotations: Too long: may not be more than 262144 bytes'
    )
    assert resp.json()["details"]["causes"][0]["reason"] == "FieldValueTooLong"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            _pod(containers=[{"name": "web", "image": "a", "env": [{"name": "1X", "value": ""}]}]),
            'Pod "p" is invalid: spec.containers[0].env[0].name: Invalid value: "1X": a valid '
            "environment variable name must consist of alphabetic characters, digits, '_', '-', "
            "or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or "
            "'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')",
        ),
        (
            _pod(
                containers=[
                    {
                        "name": "web",
                        "image": "a",
                        "volumeMounts": [{"name": "cfg", "mountPath": "/c"}],
                    }
                ]
            ),
            'Pod "p" is invalid: spec.containers[0].volumeMounts[0].name: Not found: "cfg"',
        ),
        (
            _pod(volumes=[{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}]),
            'Pod "p" is invalid: spec.volumes[1].name: Duplicate value: "v"',
        ),
    ],
    ids=["env-name", "mount-without-volume", "duplicate-volume"],
)
def test_pod_spec_references_as_upstream(sandbox: SandboxHandle, body: Obj, message: str) -> None:
    resp = requests.post(sandbox.url + PODS, json=body)

    assert resp.status_code == 422
    assert resp.json()["message"] == message


def test_a_deployment_template_must_restart_always(sandbox: SandboxHandle) -> None:
    body = _deployment()
    body["spec"]["template"]["spec"]["restartPolicy"] = "Never"

    resp = requests.post(sandbox.url + DEPLOYS, json=body)

    assert resp.status_code == 422
    assert resp.json()["message"] == (
        'Deployment.apps "web" is invalid: spec.template.spec.restartPolicy: '
        'Unsupported value: "Never": supported values: "Always"'
    )
    assert resp.json()["details"]["causes"][0]["reason"] == "FieldValueNotSupported"


def test_create_with_a_resource_version_is_refused_as_by_etcd3_storage(
    sandbox: SandboxHandle,
) -> None:
    # (kubectl create/apply clear resourceVersion themselves: resource.Helper.Create)
    body = _deployment()
    body["metadata"]["resourceVersion"] = "12345"

    resp = requests.post(sandbox.url + DEPLOYS, json=body)

    assert resp.status_code == 500
    assert resp.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "resourceVersion should not be set on objects to be created",
        "code": 500,
    }
    assert requests.get(sandbox.url + DEPLOYS + "/web").status_code == 404


def test_an_immutable_configmap_keeps_its_data(sandbox: SandboxHandle) -> None:
    cms = "/api/v1/namespaces/default/configmaps"
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
    cm["immutable"] = True
    assert requests.post(sandbox.url + cms, json=cm).status_code == 201

    patch = {"data": {"a": "2"}, "immutable": False}
    resp = requests.patch(sandbox.url + cms + "/c", data=json.dumps(patch), headers=MERGE)

    assert resp.status_code == 422
    assert resp.json()["message"] == (
        'ConfigMap "c" is invalid: [immutable: Forbidden: field is immutable when `immutable` is '
        "set, data: Forbidden: field is immutable when `immutable` is set]"
    )
    assert [c["reason"] for c in resp.json()["details"]["causes"]] == ["FieldValueForbidden"] * 2
    labels = {"metadata": {"labels": {"team": "a"}}}  # metadata may still change
    assert requests.patch(sandbox.url + cms + "/c", data=json.dumps(labels), headers=MERGE).ok


def test_a_secret_type_is_immutable(sandbox: SandboxHandle) -> None:
    secrets = "/api/v1/namespaces/default/secrets"
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {}}
    assert requests.post(sandbox.url + secrets, json=secret).status_code == 201

    patch = {"type": "example.com/custom"}
    resp = requests.patch(sandbox.url + secrets + "/s", data=json.dumps(patch), headers=MERGE)

    assert resp.status_code == 422
    assert resp.json()["message"] == (
        'Secret "s" is invalid: type: Invalid value: "example.com/custom": field is immutable'
    )


def test_a_long_generate_name_is_cut_to_58_characters_as_upstream(sandbox: SandboxHandle) -> None:
    pod = _pod()
    del pod["metadata"]["name"]
    pod["metadata"]["generateName"] = "a" * 70

    resp = requests.post(sandbox.url + PODS, json=pod)

    assert resp.status_code == 201
    name = resp.json()["metadata"]["name"]
    assert len(name) == 63 and name.startswith("a" * 58)
    assert resp.json()["metadata"]["generateName"] == "a" * 70


def test_a_generate_name_making_an_invalid_name_is_422(sandbox: SandboxHandle) -> None:
    pod = _pod()
    del pod["metadata"]["name"]
    pod["metadata"]["generateName"] = "Web-"

    resp = requests.post(sandbox.url + PODS, json=pod)

    assert resp.status_code == 422
    causes = resp.json()["details"]["causes"]
    assert [c["field"] for c in causes] == ["metadata.generateName", "metadata.name"]
    assert causes[0]["message"].startswith('Invalid value: "Web-": a lowercase RFC 1123 subdomain')
