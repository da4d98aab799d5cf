"""Revisions of a Deployment: its ReplicaSets, their pod templates, and restoring one exactly.

A rollback here replaces the Deployment's pod template with a template we recorded (or the one
of a chosen ReplicaSet revision), instead of ``kubectl rollout undo``'s "whatever came before",
which after a failed rollout can be the broken revision itself.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from ci_deploy.kube.client import DEPLOYMENT, REPLICASET, KubeClient, Obj
from ci_deploy.kube.errors import ApiError
from ci_deploy.kube.health import REVISION_ANNOTATION, strip_hash
from ci_deploy.kube.watch import selector_text

RESTORE_FIELD_MANAGER = "ci-deploy"


@dataclass(frozen=True)
class Revision:
    """One ReplicaSet of a Deployment, as ``kubectl rollout history`` lists it."""

    number: int
    replicaset: str
    image: str
    template: Obj


def pod_template(deployment: Obj) -> Obj:
    """A deep copy of the Deployment's pod template."""
    return copy.deepcopy((deployment.get("spec") or {}).get("template") or {})


def template_image(template: Obj, container: str | None = None) -> str:
    """The image of the application's container: ``container`` by name, else the first.

    "" when the template has no such container.
    """
    containers = ((template.get("spec") or {}).get("containers")) or []
    if container is not None:
        named = [c for c in containers if c.get("name") == container]
        return str(named[0].get("image", "")) if named else ""
    return str(containers[0].get("image", "")) if containers else ""


def template_images(template: Obj) -> dict[str, str]:
    """Container name → image, for every container and init container of a pod template."""
    spec = template.get("spec") or {}
    found: dict[str, str] = {}
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            found[str(c.get("name"))] = str(c.get("image", ""))
    return found


def revisions(client: KubeClient, deployment: Obj) -> list[Revision]:
    """The Deployment's ReplicaSets as revisions, oldest first."""
    meta = deployment["metadata"]
    selector = selector_text(deployment)
    doc = client.get(REPLICASET.path(meta["namespace"]), [("labelSelector", selector)])
    found: list[Revision] = []
    for rs in doc.get("items") or []:
        owners = rs["metadata"].get("ownerReferences") or []
        if not any(o.get("uid") == meta.get("uid") for o in owners):
            continue
        number = (rs["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION)
        if number is None or not str(number).isdigit():
            continue
        template = strip_hash(rs["spec"]["template"])
        found.append(
            Revision(int(number), rs["metadata"]["name"], template_image(template), template)
        )
    return sorted(found, key=lambda r: r.number)


def restore_template(
    client: KubeClient, namespace: str, name: str, template: Obj, *, attempts: int = 10
) -> Obj:
    """Replace the Deployment's pod template with ``template`` (PUT with resourceVersion)."""
    path = DEPLOYMENT.path(namespace, name)
    last: ApiError | None = None
    for _ in range(attempts):
        deployment = client.get(path)
        deployment["spec"]["template"] = copy.deepcopy(template)
        # Omitted managedFields are kept by the server; sent back they would be rewritten.
        deployment["metadata"].pop("managedFields", None)
        try:
            return client.request(
                "PUT", path, body=deployment, query=[("fieldManager", RESTORE_FIELD_MANAGER)]
            )
        except ApiError as exc:
            if not exc.is_conflict:
                raise
            last = exc  # the controller updated status meanwhile: re-read, replace again
    assert last is not None
    raise last


def replicaset_revision(deployment: Obj, replicaset: Obj) -> Revision | None:
    """The revision ``replicaset`` stands for (None: not owned by ``deployment``, or unnumbered).

    The same rule as :func:`revisions`, for one ReplicaSet a caller has already listed.
    """
    meta = replicaset["metadata"]
    uid = deployment["metadata"].get("uid")
    if not any(o.get("uid") == uid for o in meta.get("ownerReferences") or []):
        return None
    number = (meta.get("annotations") or {}).get(REVISION_ANNOTATION)
    if number is None or not str(number).isdigit():
        return None
    template = strip_hash(replicaset["spec"]["template"])
    return Revision(int(number), meta["name"], template_image(template), template)
