"""The registry of REST resources the sandbox serves, as on a real API server.

Each entry is a :class:`ResourceType` (from the store); the store key (``apps/deployments``,
``/pods``) is what the store and the controllers use. Discovery documents, routing and the
openapi documents are all derived from this one list.
"""

from __future__ import annotations

from kube_sandbox.storage.store import ResourceType

# Kinds that ``kubectl get all`` shows (discovery category "all").
_ALL_CATEGORY = {"Pod", "Service", "Deployment", "ReplicaSet", "HorizontalPodAutoscaler"}
_ALL_CATEGORY |= {"StatefulSet", "DaemonSet", "Job", "CronJob"}  # the workload controllers

RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "namespaces", "Namespace", False, ("ns",), ("status",)),
    ResourceType("", "v1", "pods", "Pod", True, ("po",), ("status", "log")),
    ResourceType("", "v1", "services", "Service", True, ("svc",), ("status",)),
    ResourceType("", "v1", "configmaps", "ConfigMap", True, ("cm",)),
    ResourceType("", "v1", "secrets", "Secret", True),
    ResourceType("", "v1", "events", "Event", True, ("ev",)),
    ResourceType("", "v1", "endpoints", "Endpoints", True, ("ep",)),
    ResourceType("apps", "v1", "deployments", "Deployment", True, ("deploy",), ("status", "scale")),
    ResourceType("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",), ("status", "scale")),
    ResourceType(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        True,
        ("hpa",),
        ("status",),
    ),
    ResourceType("networking.k8s.io", "v1", "ingresses", "Ingress", True, ("ing",), ("status",)),
    ResourceType(
        "gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute", True, (), ("status",)
    ),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True),
    ResourceType("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True),
    # Kinds without a controller here: stored, validated and served as a real API server does.
    ResourceType("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",)),
    ResourceType(
        "", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",), ("status",)
    ),
    ResourceType("", "v1", "resourcequotas", "ResourceQuota", True, ("quota",), ("status",)),
    ResourceType("", "v1", "limitranges", "LimitRange", True, ("limits",)),
    ResourceType(
        "policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, ("pdb",), ("status",)
    ),
    ResourceType("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, ("netpol",)),
    ResourceType("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    ResourceType(
        "rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False
    ),
    ResourceType("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, ("pc",)),
    # Workload kinds with a controller (controllers/statefulset.py, daemonset.py, job.py).
    ResourceType("apps", "v1", "statefulsets", "StatefulSet", True, ("sts",), ("status", "scale")),
    ResourceType("apps", "v1", "daemonsets", "DaemonSet", True, ("ds",), ("status",)),
    ResourceType("apps", "v1", "controllerrevisions", "ControllerRevision", True),
    ResourceType("batch", "v1", "jobs", "Job", True, (), ("status",)),
    ResourceType("batch", "v1", "cronjobs", "CronJob", True, ("cj",), ("status",)),
)

# Preferred (and only) version of each group, in the order discovery lists them.
GROUP_VERSIONS: dict[str, str] = {}
for _rt in RESOURCES:
    GROUP_VERSIONS.setdefault(_rt.group, _rt.version)

_BY_PATH = {(rt.group, rt.version, rt.plural): rt for rt in RESOURCES}
_BY_KIND = {(rt.group, rt.kind): rt for rt in RESOURCES}

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
SUBRESOURCE_VERBS = ["get", "patch", "update"]
READ_ONLY_SUBRESOURCES = {"log"}  # GET only; no object to write


def by_path(group: str, version: str, plural: str) -> ResourceType | None:
    """The resource served at ``/apis/<group>/<version>/<plural>`` (or ``/api/v1``)."""
    return _BY_PATH.get((group, version, plural))


def by_kind(api_version: str, kind: str) -> ResourceType | None:
    """The resource for ``apiVersion`` + ``kind`` (e.g. ``apps/v1``, ``Deployment``)."""
    group = api_version.rpartition("/")[0]
    return _BY_KIND.get((group, kind))


def in_group_version(group: str, version: str) -> list[ResourceType]:
    """All resources of one group-version, in registry order."""
    return [rt for rt in RESOURCES if rt.group == group and rt.version == version]


def categories(rt: ResourceType) -> list[str]:
    """Discovery categories of a resource (``all`` for the workload kinds)."""
    return ["all"] if rt.kind in _ALL_CATEGORY else []


def has_status(rt: ResourceType) -> bool:
    """Whether writes to the main resource ignore ``status`` (it has a status subresource)."""
    return "status" in rt.subresources
