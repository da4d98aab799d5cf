"""Server-side printing: ``meta.k8s.io/v1`` Table responses for ``kubectl get``.

kubectl asks for ``application/json;as=Table;v=v1;g=meta.k8s.io``; without a Table it prints
only NAME and AGE. Columns follow upstream's printers for the kinds served here; each row
carries the object as ``includeObject`` asks (Object, Metadata (default), None).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from kube_sandbox.objects import crd, resources
from kube_sandbox.objects.selectors import selector_string
from kube_sandbox.protocol.messages import Request
from kube_sandbox.storage.store import ResourceType, Store

Obj = dict[str, Any]
Column = tuple[str, str, int, Callable[[Obj], Any]]  # name, type, priority, cell


def wants_table(req: Request) -> bool:
    """Whether the Accept header asks for a Table."""
    return "as=Table" in req.header("Accept")


def age(obj: Obj) -> str:
    """Upstream's short human duration since creation (``5s``, ``3m``, ``2h``, ``4d``)."""
    return since((obj.get("metadata") or {}).get("creationTimestamp"))


def since(stamp: Any) -> str:
    """Short human duration since an RFC 3339 timestamp (``<unknown>`` when absent)."""
    if not isinstance(stamp, str) or not stamp:
        return "<unknown>"
    try:
        created = datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return "<unknown>"
    seconds = max(0, int((datetime.now(timezone.utc) - created).total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 2 * 3600:
        return f"{seconds // 60}m"
    if seconds < 48 * 3600:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _name(obj: Obj) -> str:
    return str(obj["metadata"]["name"])


def _spec(obj: Obj) -> Obj:
    return obj.get("spec") or {}


def _status(obj: Obj) -> Obj:
    return obj.get("status") or {}


def _containers(obj: Obj) -> list[Obj]:
    spec = _spec(obj)
    pod_spec = (spec.get("template") or {}).get("spec") or spec
    return list(pod_spec.get("containers") or [])


_NAME: Column = ("Name", "string", 0, _name)
_AGE: Column = ("Age", "string", 0, age)
_CONTAINERS: Column = (
    "Containers",
    "string",
    1,
    lambda o: ",".join(c.get("name", "") for c in _containers(o)),
)
_IMAGES: Column = (
    "Images",
    "string",
    1,
    lambda o: ",".join(c.get("image", "") for c in _containers(o)),
)
_SELECTOR: Column = ("Selector", "string", 1, lambda o: selector_string(_spec(o).get("selector")))


def _pod_ready(obj: Obj) -> str:
    statuses = _status(obj).get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    return f"{ready}/{len(_containers(obj))}"


def _pod_status(obj: Obj) -> str:
    if obj["metadata"].get("deletionTimestamp"):
        return "Terminating"
    for status in _status(obj).get("containerStatuses") or []:
        waiting = (status.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            return str(waiting["reason"])
        terminated = (status.get("state") or {}).get("terminated") or {}
        if terminated.get("reason"):  # Completed, Error
            return str(terminated["reason"])
    return str(_status(obj).get("phase") or "Pending")


def _restarts(obj: Obj) -> int:
    return sum(int(s.get("restartCount", 0)) for s in _status(obj).get("containerStatuses") or [])


def _ref(ref: Any, *, lower: bool) -> str:
    ref = ref if isinstance(ref, dict) else {}
    kind = str(ref.get("kind", ""))
    return f"{kind.lower() if lower else kind}/{ref.get('name', '')}"


def _service_ports(obj: Obj) -> str:
    ports = _spec(obj).get("ports") or []
    return ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in ports) or "<none>"


def _job_status(obj: Obj) -> str:
    """The STATUS column of ``kubectl get jobs`` (printJob, 1.32)."""
    conditions = {
        c.get("type") for c in _status(obj).get("conditions") or [] if c.get("status") == "True"
    }
    if "Complete" in conditions:
        return "Complete"
    if "Failed" in conditions:
        return "Failed"
    if obj["metadata"].get("deletionTimestamp"):
        return "Terminating"
    for kind in ("Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if kind in conditions:
            return kind
    return "Running"


def _job_completions(obj: Obj) -> str:
    succeeded, spec = _status(obj).get("succeeded", 0), _spec(obj)
    if spec.get("completions") is not None:
        return f"{succeeded}/{spec['completions']}"
    parallelism = int(spec.get("parallelism") or 0)
    return f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"


def _job_duration(obj: Obj) -> str:
    status = _status(obj)
    start, end = status.get("startTime"), status.get("completionTime")
    if not start:
        return ""
    if not end:
        return since(start)
    fmt = "%Y-%m-%dT%H:%M:%S"
    seconds = (datetime.strptime(end[:19], fmt) - datetime.strptime(start[:19], fmt)).seconds
    return f"{seconds}s" if seconds < 120 else f"{seconds // 60}m"


def _cron_containers(obj: Obj) -> list[Obj]:
    job_spec = (_spec(obj).get("jobTemplate") or {}).get("spec") or {}
    return list(((job_spec.get("template") or {}).get("spec") or {}).get("containers") or [])


def _owner(obj: Obj) -> str:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            group = str(ref.get("apiVersion", "")).rpartition("/")[0]
            kind = str(ref.get("kind", "")).lower()
            return f"{kind}.{group}/{ref.get('name')}" if group else f"{kind}/{ref.get('name')}"
    return "<none>"


COLUMNS: dict[str, list[Column]] = {
    "StatefulSet": [
        _NAME,
        (
            "Ready",
            "string",
            0,
            lambda o: f"{_status(o).get('readyReplicas', 0)}/{_spec(o).get('replicas', 0)}",
        ),
        _AGE,
        _CONTAINERS,
        _IMAGES,
    ],
    "DaemonSet": [
        _NAME,
        ("Desired", "integer", 0, lambda o: _status(o).get("desiredNumberScheduled", 0)),
        ("Current", "integer", 0, lambda o: _status(o).get("currentNumberScheduled", 0)),
        ("Ready", "integer", 0, lambda o: _status(o).get("numberReady", 0)),
        ("Up-to-date", "integer", 0, lambda o: _status(o).get("updatedNumberScheduled", 0)),
        ("Available", "integer", 0, lambda o: _status(o).get("numberAvailable", 0)),
        (
            "Node Selector",
            "string",
            0,
            lambda o: (
                ",".join(
                    f"{k}={v}"
                    for k, v in sorted(
                        (
                            ((_spec(o).get("template") or {}).get("spec") or {}).get("nodeSelector")
                            or {}
                        ).items()
                    )
                )
                or "<none>"
            ),
        ),
        _AGE,
        _CONTAINERS,
        _IMAGES,
        _SELECTOR,
    ],
    "Job": [
        _NAME,
        ("Status", "string", 0, _job_status),
        ("Completions", "string", 0, _job_completions),
        ("Duration", "string", 0, _job_duration),
        _AGE,
        _CONTAINERS,
        _IMAGES,
        _SELECTOR,
    ],
    "CronJob": [
        _NAME,
        ("Schedule", "string", 0, lambda o: _spec(o).get("schedule", "")),
        ("Timezone", "string", 0, lambda o: _spec(o).get("timeZone") or "<none>"),
        # printBoolPtr: the cell is the string "True" / "False"
        ("Suspend", "boolean", 0, lambda o: str(bool(_spec(o).get("suspend")))),
        ("Active", "integer", 0, lambda o: len(_status(o).get("active") or [])),
        (
            "Last Schedule",
            "string",
            0,
            lambda o: (
                since(_status(o)["lastScheduleTime"])
                if _status(o).get("lastScheduleTime")
                else "<none>"
            ),
        ),
        _AGE,
        (
            "Containers",
            "string",
            1,
            lambda o: ",".join(c.get("name", "") for c in _cron_containers(o)),
        ),
        (
            "Images",
            "string",
            1,
            lambda o: ",".join(c.get("image", "") for c in _cron_containers(o)),
        ),
        ("Selector", "string", 1, lambda o: "<none>"),
    ],
    "ControllerRevision": [
        _NAME,
        ("Controller", "string", 0, _owner),
        ("Revision", "integer", 0, lambda o: o.get("revision", 0)),
        _AGE,
    ],
    "Pod": [
        _NAME,
        ("Ready", "string", 0, _pod_ready),
        ("Status", "string", 0, _pod_status),
        ("Restarts", "string", 0, _restarts),
        _AGE,
        ("IP", "string", 1, lambda o: _status(o).get("podIP") or "<none>"),
        ("Node", "string", 1, lambda o: _spec(o).get("nodeName") or "<none>"),
    ],
    "Deployment": [
        _NAME,
        (
            "Ready",
            "string",
            0,
            lambda o: f"{_status(o).get('readyReplicas', 0)}/{_spec(o).get('replicas', 0)}",
        ),
        ("Up-to-date", "integer", 0, lambda o: _status(o).get("updatedReplicas", 0)),
        ("Available", "integer", 0, lambda o: _status(o).get("availableReplicas", 0)),
        _AGE,
        _CONTAINERS,
        _IMAGES,
        _SELECTOR,
    ],
    "ReplicaSet": [
        _NAME,
        ("Desired", "integer", 0, lambda o: _spec(o).get("replicas", 0)),
        ("Current", "integer", 0, lambda o: _status(o).get("replicas", 0)),
        ("Ready", "integer", 0, lambda o: _status(o).get("readyReplicas", 0)),
        _AGE,
        _CONTAINERS,
        _IMAGES,
        _SELECTOR,
    ],
    "Service": [
        _NAME,
        ("Type", "string", 0, lambda o: _spec(o).get("type", "ClusterIP")),
        ("Cluster-IP", "string", 0, lambda o: _spec(o).get("clusterIP") or "<none>"),
        ("External-IP", "string", 0, lambda o: "<none>"),
        ("Port(s)", "string", 0, _service_ports),
        _AGE,
        (
            "Selector",
            "string",
            1,
            lambda o: (
                ",".join(f"{k}={v}" for k, v in sorted((_spec(o).get("selector") or {}).items()))
                or "<none>"
            ),
        ),
    ],
    "Namespace": [
        _NAME,
        ("Status", "string", 0, lambda o: _status(o).get("phase", "Active")),
        _AGE,
    ],
    "ConfigMap": [
        _NAME,
        ("Data", "integer", 0, lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {})),
        _AGE,
    ],
    "Secret": [
        _NAME,
        ("Type", "string", 0, lambda o: o.get("type", "Opaque")),
        ("Data", "integer", 0, lambda o: len(o.get("data") or {})),
        _AGE,
    ],
    "HorizontalPodAutoscaler": [
        _NAME,
        (
            "Reference",
            "string",
            0,
            lambda o: _ref(_spec(o).get("scaleTargetRef"), lower=False),
        ),
        ("MinPods", "integer", 0, lambda o: _spec(o).get("minReplicas", 1)),
        ("MaxPods", "integer", 0, lambda o: _spec(o).get("maxReplicas", 0)),
        ("Replicas", "integer", 0, lambda o: _status(o).get("currentReplicas", 0)),
        _AGE,
    ],
    "Ingress": [
        _NAME,
        ("Class", "string", 0, lambda o: _spec(o).get("ingressClassName") or "<none>"),
        (
            "Hosts",
            "string",
            0,
            lambda o: ",".join(r.get("host", "*") for r in _spec(o).get("rules") or []) or "*",
        ),
        ("Address", "string", 0, lambda o: ""),
        ("Ports", "string", 0, lambda o: "80, 443" if _spec(o).get("tls") else "80"),
        _AGE,
    ],
    "CustomResourceDefinition": [  # upstream's default convertor: the timestamp itself
        _NAME,
        ("Created At", "date", 0, lambda o: o["metadata"].get("creationTimestamp", "")),
    ],
    "Lease": [_NAME, ("Holder", "string", 0, lambda o: _spec(o).get("holderIdentity", "")), _AGE],
    "EndpointSlice": [
        _NAME,
        ("AddressType", "string", 0, lambda o: o.get("addressType", "")),
        (
            "Ports",
            "string",
            0,
            lambda o: ",".join(str(p.get("port")) for p in o.get("ports") or []) or "<unset>",
        ),
        (
            "Endpoints",
            "string",
            0,
            lambda o: (
                ",".join(a for e in o.get("endpoints") or [] for a in e.get("addresses", []))
                or "<unset>"
            ),
        ),
        _AGE,
    ],
    "Event": [
        (
            "Last Seen",
            "string",
            0,
            lambda o: since(o.get("lastTimestamp")) if o.get("lastTimestamp") else age(o),
        ),
        ("Type", "string", 0, lambda o: o.get("type", "")),
        ("Reason", "string", 0, lambda o: o.get("reason", "")),
        (
            "Object",
            "string",
            0,
            lambda o: _ref(o.get("involvedObject"), lower=True),
        ),
        ("Message", "string", 0, lambda o: o.get("message", "")),
    ],
}


def _printer_cell(column: Obj) -> Callable[[Obj], Any]:
    kind, path = column.get("type", "string"), str(column.get("jsonPath", ""))

    def cell(obj: Obj) -> Any:
        found = crd.json_path(obj, path)
        if not found:
            return None
        value = found[0] if len(found) == 1 else found
        if kind == "date":
            return since(value)
        if kind == "string":
            if isinstance(value, str):
                return value
            return json.dumps(value, separators=(",", ":"))
        return value

    return cell


def custom_columns(printer_columns: tuple[Obj, ...]) -> list[Column]:
    """A CRD version's additionalPrinterColumns (Age alone when it has none), after Name."""
    if not printer_columns:
        printer_columns = (
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        )
    return [
        _NAME,
        *(
            (
                str(c.get("name", "")),
                str(c.get("type", "string")),
                int(c.get("priority", 0)),
                _printer_cell(c),
            )
            for c in printer_columns
        ),
    ]


def to_table(
    rt: ResourceType,
    items: list[Obj],
    req: Request,
    list_meta: Obj | None,
    store: Store | None = None,
) -> Obj:
    """A Table of ``items`` with this kind's columns and rows (a CRD's printer columns)."""
    custom = resources.custom(rt, store)
    if custom is not None:
        columns = custom_columns(custom.printer_columns)
    else:
        columns = COLUMNS.get(rt.kind, [_NAME, _AGE])
    include = req.query.get("includeObject", "Metadata")
    rows = []
    for obj in items:
        row: Obj = {"cells": [cell(obj) for _, _, _, cell in columns]}
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        rows.append(row)
    definitions = [
        {
            "name": name,
            "type": kind,
            "format": "name" if name == "Name" else "",
            "description": name,
            "priority": priority,
        }
        for name, kind, priority, _ in columns
    ]
    meta = dict(list_meta) if list_meta is not None else {}
    if list_meta is None and items:
        meta = {"resourceVersion": items[0]["metadata"].get("resourceVersion", "")}
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": definitions,
        "rows": rows,
    }
