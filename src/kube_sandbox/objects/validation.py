"""Object validation on writes: names, required fields, selector/template agreement.

Failures are 422 Invalid with upstream's message shape
(``Deployment.apps "web" is invalid: spec.selector: Required value``). Unknown fields are a
separate concern (``fieldValidation``), handled with the schemas in ``schema.py``.
"""

from __future__ import annotations

import re
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
    "Unsupported value": "FieldValueNotSupported",
    "Too long": "FieldValueTooLong",
    "Too many": "FieldValueTooMany",
    "Forbidden": "FieldValueForbidden",
    "Duplicate value": "FieldValueDuplicate",
}


def invalid(rt: ResourceType, name: str, causes: list[str]) -> StoreError:
    """A 422 Invalid error listing the causes (``<field>: <message>`` each), with upstream's
    ``details`` (kind, group, causes) from which kubectl prints ``The <Kind> "<name>" is
    invalid: ...``."""
    joined = causes[0] if len(causes) == 1 else "[" + ", ".join(causes) + "]"
    err = StoreError(422, "Invalid", f'{qualified_kind(rt)} "{name}" is invalid: {joined}')
    listed = []
    for cause in causes:
        where, _, message = cause.partition(": ")
        reason = next(
            (r for p, r in _REASONS.items() if message.startswith(p)), "FieldValueInvalid"
        )
        listed.append({"reason": reason, "message": message, "field": where})
    details: Obj = {"name": name, "kind": rt.kind, "causes": listed}
    if rt.group:
        details["group"] = rt.group
    err.details = details  # type: ignore[attr-defined]
    return err


def validate(rt: ResourceType, obj: Obj) -> None:
    """Raise 422 Invalid when ``obj`` (defaulted) is not a valid ``rt`` object."""
    meta = obj.get("metadata") or {}
    name = str(meta.get("name") or "")
    causes: list[str] = []
    if not name:
        causes.append("metadata.name: Required value: name or generateName is required")
    else:
        pattern = _DNS_LABEL if rt.kind in _LABEL_NAMED else _DNS_SUBDOMAIN
        if len(name) > 253 or not pattern.fullmatch(name):
            causes.append(
                f'metadata.name: Invalid value: "{name}": a lowercase RFC 1123 name must consist '
                "of lower case alphanumeric characters, '-' or '.', and must start and end with "
                "an alphanumeric character"
            )
    for key, value in (meta.get("labels") or {}).items():
        if not isinstance(value, str) or len(value) > 63:
            causes.append(
                f'metadata.labels: Invalid value: "{value}": must be a string of at most 63 '
                f"characters ({key})"
            )
    checker = _KIND_CHECKS.get(rt.kind)
    if checker is not None:
        causes.extend(checker(obj))
    if causes:
        raise invalid(rt, name, causes)


def _pod_spec_causes(spec: Any, where: str) -> list[str]:
    if not isinstance(spec, dict):
        return [f"{where}: Required value"]
    causes: list[str] = []
    containers = spec.get("containers")
    if not containers:
        causes.append(f"{where}.containers: Required value")
    for index, container in enumerate(containers or []):
        if not container.get("name"):
            causes.append(f"{where}.containers[{index}].name: Required value")
        if not container.get("image"):
            causes.append(f"{where}.containers[{index}].image: Required value")
    return causes


def _workload(obj: Obj) -> list[str]:
    spec = obj.get("spec") or {}
    causes: list[str] = []
    selector = spec.get("selector")
    if not selector:
        causes.append("spec.selector: Required value")
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if selector and not match_label_selector(selector, labels):
        causes.append(
            f"spec.template.metadata.labels: Invalid value: {labels}: "
            "`selector` does not match template `labels`"
        )
    replicas = spec.get("replicas", 0)
    if isinstance(replicas, int) and replicas < 0:
        causes.append(
            f"spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0"
        )
    causes.extend(_pod_spec_causes(template.get("spec"), "spec.template.spec"))
    return causes


def _pod(obj: Obj) -> list[str]:
    return _pod_spec_causes(obj.get("spec"), "spec")


def _service(obj: Obj) -> list[str]:
    causes = []
    for index, port in enumerate((obj.get("spec") or {}).get("ports") or []):
        if "port" not in port:
            causes.append(f"spec.ports[{index}].port: Required value")
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
    causes = _workload(obj)
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


# -- updates --------------------------------------------------------------------------------
_STATEFULSET_MUTABLE = (
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "revisionHistoryLimit",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
)


def go_label_selector(selector: Any) -> str:
    """A LabelSelector as Go's ``%#v`` prints it in field errors (matchLabels-only exact)."""
    selector = selector or {}
    labels = ", ".join(
        f'"{k}":"{v}"' for k, v in sorted((selector.get("matchLabels") or {}).items())
    )
    expressions = selector.get("matchExpressions")
    exprs = (
        "[]v1.LabelSelectorRequirement(nil)"
        if not expressions
        else "[]v1.LabelSelectorRequirement{"
        + ", ".join(
            f'v1.LabelSelectorRequirement{{Key:"{e.get("key", "")}", '
            f'Operator:"{e.get("operator", "")}", Values:[]string{{'
            + ", ".join(f'"{v}"' for v in e.get("values") or [])
            + "}}"
            for e in expressions
        )
        + "}"
    )
    return (
        f"v1.LabelSelector{{MatchLabels:map[string]string{{{labels}}}, MatchExpressions:{exprs}}}"
    )


def validate_update(rt: ResourceType, old: Obj, new: Obj) -> None:
    """Raise 422 Invalid when an update changes what the kind keeps immutable."""
    name = str((new.get("metadata") or {}).get("name") or "")
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    causes: list[str] = []
    if rt.kind == "StatefulSet":
        frozen = set(old_spec) | set(new_spec)
        if any(old_spec.get(k) != new_spec.get(k) for k in frozen - set(_STATEFULSET_MUTABLE)):
            causes.append(
                "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', "
                "'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', "
                "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
            )
    elif rt.kind in ("DaemonSet", "Job") and old_spec.get("selector") != new_spec.get("selector"):
        causes.append(
            f"spec.selector: Invalid value: {go_label_selector(new_spec.get('selector'))}: "
            "field is immutable"
        )
    if rt.kind == "Job":
        for key in ("completions", "completionMode", "podFailurePolicy", "successPolicy"):
            if old_spec.get(key) != new_spec.get(key):
                causes.append(f"spec.{key}: Invalid value: {new_spec.get(key)}: field is immutable")
        if old_spec.get("template") != new_spec.get("template"):
            # upstream prints the whole core.PodTemplateSpec with Go's %#v here
            causes.append(
                "spec.template: Invalid value: core.PodTemplateSpec{...}: field is immutable"
            )
    if causes:
        raise invalid(rt, name, causes)


def unknown_field_paths(rt: ResourceType, obj: Obj, store: Store | None = None) -> list[str]:
    """Fields of ``obj`` the kind's schema does not define (empty for permissive kinds).

    For a custom resource of ``store``, the fields its CRD's schema prunes.
    """
    custom = resources.custom(rt, store)
    if custom is not None:
        return crd.unknown_fields(obj, custom.schema)
    return schema.unknown_fields(obj, schema.for_kind(rt.group, rt.version, rt.kind))
