"""Is what runs what we said we deployed? Pure checks of a Deployment, its ReplicaSets and pods.

A rollout that completed says only that *some* template became available. Before ci-deploy
prints "Succeeded: X" it checks that the Deployment's template still holds the images it
applied (nobody changed them meanwhile), and that the Ready pods of the app run exactly those
images (no admission webhook rewrote them, no other ReplicaSet still serves).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ci_deploy.kube.client import Obj
from ci_deploy.kube.health import new_replicaset


def _containers(pod_spec: Obj) -> dict[str, str]:
    return {str(c.get("name")): str(c.get("image", "")) for c in pod_spec.get("containers") or []}


def pod_ready(pod: Obj) -> bool:
    """Ready, and not on its way out (a terminating pod leaves the endpoints)."""
    conditions = (pod.get("status") or {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return ready and not pod["metadata"].get("deletionTimestamp")


def image_managers(deployment: Obj, container: str) -> list[str]:
    """Field managers that own the image of ``container`` in the pod template (managedFields)."""
    key = f'k:{{"name":"{container}"}}'
    owners = []
    for entry in deployment["metadata"].get("managedFields") or []:
        fields = entry.get("fieldsV1") or {}
        node = fields
        for step in ("f:spec", "f:template", "f:spec", "f:containers", key):
            node = node.get(step) or {} if isinstance(node, dict) else {}
        if isinstance(node, dict) and "f:image" in node:
            owners.append(str(entry.get("manager")))
    return owners


def template_mismatches(deployment: Obj, expected: Mapping[str, str]) -> list[str]:
    """Containers of the Deployment's template whose image is not the expected one."""
    name = deployment["metadata"]["name"]
    live = _containers(((deployment.get("spec") or {}).get("template") or {}).get("spec") or {})
    problems = []
    for container, image in expected.items():
        found = live.get(container)
        if found == image:
            continue
        owners = [m for m in image_managers(deployment, container) if m != "ci-deploy"]
        by = f" (its image is owned by field manager {', '.join(owners)})" if owners else ""
        problems.append(
            f"deployment/{name} container {container} is set to {found or 'nothing'}, "
            f"not {image}{by}"
        )
    return problems


def pod_mismatches(
    deployment: Obj, replicasets: Iterable[Obj], pods: Iterable[Obj], expected: Mapping[str, str]
) -> list[str]:
    """Ready pods of the app that run other images, and a shortfall of pods that run them."""
    all_pods = [p for p in pods if pod_ready(p)]
    current = new_replicaset(deployment, list(replicasets))
    wanted_hash = ((current or {}).get("metadata") or {}).get("labels", {}).get("pod-template-hash")
    problems = []
    good = 0
    for pod in all_pods:
        running = _containers(pod.get("spec") or {})
        wrong = [
            f"container {c} runs {running.get(c) or 'nothing'}, not {image}"
            for c, image in expected.items()
            if running.get(c) != image
        ]
        pod_hash = (pod["metadata"].get("labels") or {}).get("pod-template-hash")
        if wrong:
            owner = "" if pod_hash == wanted_hash else " (not of the current ReplicaSet)"
            problems.append(f"pod {pod['metadata']['name']}{owner}: {'; '.join(wrong)}")
        else:
            good += 1
    desired = int((deployment.get("spec") or {}).get("replicas", 1))
    if good < desired:
        problems.append(f"only {good} of {desired} Ready pods run the deployed images")
    return problems


def running_mismatches(
    deployment: Obj, replicasets: Iterable[Obj], pods: Iterable[Obj], expected: Mapping[str, str]
) -> list[str]:
    """Everything that differs from "the Deployment and its Ready pods run ``expected``"."""
    return template_mismatches(deployment, expected) + pod_mismatches(
        deployment, replicasets, pods, expected
    )
