"""The deployed image in every source: it replaces each container image of the configured
repository (like ``kustomize edit set image``), whatever tag or digest the manifest had."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Where each workload kind keeps its pod template's spec.
_POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


@dataclass(frozen=True)
class Substitution:
    """One container image replaced: where, and from what to what."""

    source: str  # the template or file
    kind: str
    name: str
    container: str
    before: str
    after: str

    def describe(self) -> str:
        return (
            f"{self.source}: {self.kind}/{self.name} container {self.container}: "
            f"{self.before} -> {self.after}"
        )


def repository_of(reference: str) -> str:
    """``reg:5000/team/app:1.2@sha256:…`` → ``reg:5000/team/app``."""
    name = reference.split("@", 1)[0]
    head, slash, last = name.rpartition("/")
    if ":" in last:
        last = last.split(":", 1)[0]
    return f"{head}{slash}{last}"


def containers_of(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The containers and init containers of a workload's pod template ([] for other kinds)."""
    path = _POD_SPEC_PATHS.get(str(obj.get("kind")))
    if path is None:
        return []
    spec: Any = obj
    for key in path:
        spec = spec.get(key) if isinstance(spec, dict) else None
    if not isinstance(spec, dict):
        return []
    found: list[dict[str, Any]] = []
    for field in ("initContainers", "containers"):
        items = spec.get(field)
        if isinstance(items, list):
            found += [c for c in items if isinstance(c, dict)]
    return found


def substitute_image(
    obj: dict[str, Any], source: str, repository: str, image: str
) -> list[Substitution]:
    """Set ``image`` on every container of ``obj`` running an image of ``repository``."""
    done: list[Substitution] = []
    for container in containers_of(obj):
        before = container.get("image")
        if not isinstance(before, str) or repository_of(before) != repository:
            continue
        if before != image:
            container["image"] = image
            metadata = obj.get("metadata") or {}
            done.append(
                Substitution(
                    source,
                    str(obj.get("kind")),
                    str(metadata.get("name")),
                    str(container.get("name")),
                    before,
                    image,
                )
            )
    return done
