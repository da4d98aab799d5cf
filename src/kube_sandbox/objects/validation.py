"""Object validation on writes: names, metadata syntax, required fields, immutable fields.

Failures are 422 Invalid with upstream's message shape
(``Deployment.apps "web" is invalid: spec.selector: Required value``) and ``details``
(name, group, kind, one cause per error: reason, message, field). Unknown fields are a
separate concern (``fieldValidation``), handled with the schemas in ``schema.py``.

Update rules (immutable fields) are a table, :data:`UPDATE_RULES`: kind -> rules, each rule a
function ``(old, new) -> [cause, ...]``; :func:`immutable` makes the common
``field is immutable`` rule for a path. A new kind adds its entry there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from kube_sandbox.objects import crd, resources, schema
from kube_sandbox.objects.selectors import match_label_selector
from kube_sandbox.storage.store import ResourceType, Store, StoreError

Obj = dict[str, Any]

_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
# Kinds whose names must be DNS-1123 labels rather than subdomains.
_LABEL_NAMED = {"Namespace", "Service"}


def qualified_kind(rt: ResourceType) -> str:
    """``Deployment.apps`` / ``Pod``, as upstream names a kind in messages."""
    return f"{rt.kind}.{rt.group}" if rt.group else rt.kind


_REASONS = {
    "Required value": "FieldValueRequired",
    "Invalid value": "FieldValueInvalid",
    "Forbidden": "FieldValueForbidden",
    "Too long": "FieldValueTooLong",
    "Too many": "FieldValueTooMany",
    "Duplicate value": "FieldValueDuplicate",
    "Unsupported value": "FieldValueNotSupported",
    "Not found": "FieldValueNotFound",
}


class InvalidError(StoreError):
    """422 Invalid with upstream's ``details`` (``errors.NewInvalid``)."""

    details: Obj


def _cause(text: str) -> Obj:
    """``field: Type: detail`` as a StatusCause (reason, message = the error body, field)."""
    field, _, body = text.partition(": ")
    kind = body.split(":", 1)[0]
    return {"reason": _REASONS.get(kind, "FieldValueInvalid"), "message": body, "field": field}


def invalid(rt: ResourceType, name: str, causes: list[str]) -> StoreError:
    """A 422 Invalid error listing the causes (deduplicated, as upstream's aggregate)."""
    unique = list(dict.fromkeys(causes))
    joined = unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"
    err = InvalidError(422, "Invalid", f'{qualified_kind(rt)} "{name}" is invalid: {joined}')
    details: Obj = {"name": name}
    if rt.group:
        details["group"] = rt.group
    details["kind"] = rt.kind
    details["causes"] = [_cause(c) for c in unique]
    err.details = details
    return err


_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
_DNS1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_NAME_PART_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
TOTAL_ANNOTATION_SIZE = 256 * 1024


def name_causes(
    kind: str, name: str, field: str = "metadata.name", *, prefix: bool = False
) -> list[str]:
    """Upstream's name rule for a kind: DNS-1035 label (Service), DNS-1123 label, subdomain.

    ``prefix``: a ``generateName``, whose trailing ``-`` is allowed (maskTrailingDash).
    """
    shown = name
    if prefix and len(name) > 1 and name.endswith("-"):
        name = name[:-1] + "a"
    if kind == "Service":
        pattern, message, limit = _DNS1035, _DNS1035_MSG, 63
    elif kind in _LABEL_NAMED:
        pattern, message, limit = _DNS_LABEL, _LABEL_MSG, 63
    else:
        pattern, message, limit = _DNS_SUBDOMAIN, _SUBDOMAIN_MSG, 253
    causes = []
    if len(name) > limit:
        causes.append(f'{field}: Invalid value: "{shown}": must be no more than {limit} characters')
    if not pattern.fullmatch(name):
        causes.append(f'{field}: Invalid value: "{shown}": {message}')
    return causes


def qualified_name_causes(key: str, field: str) -> list[str]:
    """``IsQualifiedName``: ``[prefix/]name``, prefix a DNS subdomain, name at most 63."""
    prefix, slash, part = key.rpartition("/")
    causes = []
    if slash and not prefix:
        causes.append(f'{field}: Invalid value: "{key}": prefix part must be non-empty')
    elif slash and (len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        causes.append(f'{field}: Invalid value: "{key}": prefix part {_SUBDOMAIN_MSG}')
    if not part:
        causes.append(f'{field}: Invalid value: "{key}": name part must be non-empty')
    else:
        if len(part) > 63:
            causes.append(
                f'{field}: Invalid value: "{key}": name part must be no more than 63 characters'
            )
        if not _QUALIFIED_NAME.fullmatch(part):
            causes.append(f'{field}: Invalid value: "{key}": {_NAME_PART_MSG}')
    return causes


def metadata_causes(meta: Obj, field: str = "metadata") -> list[str]:
    """Label and annotation syntax (ValidateLabels, ValidateAnnotations)."""
    causes: list[str] = []
    for key, value in (meta.get("labels") or {}).items():
        causes.extend(qualified_name_causes(str(key), f"{field}.labels"))
        text = value if isinstance(value, str) else str(value)
        if len(text) > 63:
            causes.append(
                f'{field}.labels: Invalid value: "{text}": must be no more than 63 characters'
            )
        if not _LABEL_VALUE.fullmatch(text):
            causes.append(f'{field}.labels: Invalid value: "{text}": {_LABEL_VALUE_MSG}')
    annotations = meta.get("annotations") or {}
    total = 0
    for key, value in annotations.items():
        causes.extend(qualified_name_causes(str(key).lower(), f"{field}.annotations"))
        total += len(str(key)) + len(str(value))
    if total > TOTAL_ANNOTATION_SIZE:
        causes.append(
            f"{field}.annotations: Too long: may not be more than {TOTAL_ANNOTATION_SIZE} bytes"
        )
    return causes


def validate(rt: ResourceType, obj: Obj, old: Obj | None = None) -> None:
    """Raise 422 Invalid when ``obj`` (defaulted) is not a valid ``rt`` object.

    With ``old`` (an update), the kind's :data:`UPDATE_RULES` run too, after the object's own
    checks (as upstream's ``ValidateXUpdate``).
    """
    meta = obj.get("metadata") or {}
    name = str(meta.get("name") or "")
    causes: list[str] = []
    generate = meta.get("generateName")
    if generate and old is None:
        causes.extend(name_causes(rt.kind, str(generate), "metadata.generateName", prefix=True))
    if not name:
        causes.append("metadata.name: Required value: name or generateName is required")
    elif old is None:
        causes.extend(name_causes(rt.kind, name))
    causes.extend(metadata_causes(meta))
    checker = _KIND_CHECKS.get(rt.kind)
    if checker is not None:
        causes.extend(checker(obj))
    if old is not None:
        for rule in UPDATE_RULES.get(rt.kind, ()):
            causes.extend(rule(old, obj))
    if causes:
        raise invalid(rt, name, causes)


def _pod_spec_causes(spec: Any, where: str) -> list[str]:
    if not isinstance(spec, dict):
        return [f"{where}: Required value"]
    causes: list[str] = []
    containers = spec.get("containers")
    if not containers:
        causes.append(f"{where}.containers: Required value")
    volumes: set[str] = set()
    for index, volume in enumerate(spec.get("volumes") or []):
        name = volume.get("name") if isinstance(volume, dict) else None
        if not name:
            causes.append(f"{where}.volumes[{index}].name: Required value")
        elif name in volumes:
            causes.append(f'{where}.volumes[{index}].name: Duplicate value: "{name}"')
        else:
            volumes.add(name)
    seen: set[str] = set()
    for group in ("initContainers", "containers"):
        for index, container in enumerate(spec.get(group) or []):
            at = f"{where}.{group}[{index}]"
            causes.extend(_container_causes(container, at, seen))
            causes.extend(_container_refs(container, at, volumes))
    return causes


_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
_ENV_NAME_MSG = (
    "a valid environment variable name must consist of alphabetic characters, digits, '_', "
    "'-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or "
    "'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')"
)


def _container_refs(container: Any, where: str, volumes: set[str]) -> list[str]:
    """Env variable names and volume mounts naming a volume of the pod."""
    if not isinstance(container, dict):
        return []
    causes: list[str] = []
    for index, env in enumerate(container.get("env") or []):
        name = env.get("name") if isinstance(env, dict) else None
        if not name:
            causes.append(f"{where}.env[{index}].name: Required value")
        elif not _ENV_NAME.fullmatch(name):
            causes.append(f'{where}.env[{index}].name: Invalid value: "{name}": {_ENV_NAME_MSG}')
    for index, mount in enumerate(container.get("volumeMounts") or []):
        name = mount.get("name") if isinstance(mount, dict) else None
        if not name:
            causes.append(f"{where}.volumeMounts[{index}].name: Required value")
        elif name not in volumes:
            causes.append(f'{where}.volumeMounts[{index}].name: Not found: "{name}"')
    return causes


def _container_causes(container: Any, where: str, seen: set[str]) -> list[str]:
    if not isinstance(container, dict):
        return [f"{where}: Required value"]
    causes: list[str] = []
    name = container.get("name")
    if not name:
        causes.append(f"{where}.name: Required value")
    elif name in seen:
        causes.append(f'{where}.name: Duplicate value: "{name}"')
    else:
        seen.add(name)
        if len(name) > 63 or not _DNS_LABEL.fullmatch(name):
            causes.append(f'{where}.name: Invalid value: "{name}": {_LABEL_MSG}')
    if not container.get("image"):
        causes.append(f"{where}.image: Required value")
    for index, port in enumerate(container.get("ports") or []):
        number = port.get("containerPort") if isinstance(port, dict) else None
        if number is None:
            causes.append(f"{where}.ports[{index}].containerPort: Required value")
        elif not isinstance(number, int) or not 1 <= number <= 65535:
            causes.append(
                f"{where}.ports[{index}].containerPort: Invalid value: {number}: "
                "must be between 1 and 65535, inclusive"
            )
    return causes


def _workload(obj: Obj, *, restarts_always: bool = True) -> list[str]:
    """Selector, template and replicas of a pod controller; its pods restart Always, except
    a Job's (checked by ``_job_spec``)."""
    spec = obj.get("spec") or {}
    causes: list[str] = []
    selector = spec.get("selector")
    if not selector:
        causes.append("spec.selector: Required value")
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if selector and not match_label_selector(selector, labels):
        causes.append(
            f"spec.template.metadata.labels: Invalid value: {_go_map(labels)}: "
            "`selector` does not match template `labels`"
        )
    causes.extend(_non_negative(spec, ("replicas",)))
    causes.extend(metadata_causes(template.get("metadata") or {}, "spec.template.metadata"))
    pod_spec = template.get("spec")
    causes.extend(_pod_spec_causes(pod_spec, "spec.template.spec"))
    policy = (pod_spec or {}).get("restartPolicy") if isinstance(pod_spec, dict) else None
    if restarts_always and policy not in (None, "Always"):
        causes.append(
            f'spec.template.spec.restartPolicy: Unsupported value: "{policy}": '
            'supported values: "Always"'
        )
    return causes


def _pod(obj: Obj) -> list[str]:
    return _pod_spec_causes(obj.get("spec"), "spec")


def _service(obj: Obj) -> list[str]:
    causes = []
    for index, port in enumerate((obj.get("spec") or {}).get("ports") or []):
        if "port" not in port:
            causes.append(f"spec.ports[{index}].port: Required value")
        elif not isinstance(port["port"], int) or not 1 <= port["port"] <= 65535:
            causes.append(
                f"spec.ports[{index}].port: Invalid value: {port['port']}: "
                "must be between 1 and 65535, inclusive"
            )
    return causes


def _hpa(obj: Obj) -> list[str]:
    spec = obj.get("spec") or {}
    causes = []
    if not spec.get("scaleTargetRef"):
        causes.append("spec.scaleTargetRef: Required value")
    if "maxReplicas" not in spec:
        causes.append("spec.maxReplicas: Required value")
    return causes


def _non_negative(spec: Obj, keys: tuple[str, ...]) -> list[str]:
    return [
        f"spec.{key}: Invalid value: {spec[key]}: must be greater than or equal to 0"
        for key in keys
        if isinstance(spec.get(key), int) and spec[key] < 0
    ]


def _job_spec(spec: Obj, where: str) -> list[str]:
    causes = []
    policy = ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy")
    if policy not in ("OnFailure", "Never"):
        causes.append(
            f'{where}.template.spec.restartPolicy: Unsupported value: "{policy or ""}": '
            'supported values: "OnFailure", "Never"'
        )
    return causes


def _job(obj: Obj) -> list[str]:
    spec = obj.get("spec") or {}
    causes = _workload(obj, restarts_always=False)
    causes.extend(_non_negative(spec, ("parallelism", "completions", "backoffLimit")))
    causes.extend(_job_spec(spec, "spec"))
    return causes


def _cron_job(obj: Obj) -> list[str]:
    name = str((obj.get("metadata") or {}).get("name") or "")
    spec = obj.get("spec") or {}
    causes = []
    if len(name) > 52:
        causes.append(f'metadata.name: Invalid value: "{name}": must be no more than 52 characters')
    if not spec.get("schedule"):
        causes.append("spec.schedule: Required value")
    job_spec = (spec.get("jobTemplate") or {}).get("spec")
    if not isinstance(job_spec, dict):
        causes.append("spec.jobTemplate.spec: Required value")
    else:
        causes.extend(
            _pod_spec_causes(
                (job_spec.get("template") or {}).get("spec"), "spec.jobTemplate.spec.template.spec"
            )
        )
        causes.extend(_job_spec(job_spec, "spec.jobTemplate.spec"))
    return causes


def _controller_revision(obj: Obj) -> list[str]:
    revision = obj.get("revision")
    if not isinstance(revision, int):
        return ["revision: Required value"]
    if revision < 0:
        return [f"revision: Invalid value: {revision}: must be greater than or equal to 0"]
    return []


_KIND_CHECKS = {
    "Deployment": _workload,
    "ReplicaSet": _workload,
    "StatefulSet": _workload,
    "DaemonSet": _workload,
    "Job": _job,
    "CronJob": _cron_job,
    "ControllerRevision": _controller_revision,
    "Pod": _pod,
    "Service": _service,
    "HorizontalPodAutoscaler": _hpa,
}


# -- updates: immutable fields ---------------------------------------------------------------
UpdateRule = Callable[[Obj, Obj], list[str]]
_ABSENT = object()


def _at(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return _ABSENT
        obj = obj[key]
    return obj


def go_value(value: Any, go_type: str = "") -> str:
    """A value as Go's ``%#v`` prints it in field errors (apimachinery 1.32's ErrorBody)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[]string{" + ", ".join(json.dumps(str(v)) for v in value) + "}"
    return json.dumps(value, sort_keys=True)


def _go_map(value: Any) -> str:
    if not value:
        return "map[string]string(nil)"
    pairs = ", ".join(f"{json.dumps(k)}:{json.dumps(str(v))}" for k, v in sorted(value.items()))
    return "map[string]string{" + pairs + "}"


def go_label_selector(selector: Any) -> str:
    """A ``*metav1.LabelSelector`` as ``%#v`` prints it (the pointer dereferenced)."""
    if not isinstance(selector, dict):
        return "null"
    expressions = selector.get("matchExpressions")
    if expressions:
        items = []
        for expr in expressions:
            values = expr.get("values")
            rendered = (
                "[]string{" + ", ".join(json.dumps(str(v)) for v in values) + "}"
                if values
                else "[]string(nil)"
            )
            items.append(
                f"v1.LabelSelectorRequirement{{Key:{json.dumps(expr.get('key', ''))}, "
                f"Operator:{json.dumps(expr.get('operator', ''))}, Values:{rendered}}}"
            )
        exprs = "[]v1.LabelSelectorRequirement{" + ", ".join(items) + "}"
    else:
        exprs = "[]v1.LabelSelectorRequirement(nil)"
    return (
        f"v1.LabelSelector{{MatchLabels:{_go_map(selector.get('matchLabels'))}, "
        f"MatchExpressions:{exprs}}}"
    )


def immutable(*path: str, render: Callable[[Any], str] = go_value) -> UpdateRule:
    """A rule: the field at ``path`` may not change (``ValidateImmutableField``)."""
    field = ".".join(path)

    def rule(old: Obj, new: Obj) -> list[str]:
        before, after = _at(old, path), _at(new, path)
        if before == after:
            return []
        value = "null" if after is _ABSENT else render(after)
        return [f"{field}: Invalid value: {value}: field is immutable"]

    return rule


def _service_cluster_ips(old: Obj, new: Obj) -> list[str]:
    """validateUpgradeDowngradeClusterIPs: a set clusterIP may not change (nor be unset)."""
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    if "ExternalName" in (old_spec.get("type"), new_spec.get("type")):
        return []
    before = list(old_spec.get("clusterIPs") or [])
    after = list(new_spec.get("clusterIPs") or [])
    if before and before[0] == "None" and after and after[0] == "None":
        return []  # headless stays headless
    if len(before) == len(after):
        return [
            f"spec.clusterIPs[{i}]: Invalid value: {go_value(after)}: may not change once set"
            for i, ip in enumerate(before)
            if ip != after[i]
        ]
    if before and not after:
        return [
            f"spec.clusterIPs[0]: Invalid value: {go_value(after)}: "
            "primary clusterIP can not be unset"
        ]
    return []


def _immutable_data(old: Obj, new: Obj) -> list[str]:
    """ValidateConfigMapUpdate / ValidateSecretUpdate: ``immutable: true`` freezes the data."""
    if old.get("immutable") is not True:
        return []
    forbidden = "Forbidden: field is immutable when `immutable` is set"
    causes = []
    if new.get("immutable") is not True:
        causes.append(f"immutable: {forbidden}")
    for key in ("data", "binaryData"):
        if (old.get(key) or {}) != (new.get(key) or {}):
            causes.append(f"{key}: {forbidden}")
    return causes


def _statefulset_spec(old: Obj, new: Obj) -> list[str]:
    """ValidateStatefulSetUpdate: only some spec fields may change."""
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    fields = set(old_spec) | set(new_spec)
    if all(old_spec.get(k) == new_spec.get(k) for k in fields - set(_STATEFULSET_MUTABLE)):
        return []
    return [
        "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', "
        "'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', "
        "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
    ]


_STATEFULSET_MUTABLE = (
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "revisionHistoryLimit",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
)


def _job_template(old: Obj, new: Obj) -> list[str]:
    """A Job's pod template is immutable (upstream prints the whole core.PodTemplateSpec)."""
    if _at(old, ("spec", "template")) == _at(new, ("spec", "template")):
        return []
    return ["spec.template: Invalid value: core.PodTemplateSpec{...}: field is immutable"]


# kind -> rules run on every update (after the object's own checks), in upstream's order
UPDATE_RULES: dict[str, list[UpdateRule]] = {
    "Deployment": [immutable("spec", "selector", render=go_label_selector)],
    "ReplicaSet": [immutable("spec", "selector", render=go_label_selector)],
    "Service": [_service_cluster_ips],
    "ConfigMap": [_immutable_data],
    "Secret": [immutable("type"), _immutable_data],
    "StatefulSet": [_statefulset_spec],
    "DaemonSet": [immutable("spec", "selector", render=go_label_selector)],
    "Job": [
        immutable("spec", "selector", render=go_label_selector),
        *(immutable("spec", key) for key in ("completions", "completionMode")),
        *(immutable("spec", key) for key in ("podFailurePolicy", "successPolicy")),
        _job_template,
    ],
}


def unknown_field_paths(rt: ResourceType, obj: Obj, store: Store | None = None) -> list[str]:
    """Fields of ``obj`` the kind's schema does not define (empty for permissive kinds).

    For a custom resource of ``store``, the fields its CRD's schema prunes.
    """
    custom = resources.custom(rt, store)
    if custom is not None:
        return crd.unknown_fields(obj, custom.schema)
    return schema.unknown_fields(obj, schema.for_kind(rt.group, rt.version, rt.kind))
