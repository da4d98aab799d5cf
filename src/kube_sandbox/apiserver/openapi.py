"""``/openapi/v3`` documents, generated from the served kinds and their bundled schemas.

kubectl (``apply``, ``diff``; default ``--validate=strict``) reads ``/openapi/v3``, then the
group-version document, and looks for a PATCH operation tagged with the kind's
``x-kubernetes-group-version-kind`` that accepts a ``fieldValidation`` query parameter; with
it, kubectl leaves unknown-field checks to the server (``fieldValidation=Strict``). The
``components.schemas`` carry the kinds' schemas (from ``schema.py``) for clients that read them.

A custom resource's document carries its CRD version's ``openAPIV3Schema`` (made per store,
cached until its CRDs change); a kind without any schema would be published permissive
(``x-kubernetes-preserve-unknown-fields: true``).
``/openapi/v2`` is not served (404); kubectl 1.27+ uses v3.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from typing import Any

from kube_sandbox.apiserver import discovery
from kube_sandbox.objects import resources, schema
from kube_sandbox.protocol.messages import Response, status_object
from kube_sandbox.storage.store import ResourceType, Store

Obj = dict[str, Any]
_REF = "#/components/schemas/"
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def handle(path: str, store: Store | None = None) -> Response:
    """Serve ``/openapi/v3`` and ``/openapi/v3/<api|apis/...>``; 404 for anything else."""
    if path == "/openapi/v3":
        return Response(200, root_document(store))
    prefix = "/openapi/v3/"
    if path.startswith(prefix):
        doc = group_version_document(path[len(prefix) :], store)
        if doc is not None:
            return Response(200, doc)
    return Response(
        404, status_object(404, "NotFound", "the server could not find the requested resource")
    )


def _gv_paths(store: Store | None = None) -> list[tuple[str, str, str]]:
    """(document path, group, version) for every served group-version."""
    out = []
    for group, versions in resources.group_versions(store).items():
        for version in versions:
            out.append((f"apis/{group}/{version}" if group else f"api/{version}", group, version))
    return out


def root_document(store: Store | None = None) -> Obj:
    """The index of group-version documents, with content hashes as upstream."""
    paths = {}
    for doc_path, group, _ in _gv_paths(store):
        if group in resources.GROUP_VERSIONS:
            encoded = _encoded(doc_path)
        else:
            encoded = json.dumps(group_version_document(doc_path, store), sort_keys=True).encode()
        digest = hashlib.sha512(encoded).hexdigest()[:128].upper()
        paths[doc_path] = {"serverRelativeURL": f"/openapi/v3/{doc_path}?hash={digest}"}
    return {"paths": paths}


@functools.cache
def _encoded(doc_path: str) -> bytes:
    return json.dumps(_builtin_document(doc_path), sort_keys=True).encode()


# custom group-version documents, by path: (the registry snapshot they were made from, doc)
_CUSTOM_DOCS: dict[tuple[int, str], tuple[Any, Obj]] = {}
_CUSTOM_LOCK = threading.Lock()


def group_version_document(doc_path: str, store: Store | None = None) -> Obj | None:
    """The OpenAPI 3.0 document of one group-version (``apis/apps/v1``), or None."""
    match = [(g, v) for p, g, v in _gv_paths(store) if p == doc_path]
    if not match:
        return None
    group, version = match[0]
    if group in resources.GROUP_VERSIONS or store is None:
        return _builtin_document(doc_path)
    snapshot = resources.registry_of(store).snapshot
    key = (id(store), doc_path)
    with _CUSTOM_LOCK:
        hit = _CUSTOM_DOCS.get(key)
        if hit is not None and hit[0] is snapshot:
            return hit[1]
    doc = _document(group, version, store)
    with _CUSTOM_LOCK:
        if len(_CUSTOM_DOCS) > 256:
            _CUSTOM_DOCS.clear()
        _CUSTOM_DOCS[key] = (snapshot, doc)
    return doc


@functools.cache
def _builtin_document(doc_path: str) -> Obj | None:
    match = [(g, v) for p, g, v in _gv_paths() if p == doc_path]
    if not match:
        return None
    return _document(match[0][0], match[0][1], None)


def _document(group: str, version: str, store: Store | None) -> Obj:
    paths: Obj = {}
    roots: list[str] = []
    extra: dict[str, Obj] = {}
    for rt in resources.in_group_version(group, version, store):
        custom = resources.custom(rt, store)
        name = schema.definition_name(rt.group, rt.version, rt.kind)
        if name is None:
            name = f"{_reverse_domain(rt.group)}.{rt.version}.{rt.kind}"
            extra[name] = _custom_schema(rt, custom.schema) if custom else _permissive(rt)
            roots.append(_OBJECT_META)
        else:
            roots.append(name)
        list_name = schema.definition_name(rt.group, rt.version, f"{rt.kind}List") or name
        roots.append(list_name)
        paths.update(_resource_paths(rt, name, list_name))
    roots += ["io.k8s.api.autoscaling.v1.Scale", "io.k8s.apimachinery.pkg.apis.meta.v1.Status"]
    schemas = {n: _convert(schema.definitions()[n]) for n in sorted(_closure(roots))}
    schemas.update(extra)
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": discovery.VERSION_INFO["gitVersion"]},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _custom_schema(rt: ResourceType, crd_schema: Obj | None) -> Obj:
    """A CRD version's openAPIV3Schema as upstream publishes it: with the standard fields."""
    if crd_schema is None:
        return _permissive(rt)
    out = dict(crd_schema)
    props = dict(out.get("properties") or {})
    props["apiVersion"] = {"type": "string"}
    props["kind"] = {"type": "string"}
    props["metadata"] = {"$ref": _REF + _OBJECT_META}
    out["properties"] = props
    out.setdefault("type", "object")
    # no x-kubernetes-group-version-kind, as for _permissive: kubectl's client-side apply
    # then makes a JSON merge patch, the patch type custom resources take
    return out


def _reverse_domain(group: str) -> str:
    return ".".join(reversed(group.split(".")))


def _permissive(rt: ResourceType) -> Obj:
    return {
        "type": "object",
        "description": f"{rt.kind} ({rt.api_version}): no field validation in the sandbox.",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"$ref": _REF + _OBJECT_META},
            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
        # no x-kubernetes-group-version-kind: kubectl then makes a JSON merge patch for
        # client-side apply, as for a kind it has no patch metadata for, without a warning
    }


def _closure(roots: list[str]) -> set[str]:
    defs = schema.definitions()
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen or name not in defs:
            continue
        seen.add(name)
        todo.extend(_refs(defs[name]))
    return seen


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = []
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            found.append(ref[len("#/$defs/") :])
        for value in node.values():
            found.extend(_refs(value))
        return found
    if isinstance(node, list):
        return [r for item in node for r in _refs(item)]
    return []


def _convert(node: Any) -> Any:
    """JSON-schema (2020) definitions → OpenAPI 3.0 schemas: refs, nullable type lists."""
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: Obj = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            out[key] = _REF + value.split("/")[-1]
        elif key == "type" and isinstance(value, list):
            kinds = [v for v in value if v != "null"]
            out[key] = kinds[0] if kinds else "object"
        elif key == "oneOf" and all(isinstance(v, dict) and "type" in v for v in value):
            types = {
                t
                for v in value
                for t in (v["type"] if isinstance(v["type"], list) else [v["type"]])
            }
            if "integer" in types and "string" in types:
                out["x-kubernetes-int-or-string"] = True
            else:
                out["type"] = "string"
        elif key == "properties" and isinstance(value, dict):
            out[key] = {k: _convert(v) for k, v in value.items()}
        else:
            out[key] = _convert(value)
    return out


def _param(name: str, where: str = "query", kind: str = "string") -> Obj:
    return {"name": name, "in": where, "schema": {"type": kind}, "uniqueItems": True}


def _op(rt: ResourceType, action: str, ref: str, gvk: Obj, params: list[Obj]) -> Obj:
    return {
        "operationId": f"{action}{rt.kind}",
        "tags": [rt.group or "core"],
        "parameters": params,
        "responses": {
            "200": {
                "description": "OK",
                "content": {"application/json": {"schema": {"$ref": _REF + ref}}},
            }
        },
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk,
    }


def _resource_paths(rt: ResourceType, name: str, list_name: str) -> Obj:
    base = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
    collection = (
        f"{base}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else f"{base}/{rt.plural}"
    )
    gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
    write = [_param("dryRun"), _param("fieldManager"), _param("fieldValidation")]
    patch_params = [*write, _param("force", kind="boolean")]
    patch_body = {
        "content": {
            ctype: {"schema": {"type": "object"}}
            for ctype in (
                "application/apply-patch+yaml",
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/strategic-merge-patch+json",
            )
        },
        "required": True,
    }
    item: Obj = {
        "get": _op(rt, "get", name, gvk, []),
        "put": _op(rt, "put", name, gvk, write),
        "patch": {**_op(rt, "patch", name, gvk, patch_params), "requestBody": patch_body},
        "delete": _op(
            rt, "delete", "io.k8s.apimachinery.pkg.apis.meta.v1.Status", gvk, [_param("dryRun")]
        ),
        "parameters": [_param("name", "path")]
        + ([_param("namespace", "path")] if rt.namespaced else []),
    }
    paths: Obj = {
        collection: {
            "get": _op(
                rt, "list", list_name, gvk, [_param("labelSelector"), _param("fieldSelector")]
            ),
            "post": _op(rt, "post", name, gvk, write),
        },
        f"{collection}/{{name}}": item,
    }
    for sub in rt.subresources:
        if sub in resources.READ_ONLY_SUBRESOURCES:
            continue
        sub_name, sub_gvk = name, gvk
        if sub == "scale":
            sub_name = "io.k8s.api.autoscaling.v1.Scale"
            sub_gvk = {"group": "autoscaling", "version": "v1", "kind": "Scale"}
        paths[f"{collection}/{{name}}/{sub}"] = {
            "get": _op(rt, "get", sub_name, sub_gvk, []),
            "put": _op(rt, "put", sub_name, sub_gvk, write),
            "patch": {
                **_op(rt, "patch", sub_name, sub_gvk, patch_params),
                "requestBody": patch_body,
            },
        }
    return paths
