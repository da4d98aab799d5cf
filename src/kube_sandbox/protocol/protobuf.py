"""Decoding of Kubernetes protobuf request bodies, for kubectl's typed generators.

kubectl 1.32 sends ``application/vnd.kubernetes.protobuf`` bodies from its typed clients
(``kubectl create namespace|configmap|secret|deployment|service``, ``kubectl expose``). The
envelope is the magic ``k8s\\0`` followed by a ``runtime.Unknown`` message whose ``raw`` field
holds the object. This module reads the protobuf wire format and turns the messages it knows
(field numbers of the upstream ``generated.proto`` files, for the kinds those commands create)
into the JSON form the rest of the sandbox handles. Fields it does not know are skipped; a kind
it does not know is refused by the caller (415).

Go's protobuf encoding writes non-pointer scalars even when they hold their zero value, while
its JSON encoding omits them; zero scalars are therefore dropped unless the field is a pointer
in Go (``replicas: 0`` is meaningful), marked ``ptr`` below.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from kube_sandbox.storage.store import StoreError

MAGIC = b"k8s\x00"
_GO_ZERO_TIME = -62135596800  # seconds of Go's zero time.Time (0001-01-01)


@dataclass(frozen=True)
class F:
    """One field: JSON name, type (``str``, ``int``, ``bool``, ``bytes``, a message name,
    ``map`` (string values), ``map:bytes``, ``map:Quantity``), repeated, pointer in Go."""

    name: str
    type: str
    repeated: bool = False
    ptr: bool = False


_META = F("metadata", "ObjectMeta")
MESSAGES: dict[str, dict[int, F]] = {
    "Unknown": {1: F("typeMeta", "TypeMeta"), 2: F("raw", "raw"), 4: F("contentType", "str")},
    "TypeMeta": {1: F("apiVersion", "str"), 2: F("kind", "str")},
    "Time": {1: F("seconds", "int", ptr=True), 2: F("nanos", "int")},
    "Quantity": {1: F("string", "str")},
    "IntOrString": {
        1: F("type", "int", ptr=True),
        2: F("intVal", "int", ptr=True),
        3: F("strVal", "str"),
    },
    "ObjectMeta": {
        1: F("name", "str"),
        2: F("generateName", "str"),
        3: F("namespace", "str"),
        5: F("uid", "str"),
        6: F("resourceVersion", "str"),
        7: F("generation", "int"),
        8: F("creationTimestamp", "Time"),
        9: F("deletionTimestamp", "Time"),
        10: F("deletionGracePeriodSeconds", "int", ptr=True),
        11: F("labels", "map"),
        12: F("annotations", "map"),
        13: F("ownerReferences", "OwnerReference", repeated=True),
        14: F("finalizers", "str", repeated=True),
    },
    "OwnerReference": {
        1: F("kind", "str"),
        3: F("name", "str"),
        4: F("uid", "str"),
        5: F("apiVersion", "str"),
        6: F("controller", "bool", ptr=True),
        7: F("blockOwnerDeletion", "bool", ptr=True),
    },
    "LabelSelector": {
        1: F("matchLabels", "map"),
        2: F("matchExpressions", "LabelSelectorRequirement", repeated=True),
    },
    "LabelSelectorRequirement": {
        1: F("key", "str"),
        2: F("operator", "str"),
        3: F("values", "str", repeated=True),
    },
    # core/v1
    "Namespace": {1: _META, 2: F("spec", "NamespaceSpec"), 3: F("status", "NamespaceStatus")},
    "NamespaceSpec": {1: F("finalizers", "str", repeated=True)},
    "NamespaceStatus": {1: F("phase", "str")},
    "ConfigMap": {
        1: _META,
        2: F("data", "map"),
        3: F("binaryData", "map:bytes"),
        4: F("immutable", "bool", ptr=True),
    },
    "Secret": {
        1: _META,
        2: F("data", "map:bytes"),
        3: F("type", "str"),
        4: F("stringData", "map"),
        5: F("immutable", "bool", ptr=True),
    },
    "Service": {1: _META, 2: F("spec", "ServiceSpec"), 3: F("status", "Empty")},
    "ServiceSpec": {
        1: F("ports", "ServicePort", repeated=True),
        2: F("selector", "map"),
        3: F("clusterIP", "str"),
        4: F("type", "str"),
        5: F("externalIPs", "str", repeated=True),
        7: F("sessionAffinity", "str"),
        10: F("externalName", "str"),
    },
    "ServicePort": {
        1: F("name", "str"),
        2: F("protocol", "str"),
        3: F("port", "int", ptr=True),
        4: F("targetPort", "IntOrString"),
        5: F("nodePort", "int"),
    },
    "PodTemplateSpec": {1: _META, 2: F("spec", "PodSpec")},
    "PodSpec": {
        2: F("containers", "Container", repeated=True),
        3: F("restartPolicy", "str"),
        4: F("terminationGracePeriodSeconds", "int", ptr=True),
        6: F("dnsPolicy", "str"),
        7: F("nodeSelector", "map"),
        8: F("serviceAccountName", "str"),
        15: F("imagePullSecrets", "LocalObjectReference", repeated=True),
        19: F("schedulerName", "str"),
        20: F("initContainers", "Container", repeated=True),
    },
    "LocalObjectReference": {1: F("name", "str")},
    "Container": {
        1: F("name", "str"),
        2: F("image", "str"),
        3: F("command", "str", repeated=True),
        4: F("args", "str", repeated=True),
        5: F("workingDir", "str"),
        6: F("ports", "ContainerPort", repeated=True),
        7: F("env", "EnvVar", repeated=True),
        8: F("resources", "ResourceRequirements"),
        13: F("terminationMessagePath", "str"),
        14: F("imagePullPolicy", "str"),
        20: F("terminationMessagePolicy", "str"),
    },
    "ContainerPort": {
        1: F("name", "str"),
        2: F("hostPort", "int"),
        3: F("containerPort", "int", ptr=True),
        4: F("protocol", "str"),
        5: F("hostIP", "str"),
    },
    "EnvVar": {1: F("name", "str"), 2: F("value", "str")},
    "ResourceRequirements": {1: F("limits", "map:Quantity"), 2: F("requests", "map:Quantity")},
    # apps/v1
    "Deployment": {1: _META, 2: F("spec", "DeploymentSpec"), 3: F("status", "Empty")},
    "DeploymentSpec": {
        1: F("replicas", "int", ptr=True),
        2: F("selector", "LabelSelector"),
        3: F("template", "PodTemplateSpec"),
        4: F("strategy", "DeploymentStrategy"),
        5: F("minReadySeconds", "int"),
        6: F("revisionHistoryLimit", "int", ptr=True),
        7: F("paused", "bool"),
        9: F("progressDeadlineSeconds", "int", ptr=True),
    },
    "DeploymentStrategy": {1: F("type", "str"), 2: F("rollingUpdate", "RollingUpdateDeployment")},
    "RollingUpdateDeployment": {
        1: F("maxUnavailable", "IntOrString"),
        2: F("maxSurge", "IntOrString"),
    },
    # batch/v1 (kubectl create job --from=cronjob/x sends one)
    "Job": {1: _META, 2: F("spec", "JobSpec"), 3: F("status", "Empty")},
    "JobSpec": {
        1: F("parallelism", "int", ptr=True),
        2: F("completions", "int", ptr=True),
        3: F("activeDeadlineSeconds", "int", ptr=True),
        4: F("selector", "LabelSelector"),
        5: F("manualSelector", "bool", ptr=True),
        6: F("template", "PodTemplateSpec"),
        7: F("backoffLimit", "int", ptr=True),
        8: F("ttlSecondsAfterFinished", "int", ptr=True),
        9: F("completionMode", "str", ptr=True),
        10: F("suspend", "bool", ptr=True),
    },
    "Empty": {},  # status of a new object: its content is not the client's to set
}

KINDS = {"Namespace", "ConfigMap", "Secret", "Service", "Deployment", "Job"}


def _bad(message: str) -> StoreError:
    return StoreError(400, "BadRequest", f"invalid protobuf body: {message}")


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise _bad("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise _bad("varint too long")


def fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) of every field in a message, in order."""
    out: list[tuple[int, int, Any]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise _bad("truncated field")
            value, pos = buf[pos : pos + size], pos + size
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise _bad(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def _scalar(kind: str, value: Any) -> Any:
    if kind == "str":
        return bytes(value).decode("utf-8")
    if kind == "int":
        return value - (1 << 64) if value >= 1 << 63 else value
    if kind == "bool":
        return bool(value)
    if kind in ("bytes", "raw"):
        return bytes(value)
    raise _bad(f"unknown scalar type {kind}")


def _map_entry(kind: str, value: bytes) -> tuple[str, Any]:
    key, item = "", b""
    for number, _, raw in fields(value):
        if number == 1:
            key = bytes(raw).decode("utf-8")
        elif number == 2:
            item = bytes(raw)
    if kind == "map":
        return key, item.decode("utf-8")
    if kind == "map:bytes":
        return key, base64.b64encode(item).decode()
    return key, decode_message("Quantity", item)


def decode_message(name: str, buf: bytes) -> Any:
    """A message as JSON data (special forms for Time, Quantity and IntOrString)."""
    schema = MESSAGES[name]
    out: dict[str, Any] = {}
    for number, _, value in fields(buf):
        field = schema.get(number)
        if field is None:
            continue  # a field this table does not know: skipped
        if field.type.startswith("map"):
            key, item = _map_entry(field.type, value)
            out.setdefault(field.name, {})[key] = item
            continue
        if field.type in MESSAGES:
            decoded = decode_message(field.type, bytes(value))
        else:
            decoded = _scalar(field.type, value)
            if not field.ptr and not field.repeated and decoded in ("", 0, False, b""):
                continue  # Go's JSON omits zero non-pointer scalars
        if field.repeated:
            out.setdefault(field.name, []).append(decoded)
        else:
            out[field.name] = decoded
    return _special(name, out)


def _special(name: str, out: dict[str, Any]) -> Any:
    if name == "Time":
        seconds = int(out.get("seconds", 0))
        if seconds <= _GO_ZERO_TIME or "seconds" not in out:
            return None
        return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if name == "Quantity":
        return out.get("string", "0")
    if name == "IntOrString":
        if out.get("type") == 1:
            return out.get("strVal", "")
        return int(out.get("intVal", 0))
    return {k: v for k, v in out.items() if v is not None}


def decode(body: bytes) -> dict[str, Any]:
    """A protobuf request body as a JSON object; 415 for kinds this module cannot read."""
    if not body.startswith(MAGIC):
        raise _bad("missing the k8s protobuf envelope")
    envelope = decode_message("Unknown", body[len(MAGIC) :])
    type_meta = envelope.get("typeMeta") or {}
    kind = type_meta.get("kind", "")
    if kind not in KINDS:
        raise StoreError(
            415,
            "UnsupportedMediaType",
            f"the sandbox reads protobuf bodies only for {', '.join(sorted(KINDS))}, not {kind!r}; "
            "send JSON (for example 'kubectl apply -f' with a manifest)",
        )
    obj: dict[str, Any] = decode_message(kind, bytes(envelope.get("raw", b"")))
    obj = {"apiVersion": type_meta.get("apiVersion", ""), "kind": kind, **obj}
    return obj
