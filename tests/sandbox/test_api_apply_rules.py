"""Server-side apply rules over raw HTTP, one test per upstream rule (see docs/sandbox.md).

Conflict messages and Status bodies are upstream's (apimachinery ``NewConflictError``):
grouped by manager, ``using <apiVersion>`` for Update managers, ``details`` with causes only.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import requests

from kube_sandbox.testing import SandboxHandle

WEB = "/apis/apps/v1/namespaces/default/deployments/web"
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
Obj = dict[str, Any]


@pytest.fixture
def sandbox(bare_sandbox: SandboxHandle) -> SandboxHandle:
    return bare_sandbox


def _config(image: str = "app:1", replicas: int = 2, labels: Obj | None = None) -> Obj:
    meta: Obj = {"name": "web", "namespace": "default"}
    if labels:
        meta["labels"] = labels
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }


def apply_as(
    sb: SandboxHandle, body: Obj, manager: str, force: bool = False, path: str = WEB
) -> requests.Response:
    """A server-side apply of ``body`` to ``path`` by ``manager``."""
    params = {"fieldManager": manager, "force": "true" if force else "false"}
    return requests.patch(
        sb.url + path, params=params, data=json.dumps(body), headers={"Content-Type": APPLY}
    )


def merge_as(sb: SandboxHandle, patch: Obj, manager: str, path: str = WEB) -> requests.Response:
    """A JSON merge patch of ``path`` by ``manager``."""
    return requests.patch(
        sb.url + path,
        params={"fieldManager": manager},
        data=json.dumps(patch),
        headers={"Content-Type": MERGE},
    )


def get_object(sb: SandboxHandle, path: str = WEB) -> Obj:
    """The object at ``path``."""
    result: Obj = requests.get(sb.url + path).json()
    return result


def _managers(obj: Obj) -> dict[tuple[str, str], Obj]:
    return {(m["manager"], m["operation"]): m for m in obj["metadata"].get("managedFields", [])}


def test_one_conflict_message_and_status_body(sandbox: SandboxHandle) -> None:
    assert apply_as(sandbox, _config(), "ci").status_code == 201
    assert merge_as(sandbox, {"spec": {"replicas": 5}}, "bot").status_code == 200

    resp = apply_as(sandbox, _config(), "ci")

    assert resp.status_code == 409
    assert resp.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": (
            'Apply failed with 1 conflict: conflict with "bot" using apps/v1: .spec.replicas'
        ),
        "reason": "Conflict",
        "details": {
            "causes": [
                {
                    "reason": "FieldManagerConflict",
                    "message": 'conflict with "bot" using apps/v1',
                    "field": ".spec.replicas",
                }
            ]
        },
        "code": 409,
    }


def test_several_conflicts_are_grouped_by_manager(sandbox: SandboxHandle) -> None:
    apply_as(sandbox, _config(labels={"team": "a"}), "ci")
    merge_as(sandbox, {"spec": {"replicas": 5}}, "foo")
    apply_as(sandbox, {**_config(labels={"team": "b"}), "spec": {}}, "bar", force=True)
    changed = _config(image="app:2", labels={"team": "c"})
    merge_as(
        sandbox,
        {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "app:9"}]}}}},
        "foo",
    )

    resp = apply_as(sandbox, changed, "ci")

    assert resp.status_code == 409
    assert resp.json()["message"] == (
        "Apply failed with 3 conflicts: "
        'conflicts with "bar":\n'
        "- .metadata.labels.team\n"
        'conflicts with "foo" using apps/v1:\n'
        "- .spec.replicas\n"
        '- .spec.template.spec.containers[name="web"].image'
    )
    fields = [c["field"] for c in resp.json()["details"]["causes"]]
    assert fields == [
        ".metadata.labels.team",
        ".spec.replicas",
        '.spec.template.spec.containers[name="web"].image',
    ]


def test_equal_values_are_co_owned_and_survive_one_owner_dropping_them(
    sandbox: SandboxHandle,
) -> None:
    apply_as(sandbox, _config(labels={"team": "a"}), "ci")
    shared = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}
    shared["metadata"]["labels"] = {"team": "a"}
    assert apply_as(sandbox, shared, "labeller").status_code == 200
    owners = _managers(get_object(sandbox))
    path = {"f:metadata": {"f:labels": {"f:team": {}}}}
    assert owners[("labeller", "Apply")]["fieldsV1"] == path
    assert "f:team" in owners[("ci", "Apply")]["fieldsV1"]["f:metadata"]["f:labels"]

    assert apply_as(sandbox, _config(), "ci").status_code == 200  # ci drops the label

    obj = get_object(sandbox)
    assert obj["metadata"]["labels"] == {"team": "a"}  # labeller still owns it
    assert "f:metadata" not in _managers(obj)[("ci", "Apply")]["fieldsV1"]


def test_a_field_the_applier_solely_owned_is_removed_when_it_drops_it(
    sandbox: SandboxHandle,
) -> None:
    apply_as(sandbox, _config(labels={"team": "a", "tier": "web"}), "ci")

    assert apply_as(sandbox, _config(labels={"team": "a"}), "ci").status_code == 200

    assert get_object(sandbox)["metadata"]["labels"] == {"team": "a"}


def test_force_moves_ownership_to_the_applier(sandbox: SandboxHandle) -> None:
    apply_as(sandbox, _config(), "ci")
    merge_as(sandbox, {"spec": {"replicas": 5}}, "bot")

    resp = apply_as(sandbox, _config(replicas=3), "ci", force=True)

    assert resp.status_code == 200 and resp.json()["spec"]["replicas"] == 3
    owners = _managers(resp.json())
    assert ("bot", "Update") not in owners  # its only field moved to ci: entry gone
    assert "f:replicas" in owners[("ci", "Apply")]["fieldsV1"]["f:spec"]


def test_kubectl_conflicts_on_fields_the_annotation_still_describes_are_forgiven(
    sandbox: SandboxHandle,
) -> None:
    csa = _config(image="app:1")
    created = copy.deepcopy(csa)
    created["metadata"]["annotations"] = {LAST_APPLIED: json.dumps(csa)}
    resp = requests.post(
        sandbox.url + "/apis/apps/v1/namespaces/default/deployments",
        params={"fieldManager": "kubectl-client-side-apply"},
        json=created,
    )
    assert resp.status_code == 201

    # another manager may not take the image from kubectl-client-side-apply ...
    assert apply_as(sandbox, _config(image="app:2"), "pipeline").status_code == 409
    # ... but "kubectl" (lastAppliedManager) may: live still equals the annotation there
    resp = apply_as(sandbox, _config(image="app:2"), "kubectl")

    assert resp.status_code == 200
    obj = resp.json()
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == "app:2"
    assert '"f:image"' not in json.dumps(
        _managers(obj)[("kubectl-client-side-apply", "Update")]["fieldsV1"]
    )


def test_kubectl_conflicts_on_fields_changed_since_the_annotation_remain(
    sandbox: SandboxHandle,
) -> None:
    csa = _config(image="app:1", replicas=3)
    created = copy.deepcopy(csa)
    created["metadata"]["annotations"] = {LAST_APPLIED: json.dumps(csa)}
    requests.post(
        sandbox.url + "/apis/apps/v1/namespaces/default/deployments",
        params={"fieldManager": "kubectl-client-side-apply"},
        json=created,
    )
    merge_as(sandbox, {"spec": {"replicas": 100}}, "hpa")

    resp = apply_as(sandbox, _config(image="app:2", replicas=333), "kubectl")

    # the image conflict is forgiven and left out; replicas changed since the annotation
    assert resp.status_code == 409
    assert resp.json()["message"] == (
        'Apply failed with 1 conflict: conflict with "hpa" using apps/v1: .spec.replicas'
    )
    assert get_object(sandbox)["spec"]["template"]["spec"]["containers"][0]["image"] == "app:1"


def test_kubectl_apply_rewrites_an_existing_last_applied_annotation(
    sandbox: SandboxHandle,
) -> None:
    created = _config()
    created["metadata"]["annotations"] = {LAST_APPLIED: "{}"}
    requests.post(sandbox.url + "/apis/apps/v1/namespaces/default/deployments", json=created)
    applied = _config(image="app:2")

    resp = apply_as(sandbox, applied, "kubectl", force=True)

    annotation = resp.json()["metadata"]["annotations"][LAST_APPLIED]
    assert annotation == json.dumps(applied, sort_keys=True, separators=(",", ":")) + "\n"


def test_the_annotation_is_neither_created_nor_rewritten_for_other_managers(
    sandbox: SandboxHandle,
) -> None:
    apply_as(sandbox, _config(), "kubectl")
    assert "annotations" not in get_object(sandbox)["metadata"]  # never created by the server

    created = _config()
    created["metadata"]["annotations"] = {LAST_APPLIED: "{}"}
    apply_as(sandbox, created, "pipeline", force=True)
    created["spec"]["template"]["spec"]["containers"][0]["image"] = "app:3"
    resp = apply_as(sandbox, created, "pipeline", force=True)
    assert resp.json()["metadata"]["annotations"][LAST_APPLIED] == "{}"


def test_apply_without_field_manager_is_422_patch_options_invalid(sandbox: SandboxHandle) -> None:
    resp = requests.patch(
        sandbox.url + WEB, data=json.dumps(_config()), headers={"Content-Type": APPLY}
    )

    assert resp.status_code == 422
    body = resp.json()
    assert body["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
        "is required for apply patch"
    )
    assert body["details"]["kind"] == "PatchOptions"


def test_apply_carrying_managed_fields_is_400(sandbox: SandboxHandle) -> None:
    body = _config()
    body["metadata"]["managedFields"] = [{"manager": "x"}]

    resp = apply_as(sandbox, body, "ci")

    assert resp.status_code == 400
    assert resp.json()["message"] == "metadata.managedFields must be nil"


def test_an_apply_that_only_adds_an_owner_is_stored(sandbox: SandboxHandle) -> None:
    apply_as(sandbox, _config(labels={"team": "a"}), "ci")
    rv = get_object(sandbox)["metadata"]["resourceVersion"]
    same = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}
    same["metadata"]["labels"] = {"team": "a"}

    apply_as(sandbox, same, "keeper")

    obj = get_object(sandbox)
    assert ("keeper", "Apply") in _managers(obj)
    assert obj["metadata"]["resourceVersion"] != rv
    # sorted as upstream: Apply entries before Update entries
    merge_as(sandbox, {"metadata": {"labels": {"x": "1"}}}, "bot")
    ops = [m["operation"] for m in get_object(sandbox)["metadata"]["managedFields"]]
    assert ops == sorted(ops)


@pytest.mark.parametrize(
    ("api_version", "kind", "shown"),
    [
        ("apps/v1", "ReplicaSet", "apps/v1, Kind=ReplicaSet"),
        ("extensions/v1beta1", "Deployment", "extensions/v1beta1, Kind=Deployment"),
        ("", "", "/, Kind="),
    ],
    ids=["other-kind", "other-version", "none"],
)
def test_an_apply_of_another_type_is_400_invalid_object_type(
    sandbox: SandboxHandle, api_version: str, kind: str, shown: str
) -> None:
    body = _config()
    body["apiVersion"], body["kind"] = api_version, kind

    resp = apply_as(sandbox, body, "ci")

    assert resp.status_code == 400
    assert resp.json()["message"] == f"invalid object type: {shown}"


def test_an_untracked_object_is_owned_by_before_first_apply(sandbox: SandboxHandle) -> None:
    created = requests.post(
        sandbox.url + "/apis/apps/v1/namespaces/default/deployments", json=_config(replicas=2)
    )
    assert created.status_code == 201 and created.json()["metadata"]["managedFields"]
    reset = [{"op": "replace", "path": "/metadata/managedFields", "value": [{}]}]
    resp = requests.patch(
        sandbox.url + WEB,
        data=json.dumps(reset),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert "managedFields" not in resp.json()["metadata"]
    # an update of an untracked object does not start tracking it (skipNonApplied)
    updated = merge_as(sandbox, {"spec": {"replicas": 4}}, "bot").json()
    assert "managedFields" not in updated["metadata"]

    conflict = apply_as(sandbox, _config(replicas=3), "ci")

    assert conflict.status_code == 409
    assert conflict.json()["message"] == (
        'Apply failed with 1 conflict: conflict with "before-first-apply" using apps/v1: '
        ".spec.replicas"
    )
    applied = apply_as(sandbox, _config(replicas=4), "ci")  # the live values: co-owned
    assert applied.status_code == 200
    assert set(_managers(applied.json())) == {("ci", "Apply"), ("before-first-apply", "Update")}
