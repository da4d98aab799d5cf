"""The ApplySet of an app in one namespace (KEP-3659): which objects ci-deploy applied for it.

The parent is a Secret, ``applyset-<app>``, labelled ``applyset.kubernetes.io/id`` and
annotated with the tooling and ``applyset.kubernetes.io/contains-group-kinds`` as the KEP
says; members carry ``applyset.kubernetes.io/part-of: <id>``, so ``kubectl get -l`` and other
ApplySet-aware tools see the same set. ci-deploy also records the members of the last apply
on the parent (``ci-deploy.dev/applyset-members``): pruning deletes members no longer in it,
and only objects that carry the label *and* whose fields ci-deploy applied (a managedFields
entry of manager ci-deploy, operation Apply) — never anything another tool or person made.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ci_deploy.kube.client import KNOWN_KINDS, KubeClient, Obj, ResourceKind
from ci_deploy.kube.errors import ApiError

ID_LABEL = "applyset.kubernetes.io/id"
PART_OF_LABEL = "applyset.kubernetes.io/part-of"
TOOLING_ANNOTATION = "applyset.kubernetes.io/tooling"
KINDS_ANNOTATION = "applyset.kubernetes.io/contains-group-kinds"
MEMBERS_ANNOTATION = "ci-deploy.dev/applyset-members"
FIELD_MANAGER = "ci-deploy"


@dataclass(frozen=True)
class ApplySet:
    """The app's set in ``namespace``: its parent Secret and its id."""

    app: str
    namespace: str

    @property
    def parent_name(self) -> str:
        return f"applyset-{self.app}"

    @property
    def id(self) -> str:
        """``applyset-<base64url(sha256(<name>.<namespace>.<kind>.<group>))>-v1`` (the KEP)."""
        digest = hashlib.sha256(f"{self.parent_name}.{self.namespace}.Secret.".encode()).digest()
        return f"applyset-{base64.urlsafe_b64encode(digest).decode().rstrip('=')}-v1"

    @property
    def parent_path(self) -> str:
        return KNOWN_KINDS[("v1", "Secret")].path(self.namespace, self.parent_name)


@dataclass(frozen=True)
class Membership:
    """What one apply makes the set: ``members`` (member keys) of ``applyset``."""

    applyset: ApplySet
    members: tuple[str, ...]

    def write_parent(self, client: KubeClient, apply: Callable[[KubeClient, Obj], Obj]) -> None:
        """Record the members on the parent before they are applied; the kinds of an earlier
        apply stay listed until a prune has looked at them (the KEP's order)."""
        live_kinds, _ = read_parent(client, self.applyset)
        apply(client, parent_object(self.applyset, self.members, live_kinds))


def group_kind(obj: Obj) -> str:
    """``Deployment.apps``; ``Service`` for the core group (the KEP's spelling)."""
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    kind = str(obj.get("kind"))
    return f"{kind}.{group}" if group else kind


def member_key(obj: Obj) -> str:
    """``Deployment.apps/web-app``: what the members annotation lists."""
    return f"{group_kind(obj)}/{(obj.get('metadata') or {}).get('name')}"


def with_membership(objects: Iterable[Obj], applyset: ApplySet) -> list[Obj]:
    """Copies of ``objects`` labelled as members of ``applyset``."""
    out = []
    for obj in objects:
        copy = {**obj, "metadata": {**(obj.get("metadata") or {})}}
        copy["metadata"]["labels"] = {
            **(copy["metadata"].get("labels") or {}),
            PART_OF_LABEL: applyset.id,
        }
        out.append(copy)
    return out


def kind_of_key(key: str) -> str:
    """``Deployment.apps/web-app`` → ``Deployment.apps``."""
    return key.partition("/")[0]


def parent_object(applyset: ApplySet, members: Iterable[str], extra_kinds: Iterable[str]) -> Obj:
    """The parent Secret listing ``members`` (member keys) and the group kinds of them and of
    ``extra_kinds`` (kinds an earlier apply had, until a prune has looked at them)."""
    keys = sorted(set(members))
    kinds = sorted({kind_of_key(k) for k in keys} | set(extra_kinds))
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": applyset.parent_name,
            "namespace": applyset.namespace,
            "labels": {ID_LABEL: applyset.id, "app.kubernetes.io/managed-by": "ci-deploy"},
            "annotations": {
                TOOLING_ANNOTATION: "ci-deploy/v1",
                KINDS_ANNOTATION: ",".join(kinds),
                MEMBERS_ANNOTATION: ",".join(keys),
            },
        },
    }


def read_parent(client: KubeClient, applyset: ApplySet) -> tuple[set[str], set[str] | None]:
    """(group kinds, members) recorded on the live parent; members None when there is none."""
    parent = client.get_or_none(applyset.parent_path)
    if parent is None:
        return set(), None
    notes = (parent.get("metadata") or {}).get("annotations") or {}
    kinds = {k for k in str(notes.get(KINDS_ANNOTATION, "")).split(",") if k}
    members = {m for m in str(notes.get(MEMBERS_ANNOTATION, "")).split(",") if m}
    return kinds, members


def stale_members(
    client: KubeClient,
    applyset: ApplySet,
    kinds: Iterable[str],
    current: set[str],
    *,
    exclude_labels: Iterable[str] = (),
    managers: Iterable[str] = (FIELD_MANAGER,),
) -> list[Obj]:
    """Members of ``applyset`` of ``kinds`` not in ``current`` that ci-deploy applied (a
    server-side apply by one of ``managers``).

    Objects carrying any of ``exclude_labels`` are left alone (workloads a strategy made and
    manages itself, such as a canary or the idle colour of a blue-green app).
    """
    excluded = set(exclude_labels)
    appliers = set(managers)
    found: list[Obj] = []
    for name in sorted(set(kinds)):
        resource = resource_for(client, name)
        if resource is None:
            continue  # a kind the API no longer serves: nothing of it can be left
        listed = client.get(
            resource.path(applyset.namespace),
            query=[("labelSelector", f"{PART_OF_LABEL}={applyset.id}")],
        )
        for item in listed.get("items") or []:
            meta = item.get("metadata") or {}
            item.setdefault("apiVersion", resource.api_version)
            item.setdefault("kind", resource.kind)
            if member_key(item) in current or excluded & set(meta.get("labels") or {}):
                continue
            if _applied_by(item, appliers):
                found.append(item)
    return found


def _applied_by(obj: Obj, managers: set[str]) -> bool:
    entries = (obj.get("metadata") or {}).get("managedFields") or []
    return any(e.get("manager") in managers and e.get("operation") == "Apply" for e in entries)


def resource_for(client: KubeClient, name: str) -> ResourceKind | None:
    """The resource of group kind ``name`` (``CronJob.batch``), or None when not served."""
    kind, _, group = name.partition(".")
    for (api_version, known_kind), resource in KNOWN_KINDS.items():
        if known_kind == kind and api_version.rpartition("/")[0] == group:
            return resource
    try:
        if not group:
            return client.resolve_kind("v1", kind)
        preferred = client.get(f"/apis/{group}").get("preferredVersion") or {}
        return client.resolve_kind(str(preferred.get("groupVersion", f"{group}/v1")), kind)
    except (ApiError, LookupError, ValueError):
        return None


def member_path(client: KubeClient, obj: Obj) -> str | None:
    """The API path of ``obj``; None when its kind is no longer served."""
    meta = obj.get("metadata") or {}
    resource = resource_for(client, group_kind(obj))
    if resource is None:
        return None
    return resource.path(meta.get("namespace"), str(meta.get("name")))


def delete_path(client: KubeClient, path: str) -> None:
    """Delete the object at ``path`` (background propagation, as kubectl's prune); gone
    already is fine."""
    try:
        client.request(
            "DELETE",
            path,
            body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"},
        )
    except ApiError as exc:
        if exc.status != 404:
            raise


def delete(client: KubeClient, obj: Obj) -> None:
    """Delete one member (see :func:`delete_path`); a kind no longer served has none left."""
    path = member_path(client, obj)
    if path is not None:
        delete_path(client, path)
