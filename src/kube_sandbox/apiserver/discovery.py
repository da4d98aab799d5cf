"""Discovery documents: ``/version``, ``/api``, ``/api/v1``, ``/apis``, ``/apis/<g>[/<v>]``.

Only the legacy (unaggregated) forms are served. kubectl 1.32 asks for aggregated discovery
(``application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList``) but lists plain
``application/json`` last in its Accept header and falls back to the plain documents when the
response's Content-Type is plain JSON.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from kube_sandbox.objects import resources, schema
from kube_sandbox.storage.store import ResourceType, Store

Obj = dict[str, Any]

VERSION_INFO: Obj = {
    "major": "1",
    "minor": schema.KUBE_MINOR,
    "gitVersion": f"v1.{schema.KUBE_MINOR}.4+ci-deploy-sandbox",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-04-22T16:00:00Z",
    "goVersion": "go1.23.6",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def document(path: str, store: Store | None = None) -> Obj | None:
    """The discovery document at ``path`` (no trailing slash), or None if it is not one.

    With ``store``, the groups and resources of its established CRDs are listed too.
    """
    if path == "/version":
        return dict(VERSION_INFO)
    if path == "/api":
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}
            ],
        }
    if path == "/api/v1":
        return resource_list("", "v1", store)
    served = resources.group_versions(store)
    if path == "/apis":
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [api_group(g, served[g]) for g in served if g],
        }
    parts = path.split("/")
    if len(parts) == 3 and parts[1] == "apis" and parts[2] in served:
        return {"kind": "APIGroup", "apiVersion": "v1", **api_group(parts[2], served[parts[2]])}
    if len(parts) == 4 and parts[1] == "apis" and parts[3] in served.get(parts[2], ()):
        return resource_list(parts[2], parts[3], store)
    return None


def api_group(group: str, versions: list[str] | None = None) -> Obj:
    """One entry of ``APIGroupList`` (``versions``: preferred first)."""
    versions = versions or [resources.GROUP_VERSIONS[group]]
    listed = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": listed, "preferredVersion": listed[0]}


def resource_list(group: str, version: str, store: Store | None = None) -> Obj:
    """The ``APIResourceList`` of one group-version, subresources included."""
    entries: list[Obj] = []
    for rt in resources.in_group_version(group, version, store):
        entries.append(_resource_entry(rt, store))
        for sub in rt.subresources:
            entries.append(_subresource_entry(rt, sub))
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": entries,
    }


def storage_version_hash(group: str, version: str, kind: str) -> str:
    """Upstream's ``storageVersionHash``: base64 of the first 8 bytes of sha256(g/v/kind)."""
    digest = hashlib.sha256(f"{group}/{version}/{kind}".encode()).digest()[:8]
    return base64.b64encode(digest).decode()


def _resource_entry(rt: ResourceType, store: Store | None = None) -> Obj:
    verbs = list(resources.VERBS)
    if rt.kind == "Namespace":
        verbs.remove("deletecollection")
    custom = resources.custom(rt, store)
    singular = custom.singular if custom is not None else rt.kind.lower()
    if custom is not None:
        verbs = ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"]
        if custom.terminating:
            verbs = ["delete", "deletecollection", "get", "list", "watch"]
    entry: Obj = {
        "name": rt.plural,
        "singularName": singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": verbs,
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    cats = resources.categories(rt, store)
    if cats:
        entry["categories"] = cats
    if custom is not None:
        entry["storageVersionHash"] = storage_version_hash(
            rt.group, custom.storage_version, rt.kind
        )
    return entry


def _subresource_entry(rt: ResourceType, sub: str) -> Obj:
    entry: Obj = {
        "name": f"{rt.plural}/{sub}",
        "singularName": "",
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": ["get"]
        if sub in resources.READ_ONLY_SUBRESOURCES
        else list(resources.SUBRESOURCE_VERBS),
    }
    if sub == "scale":
        entry.update(kind="Scale", group="autoscaling", version="v1")
    return entry
