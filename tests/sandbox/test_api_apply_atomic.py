"""Server-side apply of atomic maps, lists and structs, next to granular maps, as upstream.

structured-merge-diff (what kube-apiserver uses): a map or struct marked
``x-kubernetes-map-type: atomic`` (``Service.spec.selector``, LabelSelector, ObjectReference …)
and a list that is neither ``map`` nor ``set`` (``Service.spec.externalIPs``) are one field:
``f:selector: {}`` in managedFields, replaced whole by an apply, taken over whole by a forced
apply or by another manager's patch that changes any part of it. ``metadata.labels`` is
granular: each key is a field of its own. The Service here carries one of each.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from tests.sandbox.test_api_apply_rules import apply_as, get_object, merge_as
from tests.sandbox.test_kubectl_conformance import Kubectl
from tests.sandbox.test_kubectl_conformance import kubectl as kubectl  # the fixture

from kube_sandbox.objects import managed
from kube_sandbox.testing import SandboxHandle

WEB = "/api/v1/namespaces/default/services/web"
SELECTOR = {"app": "web"}
IPS = ["192.0.2.10"]
Obj = dict[str, Any]


def _service(selector: Obj | None = None, ips: list[str] | None = None) -> Obj:
    spec: Obj = {"ports": [{"name": "http", "port": 80}]}
    if selector is not None:
        spec["selector"] = selector
    if ips is not None:
        spec["externalIPs"] = ips
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default", "labels": {"team": "shop"}},
        "spec": spec,
    }


def _apply(sb: SandboxHandle, body: Obj, manager: str, force: bool = False) -> requests.Response:
    return apply_as(sb, body, manager, force, path=WEB)


def _get(sb: SandboxHandle) -> Obj:
    return get_object(sb, path=WEB)


def _fields(obj: Obj, manager: str, operation: str) -> Obj:
    found = [
        m["fieldsV1"]
        for m in obj["metadata"].get("managedFields", [])
        if (m["manager"], m["operation"]) == (manager, operation)
    ]
    assert len(found) == 1, obj["metadata"].get("managedFields")
    fields: Obj = found[0]
    return fields


@pytest.fixture
def narrowed(bare_sandbox: SandboxHandle) -> SandboxHandle:
    """ci's applied Service, then what ci-deploy's traffic router does to it: one more
    selector key by a JSON merge patch (here also an external IP and a label)."""
    assert _apply(bare_sandbox, _service(SELECTOR, IPS), "ci").status_code == 201
    patch = {
        "metadata": {"labels": {"tier": "web"}},
        "spec": {"selector": {"track": "stable"}, "externalIPs": [*IPS, "192.0.2.11"]},
    }
    assert merge_as(bare_sandbox, patch, "router", path=WEB).status_code == 200
    return bare_sandbox


def test_atomic_fields_are_owned_as_one_field_and_labels_key_by_key(
    bare_sandbox: SandboxHandle,
) -> None:
    resp = _apply(bare_sandbox, _service(SELECTOR, IPS), "ci")

    assert resp.status_code == 201
    fields = _fields(resp.json(), "ci", "Apply")
    assert fields["f:metadata"] == {"f:labels": {"f:team": {}}}
    assert fields["f:spec"]["f:selector"] == {}
    assert fields["f:spec"]["f:externalIPs"] == {}


def test_a_merge_patch_of_one_part_takes_over_the_whole_atomic_field(
    narrowed: SandboxHandle,
) -> None:
    obj = _get(narrowed)
    assert obj["spec"]["selector"] == {**SELECTOR, "track": "stable"}
    assert _fields(obj, "router", "Update") == {
        "f:metadata": {"f:labels": {"f:tier": {}}},
        "f:spec": {"f:externalIPs": {}, "f:selector": {}},
    }
    mine = _fields(obj, "ci", "Apply")
    assert mine["f:metadata"] == {"f:labels": {"f:team": {}}}  # granular: ci keeps its key
    assert "f:selector" not in mine["f:spec"] and "f:externalIPs" not in mine["f:spec"]


def test_an_unforced_apply_conflicts_on_the_whole_atomic_field(narrowed: SandboxHandle) -> None:
    before = _get(narrowed)

    resp = _apply(narrowed, _service(SELECTOR, IPS), "ci")

    assert resp.status_code == 409
    body = resp.json()
    assert body["reason"] == "Conflict"
    assert body["message"] == (
        'Apply failed with 2 conflicts: conflicts with "router" using v1:\n'
        "- .spec.externalIPs\n"
        "- .spec.selector"
    )
    assert body["details"] == {
        "causes": [
            {
                "reason": "FieldManagerConflict",
                "message": 'conflict with "router" using v1',
                "field": field,
            }
            for field in (".spec.externalIPs", ".spec.selector")
        ]
    }
    assert _get(narrowed) == before


def test_a_granular_map_conflicts_on_the_changed_key_only(bare_sandbox: SandboxHandle) -> None:
    _apply(bare_sandbox, _service(SELECTOR), "ci")
    labels = {"metadata": {"labels": {"team": "ops", "tier": "web"}}}
    merge_as(bare_sandbox, labels, "router", path=WEB)

    resp = _apply(bare_sandbox, _service(SELECTOR), "ci")

    assert resp.status_code == 409
    assert resp.json()["message"] == (
        'Apply failed with 1 conflict: conflict with "router" using v1: .metadata.labels.team'
    )


def test_a_forced_apply_replaces_the_atomic_field_and_takes_it_over(
    narrowed: SandboxHandle,
) -> None:
    resp = _apply(narrowed, _service(SELECTOR, IPS), "ci", force=True)

    assert resp.status_code == 200
    obj = resp.json()
    assert obj["spec"]["selector"] == SELECTOR  # the router's key is gone with the old value
    assert obj["spec"]["externalIPs"] == IPS
    assert obj["metadata"]["labels"] == {"team": "shop", "tier": "web"}  # granular: kept
    assert _fields(obj, "router", "Update") == {"f:metadata": {"f:labels": {"f:tier": {}}}}
    mine = _fields(obj, "ci", "Apply")
    assert mine["f:spec"]["f:selector"] == {} and mine["f:spec"]["f:externalIPs"] == {}


def test_an_omitted_atomic_field_is_removed_only_when_nobody_else_owns_it(
    bare_sandbox: SandboxHandle,
) -> None:
    _apply(bare_sandbox, _service(SELECTOR, IPS), "ci")
    assert _apply(bare_sandbox, _service(SELECTOR), "keeper").status_code == 200  # co-owned

    kept = _apply(bare_sandbox, _service(), "ci")

    assert kept.json()["spec"]["selector"] == SELECTOR  # keeper still owns it
    assert "externalIPs" not in kept.json()["spec"]  # ci alone owned it
    removed = _apply(bare_sandbox, _service(), "keeper")
    assert "selector" not in removed.json()["spec"]


def test_an_apply_replaces_an_atomic_map_rather_than_merging_into_it(
    bare_sandbox: SandboxHandle,
) -> None:
    _apply(bare_sandbox, _service({"app": "web", "tier": "front"}), "ci")

    resp = _apply(bare_sandbox, _service({"app": "web"}), "keeper", force=True)

    assert resp.status_code == 200
    assert resp.json()["spec"]["selector"] == {"app": "web"}  # not ci's tier key merged in
    assert "f:selector" not in _fields(resp.json(), "ci", "Apply")["f:spec"]


def test_key_by_key_ownership_sent_by_a_client_is_reconciled_to_the_atomic_field(
    bare_sandbox: SandboxHandle,
) -> None:
    # as kube-apiserver's ReconcileFieldSetWithSchema: paths below an atomic field collapse
    _apply(bare_sandbox, _service(SELECTOR), "ci")
    entry = _get(bare_sandbox)["metadata"]["managedFields"][0]
    entry["fieldsV1"]["f:spec"]["f:selector"] = {"f:app": {}}
    rewrite = [{"op": "replace", "path": "/metadata/managedFields", "value": [entry]}]
    resp = requests.patch(
        bare_sandbox.url + WEB,
        data=json.dumps(rewrite),
        headers={"Content-Type": "application/json-patch+json"},
    )

    assert resp.status_code == 200
    assert _fields(resp.json(), "ci", "Apply")["f:spec"]["f:selector"] == {}


def test_atomic_structs_and_granular_overrides_follow_the_schema() -> None:
    volume = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": "data",
            "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "x", "uid": "u1"}],
        },
        "spec": {
            "claimRef": {"name": "data", "namespace": "default"},  # granular ObjectReference
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchFields": []}]}},
        },
    }

    fields = managed.to_fields_v1(set(managed.object_fields(volume, None)))

    assert fields == {
        "f:metadata": {"f:ownerReferences": {'k:{"uid":"u1"}': {}}},  # OwnerReference: atomic
        "f:spec": {
            "f:claimRef": {"f:name": {}, "f:namespace": {}},
            "f:nodeAffinity": {"f:required": {}},  # NodeSelector: atomic
        },
    }


def test_kubectl_server_side_apply_replaces_the_atomic_selector(
    kubectl: Kubectl, sandbox: SandboxHandle
) -> None:
    manifest = kubectl.manifest("svc.json", json.dumps(_service(SELECTOR)))
    kubectl("apply", "--server-side", "-f", manifest)
    narrow = '{"spec":{"selector":{"track":"stable"}}}'
    kubectl("patch", "service", "web", "--type=merge", "-p", narrow, "--field-manager=router")

    conflict = kubectl("apply", "--server-side", "-f", manifest, ok=False)

    assert conflict.returncode == 1
    assert conflict.stderr.startswith(
        'error: Apply failed with 1 conflict: conflict with "router" using v1: .spec.selector\n'
    )
    forced = kubectl("apply", "--server-side", "--force-conflicts", "-f", manifest)
    assert forced.stdout.strip() == "service/web serverside-applied"
    svc = kubectl.json("service", "web", "--show-managed-fields")
    assert svc["spec"]["selector"] == SELECTOR
    assert _fields(svc, "kubectl", "Apply")["f:spec"]["f:selector"] == {}
    assert "router" not in {m["manager"] for m in svc["metadata"]["managedFields"]}
    kubectl.record(
        "apply --server-side --force-conflicts after a merge patch added a selector key",
        "serverside-applied; selector replaced whole (atomic map), router's entry gone",
        f"{forced.stdout.strip()}; selector {svc['spec']['selector']}",
    )
