"""The registry of REST resources the sandbox serves, as on a real API server.

Each entry is a :class:`ResourceType` (from the store); the store key (``apps/deployments``,
``/pods``) is what the store and the controllers use. Discovery documents, routing and the
openapi documents are all derived from this registry.

Two sources make it:

- **Built-in kinds**: every kind of Kubernetes 1.32 a user can apply. The version served for
  each is the one the bundled 1.32 schema definitions carry (``schema.py``,
  ``x-kubernetes-group-version-kind``); what the schema cannot tell (plural, scope, short
  names, subresources, categories) is :data:`BUILTIN_FACTS` below, the one hand-written table
  of resource facts. It was transcribed from upstream 1.32's discovery (what
  ``kubectl api-resources -o wide`` lists on a 1.32 cluster; the apiserver's
  ``pkg/registry/*/rest/storage_*.go``). Only the subresources the sandbox serves are listed
  (``status``, ``scale``, ``log``; not ``exec``, ``proxy``, ``token``, ``eviction``...).
  Left out on purpose: virtual kinds without storage (TokenReview, SubjectAccessReview and
  the other reviews, SelfSubjectReview), subresource-only kinds (Binding, Eviction, Scale,
  TokenRequest), ComponentStatus (read-only, deprecated), the ``events.k8s.io`` view of
  Events (the core ``v1`` Event is served) and alpha/beta-only groups that 1.32 does not
  enable by default.
- **Custom kinds**: the kinds of the established CustomResourceDefinitions of one store
  (:class:`Registry`, built from the store's CRDs and updated from its change events). The
  functions below take an optional ``store``: without it they answer for the built-in kinds
  only. Readers take a consistent snapshot (the custom map is replaced, never mutated).
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

from kube_sandbox.objects import schema
from kube_sandbox.storage.store import ResourceType, Store, WatchEvent

Obj = dict[str, Any]

# group kind plural scope(N|C) short-names(,) subresources(,) categories(,); "-" for none;
# plural "+" is the lower-cased kind + "s"; category "ext" is "api-extensions".
# The hand-written overrides of the registry live here and only here.
BUILTIN_FACTS = """
- Namespace namespaces C ns status -
- Pod pods N po status,log all
- Service services N svc status all
- ConfigMap configmaps N cm - -
- Secret secrets N - - -
- Event events N ev - -
- Endpoints endpoints N ep - -
- ServiceAccount serviceaccounts N sa - -
- PersistentVolumeClaim persistentvolumeclaims N pvc status -
- PersistentVolume persistentvolumes C pv status -
- ResourceQuota resourcequotas N quota status -
- LimitRange limitranges N limits - -
- Node nodes C no status -
- PodTemplate podtemplates N - - -
- ReplicationController replicationcontrollers N rc status,scale all
apps Deployment deployments N deploy status,scale all
apps ReplicaSet replicasets N rs status,scale all
apps StatefulSet statefulsets N sts status,scale all
apps DaemonSet daemonsets N ds status all
apps ControllerRevision controllerrevisions N - - -
autoscaling HorizontalPodAutoscaler horizontalpodautoscalers N hpa status all
batch Job jobs N - status all
batch CronJob cronjobs N cj status all
networking.k8s.io Ingress ingresses N ing status -
networking.k8s.io IngressClass ingressclasses C - - -
networking.k8s.io NetworkPolicy networkpolicies N netpol - -
coordination.k8s.io Lease leases N - - -
discovery.k8s.io EndpointSlice endpointslices N - - -
policy PodDisruptionBudget poddisruptionbudgets N pdb status -
rbac.authorization.k8s.io Role roles N - - -
rbac.authorization.k8s.io RoleBinding rolebindings N - - -
rbac.authorization.k8s.io ClusterRole clusterroles C - - -
rbac.authorization.k8s.io ClusterRoleBinding clusterrolebindings C - - -
scheduling.k8s.io PriorityClass priorityclasses C pc - -
storage.k8s.io StorageClass storageclasses C sc - -
storage.k8s.io CSIDriver csidrivers C - - -
storage.k8s.io CSINode csinodes C - - -
storage.k8s.io CSIStorageCapacity csistoragecapacities N - - -
storage.k8s.io VolumeAttachment volumeattachments C - status -
node.k8s.io RuntimeClass runtimeclasses C - - -
certificates.k8s.io CertificateSigningRequest certificatesigningrequests C csr status -
admissionregistration.k8s.io MutatingWebhookConfiguration mutatingwebhookconfigurations C - - ext
admissionregistration.k8s.io ValidatingWebhookConfiguration + C - - ext
admissionregistration.k8s.io ValidatingAdmissionPolicy validatingadmissionpolicies C - status ext
admissionregistration.k8s.io ValidatingAdmissionPolicyBinding + C - - ext
apiextensions.k8s.io CustomResourceDefinition customresourcedefinitions C crd,crds status ext
apiregistration.k8s.io APIService apiservices C - status ext
flowcontrol.apiserver.k8s.io FlowSchema flowschemas C - status -
flowcontrol.apiserver.k8s.io PriorityLevelConfiguration prioritylevelconfigurations C - status -
"""

# The preferred version where the schema definitions carry several GA ones.
_PREFERRED = {("autoscaling", "HorizontalPodAutoscaler"): "v2"}


def _dash(text: str) -> tuple[str, ...]:
    return () if text == "-" else tuple(text.split(","))


def _served_version(group: str, kind: str) -> str:
    """The GA version of a kind in the bundled 1.32 definitions (``v1``, ``v2``)."""
    preferred = _PREFERRED.get((group, kind))
    versions = sorted(
        gvk[1]
        for gvk in schema.group_version_kinds()
        if gvk[0] == group and gvk[2] == kind and "alpha" not in gvk[1] and "beta" not in gvk[1]
    )
    if preferred is not None and preferred in versions:
        return preferred
    if not versions:
        raise RuntimeError(f"no 1.32 schema definition for {group or 'core'} {kind}")
    return versions[0]


def _builtins() -> tuple[tuple[ResourceType, ...], dict[str, tuple[str, ...]]]:
    out: list[ResourceType] = []
    cats: dict[str, tuple[str, ...]] = {}
    for line in BUILTIN_FACTS.strip().splitlines():
        group, kind, plural, scope, shorts, subs, categories_ = line.split()
        group = "" if group == "-" else group
        plural = f"{kind.lower()}s" if plural == "+" else plural
        rt = ResourceType(
            group,
            _served_version(group, kind),
            plural,
            kind,
            scope == "N",
            _dash(shorts),
            _dash(subs),
        )
        out.append(rt)
        cats[rt.key] = tuple("api-extensions" if c == "ext" else c for c in _dash(categories_))
    return tuple(out), cats


RESOURCES, _CATEGORIES = _builtins()

# Preferred (and only) version of each built-in group, in the order discovery lists them.
GROUP_VERSIONS: dict[str, str] = {}
for _rt in RESOURCES:
    GROUP_VERSIONS.setdefault(_rt.group, _rt.version)

_BY_PATH = {(rt.group, rt.version, rt.plural): rt for rt in RESOURCES}
_BY_KIND = {(rt.group, rt.kind): rt for rt in RESOURCES}

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
SUBRESOURCE_VERBS = ["get", "patch", "update"]
READ_ONLY_SUBRESOURCES = {"log"}  # GET only; no object to write

CRD_KEY = "apiextensions.k8s.io/customresourcedefinitions"


# -- custom kinds ------------------------------------------------------------------------------
@dataclass(frozen=True)
class CustomKind:
    """What a served version of a CRD adds to its ResourceType."""

    rt: ResourceType
    crd_name: str
    singular: str
    categories: tuple[str, ...]
    schema: Obj | None  # the version's openAPIV3Schema
    printer_columns: tuple[Obj, ...]
    scale: Obj | None  # subresources.scale: specReplicasPath, statusReplicasPath, ...
    storage_version: str
    preferred_version: str
    terminating: bool = False


@dataclass
class _Snapshot:
    kinds: dict[tuple[str, str, str], CustomKind] = field(default_factory=dict)  # g, v, plural
    by_kind: dict[tuple[str, str, str], CustomKind] = field(default_factory=dict)  # g, v, kind
    group_versions: dict[str, list[str]] = field(default_factory=dict)


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Kube-aware version order key: v2 < v1 < v1beta2 < v1beta1 < v1alpha1 < others."""
    import re

    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not match:
        return (3, 0, 0, version)
    major, level, minor = match.groups()
    rank = {None: 0, "beta": 1, "alpha": 2}[level]
    return (rank, -int(major), -int(minor or 0), "")


def is_established(crd: Obj) -> bool:
    """Whether a CRD's Established condition is True."""
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def _custom_kinds(crd: Obj) -> list[CustomKind]:
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = str(spec.get("group", ""))
    versions = [v for v in spec.get("versions") or [] if v.get("served")]
    if not versions or not names.get("plural") or not names.get("kind"):
        return []
    storage = next((v["name"] for v in spec.get("versions") or [] if v.get("storage")), "")
    preferred = sorted((v["name"] for v in versions), key=version_priority)[0]
    out = []
    for version in versions:
        subresources = version.get("subresources") or {}
        subs = tuple(s for s in ("status", "scale") if s in subresources)
        rt = ResourceType(
            group,
            str(version["name"]),
            str(names["plural"]),
            str(names["kind"]),
            spec.get("scope", "Namespaced") == "Namespaced",
            tuple(names.get("shortNames") or ()),
            subs,
        )
        out.append(
            CustomKind(
                rt=rt,
                crd_name=crd["metadata"]["name"],
                singular=str(names.get("singular") or names["kind"].lower()),
                categories=tuple(names.get("categories") or ()),
                schema=(version.get("schema") or {}).get("openAPIV3Schema"),
                printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
                scale=subresources.get("scale"),
                storage_version=storage,
                preferred_version=preferred,
                terminating=bool(crd["metadata"].get("deletionTimestamp")),
            )
        )
    return out


class Registry:
    """The custom kinds of one store: its established CRDs, kept current from its events."""

    def __init__(self, store: Store) -> None:
        self._store_ref = weakref.ref(store)
        self._lock = threading.Lock()
        self.snapshot = _Snapshot()
        with store.lock:
            store.subscribe(self._on_event)
            self.rebuild()

    def _on_event(self, event: WatchEvent) -> None:
        if event.resource == CRD_KEY:
            self.rebuild()

    def rebuild(self) -> None:
        """Recompute the custom kinds from the store's CRDs (called under the store lock)."""
        store = self._store_ref()
        if store is None:
            return
        crds, _ = store.list(CRD_KEY, shared=True)
        snap = _Snapshot()
        for crd in crds:
            if not is_established(crd):
                continue
            for custom in _custom_kinds(crd):
                rt = custom.rt
                if (rt.group, rt.kind) in _BY_KIND or (rt.group, rt.version, rt.plural) in _BY_PATH:
                    continue  # a built-in kind wins
                snap.kinds[(rt.group, rt.version, rt.plural)] = custom
                snap.by_kind[(rt.group, rt.version, rt.kind)] = custom
                snap.group_versions.setdefault(rt.group, [])
                if rt.version not in snap.group_versions[rt.group]:
                    snap.group_versions[rt.group].append(rt.version)
        for group, versions in snap.group_versions.items():
            snap.group_versions[group] = sorted(versions, key=version_priority)
        with self._lock:
            self.snapshot = snap


_REGISTRIES: weakref.WeakKeyDictionary[Store, Registry] = weakref.WeakKeyDictionary()
_REGISTRIES_LOCK = threading.Lock()


def registry_of(store: Store) -> Registry:
    """The custom-kind registry of ``store`` (made, from its CRDs, on first use)."""
    registry = _REGISTRIES.get(store)
    if registry is not None:
        return registry
    # the store's lock first (as writers hold it when they look kinds up), then the map's
    with store.lock:
        registry = _REGISTRIES.get(store)
        if registry is None:
            registry = Registry(store)
            with _REGISTRIES_LOCK:
                _REGISTRIES[store] = registry
    return registry


def _snap(store: Store | None) -> _Snapshot | None:
    return registry_of(store).snapshot if store is not None else None


# -- lookups (built-ins, plus a store's custom kinds when given) ---------------------------
def by_path(
    group: str, version: str, plural: str, store: Store | None = None
) -> ResourceType | None:
    """The resource served at ``/apis/<group>/<version>/<plural>`` (or ``/api/v1``)."""
    rt = _BY_PATH.get((group, version, plural))
    snap = _snap(store)
    if rt is None and snap is not None:
        custom = snap.kinds.get((group, version, plural))
        rt = custom.rt if custom is not None else None
    return rt


def by_kind(api_version: str, kind: str, store: Store | None = None) -> ResourceType | None:
    """The resource for ``apiVersion`` + ``kind`` (e.g. ``apps/v1``, ``Deployment``)."""
    group, _, version = api_version.rpartition("/")
    rt = _BY_KIND.get((group, kind))
    snap = _snap(store)
    if rt is None and snap is not None:
        custom = snap.by_kind.get((group, version, kind))
        rt = custom.rt if custom is not None else None
    return rt


def custom(rt: ResourceType, store: Store | None) -> CustomKind | None:
    """The CRD facts of a custom resource (None for a built-in one)."""
    snap = _snap(store)
    if snap is None:
        return None
    found = snap.kinds.get((rt.group, rt.version, rt.plural))
    return found if found is not None and found.rt == rt else None


def all_resources(store: Store | None = None) -> list[ResourceType]:
    """Every served resource: the built-ins, then the store's custom ones."""
    snap = _snap(store)
    extra = [c.rt for c in snap.kinds.values()] if snap is not None else []
    return [*RESOURCES, *extra]


def store_keys(store: Store | None = None) -> list[str]:
    """The distinct store keys of every served resource (one per kind, across versions)."""
    return list(dict.fromkeys(rt.key for rt in all_resources(store)))


def group_versions(store: Store | None = None) -> dict[str, list[str]]:
    """Every served group → its versions, preferred first (built-ins, then custom groups)."""
    out = {group: [version] for group, version in GROUP_VERSIONS.items()}
    snap = _snap(store)
    if snap is not None:
        for group, versions in snap.group_versions.items():
            out.setdefault(group, list(versions))
    return out


def in_group_version(group: str, version: str, store: Store | None = None) -> list[ResourceType]:
    """All resources of one group-version, in registry order."""
    return [rt for rt in all_resources(store) if rt.group == group and rt.version == version]


def categories(rt: ResourceType, store: Store | None = None) -> list[str]:
    """Discovery categories of a resource (``all`` for the workload kinds)."""
    found = custom(rt, store)
    if found is not None:
        return list(found.categories)
    return list(_CATEGORIES.get(rt.key, ()))


def has_status(rt: ResourceType) -> bool:
    """Whether writes to the main resource ignore ``status`` (it has a status subresource)."""
    return "status" in rt.subresources
