"""Server-side apply of rendered objects (field manager ``ci-deploy``, forcing our own fields).

Each object is one ``PATCH`` with ``application/apply-patch+yaml``; Namespaces go first, the rest
in parallel over the client's connection pool (kubectl applies one at a time).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ci_deploy.kube.client import APPLY_PATCH, KubeClient, Obj
from ci_deploy.kube.errors import ApiError

FIELD_MANAGER = "ci-deploy"


class ApplyError(Exception):
    """An object the API server refused; carries the API's own message."""

    def __init__(self, ref: str, error: ApiError) -> None:
        super().__init__(ref)
        self.ref = ref
        self.error = error

    def __str__(self) -> str:
        return f"applying {self.ref}: {self.error.status} {self.error.reason}: {self.error.message}"


def object_ref(obj: Obj) -> str:
    """``Deployment web-app-staging/web-app`` for messages."""
    meta = obj.get("metadata") or {}
    ns = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')} {ns}{meta.get('name')}"


def apply_object(
    client: KubeClient,
    obj: Obj,
    *,
    field_manager: str = FIELD_MANAGER,
    conflict_attempts: int = 5,
    dry_run: bool = False,
) -> Obj:
    """Server-side apply one object; returns the object as stored (or as it would be)."""
    kind = client.resolve_kind(str(obj["apiVersion"]), str(obj["kind"]))
    meta = obj.get("metadata") or {}
    path = kind.path(meta.get("namespace"), meta["name"])
    query = [("fieldManager", field_manager), ("force", "true")]
    if dry_run:
        query.append(("dryRun", "All"))  # the server validates and admits, then stores nothing
    for attempt in range(1, conflict_attempts + 1):
        try:
            return client.request(
                "PATCH",
                path,
                query=query,
                body=obj,
                content_type=APPLY_PATCH,
            )
        except ApiError as exc:
            # An apply carries no resourceVersion, so a Conflict only means "the object moved
            # under the server's feet": the same apply again is safe.
            if exc.is_conflict and attempt < conflict_attempts:
                continue
            raise ApplyError(object_ref(obj), exc) from exc
    raise AssertionError("unreachable")


def apply_objects(
    client: KubeClient,
    objects: list[Obj],
    *,
    field_manager: str = FIELD_MANAGER,
    workers: int = 8,
    dry_run: bool = False,
) -> list[Obj]:
    """Apply every object; results in input order. The first refusal raises ApplyError."""
    results: dict[int, Obj] = {}
    first = [i for i, o in enumerate(objects) if o.get("kind") == "Namespace"]
    rest = [i for i in range(len(objects)) if i not in set(first)]
    for i in first:
        results[i] = apply_object(client, objects[i], field_manager=field_manager, dry_run=dry_run)
    if rest:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(rest)))) as pool:
            futures = {
                i: pool.submit(
                    apply_object, client, objects[i], field_manager=field_manager, dry_run=dry_run
                )
                for i in rest
            }
            for i, future in futures.items():
                results[i] = future.result()
    return [results[i] for i in range(len(objects))]
