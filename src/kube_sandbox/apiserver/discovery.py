"""Discovery documents: ``/version``, ``/api``, ``/api/v1``, ``/apis``, ``/apis/<g>[/<v>]``.

Only the legacy (unaggregated) forms are served. kubectl 1.32 asks for aggregated discovery
(``application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList``) but lists plain
``application/json`` last in its Accept header and falls back to the plain documents when the
response's Content-Type is plain JSON.
"""

from __future__ import annotations

from typing import Any

from kube_sandbox.objects import resources, schema
from kube_sandbox.storage.store import ResourceType

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


def document(path: str) -> Obj | None:
    """The discovery document at ``path`` (no trailing slash), or None if it is not one."""
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
        return resource_list("", "v1")
    if path == "/apis":
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [api_group(g) for g in resources.GROUP_VERSIONS if g],
        }
    parts = path.split("/")
    if len(parts) == 3 and parts[1] == "apis" and parts[2] in resources.GROUP_VERSIONS:
        return {"kind": "APIGroup", "apiVersion": "v1", **api_group(parts[2])}
    if (
        len(parts) == 4
        and parts[1] == "apis"
        and resources.GROUP_VERSIONS.get(parts[2]) == parts[3]
    ):
        return resource_list(parts[2], parts[3])
    return None


def api_group(group: str) -> Obj:
    """One entry of ``APIGroupList``."""
    version = resources.GROUP_VERSIONS[group]
    gv = {"groupVersion": f"{group}/{version}", "version": version}
    return {"name": group, "versions": [gv], "preferredVersion": gv}


def resource_list(group: str, version: str) -> Obj:
    """The ``APIResourceList`` of one group-version, subresources included."""
    entries: list[Obj] = []
    for rt in resources.in_group_version(group, version):
        entries.append(_resource_entry(rt))
        for sub in rt.subresources:
            entries.append(_subresource_entry(rt, sub))
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": entries,
    }


def _resource_entry(rt: ResourceType) -> Obj:
    verbs = list(resources.VERBS)
    if rt.kind == "Namespace":
        verbs.remove("deletecollection")
    entry: Obj = {
        "name": rt.plural,
        "singularName": rt.kind.lower(),
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": verbs,
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    cats = resources.categories(rt)
    if cats:
        entry["categories"] = cats
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
