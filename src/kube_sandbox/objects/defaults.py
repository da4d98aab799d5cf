"""Defaulting: fill what a real API server fills, so responses are complete objects.

The official Python client validates responses against its models, and kubectl's printers and
``rollout`` read defaulted fields (``spec.strategy``, ``revisionHistoryLimit``, ...). The values
are the upstream defaults (``pkg/apis/*/v1/defaults.go``) for the fields ci-deploy and its tests
touch. Defaulting is idempotent: applying it to a defaulted object changes nothing.
"""

from __future__ import annotations

import base64
import itertools
import threading
from collections.abc import Callable
from typing import Any

Obj = dict[str, Any]

_CLUSTER_IPS = itertools.count(10)
_IP_LOCK = threading.Lock()


def apply_defaults(kind: str, obj: Obj) -> Obj:
    """Fill defaults of ``kind`` into ``obj`` in place and return it."""
    obj.setdefault("metadata", {})
    handler = _BY_KIND.get(kind)
    if handler is not None:
        handler(obj)
    return obj


def initial_status(kind: str) -> Obj | None:
    """The status a freshly created object of ``kind`` carries (status is not user-settable)."""
    if kind == "ReplicaSet":
        return {"replicas": 0}
    if kind in ("Deployment",):
        return {}
    if kind == "Pod":
        return {"phase": "Pending", "qosClass": "BestEffort"}
    if kind in ("Service", "Ingress"):
        return {"loadBalancer": {}}
    if kind == "HorizontalPodAutoscaler":
        return {"currentReplicas": 0, "desiredReplicas": 0}
    if kind == "Namespace":
        return {"phase": "Active"}
    if kind == "StatefulSet":
        return {"replicas": 0, "availableReplicas": 0}
    if kind == "DaemonSet":
        return dict.fromkeys(_DAEMONSET_COUNTS, 0)
    if kind in ("Job", "CronJob"):
        return {}
    return None


# DaemonSetStatus fields serialized even when 0 (no omitempty upstream).
_DAEMONSET_COUNTS = (
    "currentNumberScheduled",
    "numberMisscheduled",
    "desiredNumberScheduled",
    "numberReady",
)


_NODE_PORTS = itertools.count(30000)


def allocate_node_port() -> int:
    """A fresh NodePort in 30000-32767 (wrapping; the sandbox has no real nodes)."""
    with _IP_LOCK:
        return 30000 + (next(_NODE_PORTS) - 30000) % 2768


def allocate_cluster_ip() -> str:
    """A fresh service ClusterIP in 10.96.0.0/16."""
    with _IP_LOCK:
        n = next(_CLUSTER_IPS)
    return f"10.96.{(n >> 8) & 0xFF}.{n & 0xFF}"


# -- pods ------------------------------------------------------------------------------------
def _container(container: Obj) -> None:
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    image = str(container.get("image", ""))
    tag = image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else ""
    if "@" in image:
        tag = "digest"
    container.setdefault("imagePullPolicy", "Always" if tag in ("", "latest") else "IfNotPresent")
    for port in container.get("ports") or []:
        port.setdefault("protocol", "TCP")
    for env in container.get("env") or []:
        field_ref = (env.get("valueFrom") or {}).get("fieldRef")
        if isinstance(field_ref, dict):
            field_ref.setdefault("apiVersion", "v1")
    for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = container.get(probe_name)
        if isinstance(probe, dict):
            _probe(probe)


def _probe(probe: Obj) -> None:
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    http_get = probe.get("httpGet")
    if isinstance(http_get, dict):
        http_get.setdefault("scheme", "HTTP")


def _volume(volume: Obj) -> None:
    for source in ("configMap", "secret"):
        if isinstance(volume.get(source), dict):
            volume[source].setdefault("defaultMode", 420)


def pod_spec(spec: Obj) -> None:
    """Defaults of a PodSpec (in a Pod or in a pod template)."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for container in itertools.chain(
        spec.get("containers") or [], spec.get("initContainers") or []
    ):
        if isinstance(container, dict):
            _container(container)
    for volume in spec.get("volumes") or []:
        if isinstance(volume, dict):
            _volume(volume)


def _template(spec: Obj) -> None:
    template = spec.get("template")
    if isinstance(template, dict):
        template.setdefault("metadata", {})
        if isinstance(template.get("spec"), dict):
            pod_spec(template["spec"])


def _pod(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    pod_spec(spec)
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")


# -- workloads -------------------------------------------------------------------------------
def _deployment(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _template(spec)


def _replica_set(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    _template(spec)
    status = obj.get("status")
    if isinstance(status, dict):
        status.setdefault("replicas", 0)


def _stateful_set(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = spec.setdefault("updateStrategy", {})
    if not strategy.get("type"):  # SetDefaults_StatefulSet: rollingUpdate only for an empty type
        strategy["type"] = "RollingUpdate"
        strategy.setdefault("rollingUpdate", {})
    if strategy["type"] == "RollingUpdate" and isinstance(strategy.get("rollingUpdate"), dict):
        strategy["rollingUpdate"].setdefault("partition", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    retention = spec.setdefault("persistentVolumeClaimRetentionPolicy", {})
    retention.setdefault("whenDeleted", "Retain")
    retention.setdefault("whenScaled", "Retain")
    for claim in spec.get("volumeClaimTemplates") or []:
        if isinstance(claim, dict):
            claim.setdefault("apiVersion", "v1")
            claim.setdefault("kind", "PersistentVolumeClaim")
            claim.setdefault("metadata", {})
            claim.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
            claim.setdefault("status", {"phase": "Pending"})
    _template(spec)
    _status_counts(obj, ("replicas", "availableReplicas"))


def _daemon_set(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    _template(spec)
    _status_counts(obj, _DAEMONSET_COUNTS)


def _status_counts(obj: Obj, keys: tuple[str, ...]) -> None:
    status = obj.get("status")
    if isinstance(status, dict):
        for key in keys:
            status.setdefault(key, 0)


JOB_NAME_LABELS = ("job-name", "batch.kubernetes.io/job-name")
JOB_UID_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid")


def _job(obj: Obj) -> None:
    """SetDefaults_Job plus the job strategy's generated selector and template labels."""
    meta, spec = obj["metadata"], obj.setdefault("spec", {})
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault(
        "backoffLimit", 2147483647 if spec.get("backoffLimitPerIndex") is not None else 6
    )
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault(
        "podReplacementPolicy", "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed"
    )
    spec.setdefault("manualSelector", False)
    template = spec.get("template")
    uid = meta.get("uid")
    if isinstance(template, dict) and not spec["manualSelector"] and uid:
        tmeta = template.setdefault("metadata", {})
        labels = dict(tmeta.get("labels") or {})
        for key in JOB_UID_LABELS:
            labels.setdefault(key, uid)
        for key in JOB_NAME_LABELS:
            labels.setdefault(key, str(meta.get("name", "")))
        tmeta["labels"] = labels
        if not spec.get("selector"):
            spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    _template(spec)
    if not meta.get("labels") and isinstance(template, dict):
        template_labels = (template.get("metadata") or {}).get("labels")
        if template_labels:
            meta["labels"] = dict(template_labels)


def _cron_job(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    job_template = spec.get("jobTemplate")
    if isinstance(job_template, dict):
        job_template.setdefault("metadata", {})
        if isinstance(job_template.get("spec"), dict):
            _template(job_template["spec"])


# -- networking ------------------------------------------------------------------------------
def keep_allocated(kind: str, old: Obj, new: Obj) -> None:
    """On an update, keep what the server allocated and the client left out (upstream's
    Service ``patchAllocatedValues`` and ``NormalizeClusterIPs``): the clusterIP(s) and the
    node ports of ports with the same name and port number."""
    if kind != "Service":
        return
    old_spec, spec = old.get("spec") or {}, new.get("spec")
    if not isinstance(spec, dict):
        return
    both_ip = "ExternalName" not in (old_spec.get("type"), spec.get("type", "ClusterIP"))
    if both_ip:
        if not spec.get("clusterIP") and old_spec.get("clusterIP"):
            spec["clusterIP"] = old_spec["clusterIP"]
        if not spec.get("clusterIPs") and old_spec.get("clusterIPs"):
            spec["clusterIPs"] = list(old_spec["clusterIPs"])
        old_ips = old_spec.get("clusterIPs") or []
        ips = spec.get("clusterIPs") or []
        if (
            spec.get("clusterIP")
            and ips
            and spec["clusterIP"] != old_spec.get("clusterIP")
            and ips == old_ips
        ):
            spec["clusterIPs"] = [spec["clusterIP"], *ips[1:]]  # the user changed clusterIP
    allocated = {
        (p.get("name", ""), p.get("port")): p["nodePort"]
        for p in old_spec.get("ports") or []
        if isinstance(p, dict) and p.get("nodePort")
    }
    node_ports = spec.get("type") in ("NodePort", "LoadBalancer")
    for port in spec.get("ports") or []:
        if node_ports and isinstance(port, dict) and not port.get("nodePort"):
            found = allocated.get((port.get("name", ""), port.get("port")))
            if found:
                port["nodePort"] = found


def _service(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        if not spec.get("clusterIP"):
            spec["clusterIP"] = allocate_cluster_ip()
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    node_ports = spec["type"] in ("NodePort", "LoadBalancer")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        if "port" in port:
            port.setdefault("targetPort", port["port"])
        if node_ports:
            port.setdefault("nodePort", allocate_node_port())
    if node_ports:
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)


def _ingress(obj: Obj) -> None:
    obj.setdefault("spec", {})


def _hpa(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 80},
                },
            }
        ]
    status = obj.get("status")
    if isinstance(status, dict):
        status.setdefault("desiredReplicas", 0)


def _endpoint_slice(obj: Obj) -> None:
    obj.setdefault("endpoints", [])
    for port in obj.get("ports") or []:
        port.setdefault("protocol", "TCP")


# -- core ------------------------------------------------------------------------------------
def _namespace(obj: Obj) -> None:
    meta = obj["metadata"]
    if "name" in meta:
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")


def _secret(obj: Obj) -> None:
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict):
        data = obj.setdefault("data", {}) or {}
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj["data"] = data


def _event(obj: Obj) -> None:
    obj.setdefault("involvedObject", {})
    obj.setdefault("type", "Normal")


_BY_KIND: dict[str, Callable[[Obj], None]] = {
    "Pod": _pod,
    "Deployment": _deployment,
    "ReplicaSet": _replica_set,
    "StatefulSet": _stateful_set,
    "DaemonSet": _daemon_set,
    "Job": _job,
    "CronJob": _cron_job,
    "Service": _service,
    "Ingress": _ingress,
    "HorizontalPodAutoscaler": _hpa,
    "EndpointSlice": _endpoint_slice,
    "Namespace": _namespace,
    "Secret": _secret,
    "Event": _event,
}
