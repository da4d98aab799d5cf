"""What a resource URL names: ``/apis/apps/v1/namespaces/ns/deployments/web/scale``."""

from __future__ import annotations

from dataclasses import dataclass

from kube_sandbox.objects import resources
from kube_sandbox.storage.store import ResourceType, Store


@dataclass(frozen=True)
class Target:
    """What a resource URL names: the resource, namespace, object name and subresource."""

    rt: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None


def parse_resource_path(path: str, store: Store | None = None) -> Target | None:
    """Resolve ``/api/v1/namespaces/ns/pods/x/status`` style paths; None when not a resource.

    With ``store``, the custom resources of its established CRDs resolve too.
    """
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return None
    if rest[0] == "namespaces" and len(rest) >= 3:
        rt = resources.by_path(group, version, rest[2], store)
        if rt is not None and rt.namespaced:
            return _target(rt, rest[1], rest[3:])
    rt = resources.by_path(group, version, rest[0], store)
    if rt is None:
        return None
    return _target(rt, None, rest[1:])


def _target(rt: ResourceType, namespace: str | None, rest: list[str]) -> Target | None:
    if len(rest) > 2:
        return None
    name = rest[0] if rest else None
    sub = rest[1] if len(rest) > 1 else None
    if sub is not None and sub not in rt.subresources:
        return None
    return Target(rt, namespace, name, sub)
