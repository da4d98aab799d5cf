"""CustomResourceDefinitions: their own validation and status, and their custom objects'.

What the apiextensions apiserver does (1.32), in the sandbox's terms:

- A CRD is checked on write (name = ``<plural>.<group>``, one storage version, a schema per
  version, a structural root, the protected-group approval annotation) and gets the status
  the naming and establishing controllers give it at once: ``NamesAccepted`` and
  ``Established`` conditions, ``acceptedNames``, ``storedVersions``. Its kind is then served
  (``resources.Registry`` follows the store's CRDs).
- A custom object is pruned of fields its ``openAPIV3Schema`` does not define (unless
  ``x-kubernetes-preserve-unknown-fields``), defaulted from the schema's ``default`` values and
  validated against it (type, required, enum, minimum/maximum, lengths, item and property
  counts, pattern, multipleOf, uniqueItems), with upstream's messages.

Not done: CEL ``x-kubernetes-validations`` rules are not evaluated, ``format`` is not checked,
``allOf``/``anyOf``/``oneOf``/``not`` are not evaluated (except as int-or-string), conversion
webhooks are not called (versions differ only by their apiVersion).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from kube_sandbox.objects import schema as builtin_schema
from kube_sandbox.storage.store import StoreError, now_iso

Obj = dict[str, Any]
Cause = tuple[str, str, str]  # reason, field, message (the part after "<field>: ")

_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_PROTECTED = re.compile(r"(^|\.)(k8s\.io|kubernetes\.io)$")
_APPROVAL = "api-approved.kubernetes.io"


# -- the CRD itself ------------------------------------------------------------------------------
def default_crd(crd: Obj) -> None:
    """Upstream's CRD defaults: singular, listKind, conversion strategy."""
    spec = crd.setdefault("spec", {})
    names = spec.setdefault("names", {})
    if names.get("kind"):
        names.setdefault("singular", str(names["kind"]).lower())
        names.setdefault("listKind", f"{names['kind']}List")
    spec.setdefault("conversion", {"strategy": "None"})


def crd_causes(crd: Obj, old: Obj | None) -> list[str]:
    """Why a CRD is invalid (empty when it is valid)."""
    meta, spec = crd.get("metadata") or {}, crd.get("spec") or {}
    names = spec.get("names") or {}
    group, plural = str(spec.get("group") or ""), str(names.get("plural") or "")
    causes: list[str] = []
    if not group:
        causes.append("spec.group: Required value")
    if not plural:
        causes.append("spec.names.plural: Required value")
    if not names.get("kind"):
        causes.append("spec.names.kind: Required value")
    if group and plural and meta.get("name") != f"{plural}.{group}":
        causes.append(
            f'metadata.name: Invalid value: "{meta.get("name")}": must be '
            'spec.names.plural+"."+spec.group'
        )
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(
            f"spec.scope: Unsupported value: {json.dumps(spec.get('scope', ''))}: "
            'supported values: "Cluster", "Namespaced"'
        )
    versions = spec.get("versions") or []
    if not versions:
        causes.append(
            "spec.versions: Invalid value: null: must have exactly one version marked as "
            "storage version"
        )
    elif sum(1 for v in versions if v.get("storage")) != 1:
        causes.append(
            f"spec.versions: Invalid value: {_go(versions)}: must have exactly one version "
            "marked as storage version"
        )
    for index, version in enumerate(versions):
        where = f"spec.versions[{index}].schema.openAPIV3Schema"
        root = (version.get("schema") or {}).get("openAPIV3Schema")
        if not isinstance(root, dict):
            causes.append(f"{where}: Required value: schemas are required")
            continue
        causes.extend(_structural_causes(root, where, at_root=True))
    annotations = meta.get("annotations") or {}
    if old is None and _PROTECTED.search(group) and _APPROVAL not in annotations:
        causes.append(
            f"metadata.annotations[{_APPROVAL}]: Required value: protected groups must have "
            f'approval annotation "{_APPROVAL}", see '
            "https://github.com/kubernetes/enhancements/pull/1111"
        )
    return causes


def _structural_causes(node: Obj, where: str, *, at_root: bool = False) -> list[str]:
    causes: list[str] = []
    loose = node.get("x-kubernetes-int-or-string") or node.get(
        "x-kubernetes-preserve-unknown-fields"
    )
    if not node.get("type") and not loose:
        place = (
            "at the root"
            if at_root
            else "for specified array items"
            if where.endswith(".items")
            else "for specified object fields"
        )
        causes.append(f"{where}.type: Required value: must not be empty {place}")
    if at_root and node.get("type") not in (None, "object"):
        causes.append(f'{where}.type: Invalid value: "{node["type"]}": must be object at the root')
    if node.get("type") == "array" and "items" not in node:
        causes.append(f"{where}.items: Required value: must be specified")
    if "properties" in node and "additionalProperties" in node:
        causes.append(
            f"{where}.additionalProperties: Forbidden: additionalProperties and properties are "
            "mutual exclusive"
        )
    for key, sub in (node.get("properties") or {}).items():
        if isinstance(sub, dict):
            causes.extend(_structural_causes(sub, f"{where}.properties[{key}]"))
    if isinstance(node.get("items"), dict):
        causes.extend(_structural_causes(node["items"], f"{where}.items"))
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        causes.extend(_structural_causes(extra, f"{where}.additionalProperties"))
    return causes


def _condition(kind: str, status: str, reason: str, message: str, old: list[Obj]) -> Obj:
    for prev in old:
        if prev.get("type") == kind and prev.get("status") == status:
            stamp = prev.get("lastTransitionTime") or now_iso()
            break
    else:
        stamp = now_iso()
    return {
        "type": kind,
        "status": status,
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }


def crd_status(crd: Obj, others: list[Obj], old: Obj | None) -> Obj:
    """The status the naming and establishing controllers give ``crd``.

    ``others``: the other CRDs of the store (names already accepted in the group conflict).
    """
    spec = crd["spec"]
    names, group = spec.get("names") or {}, spec.get("group")
    old_status = (old or {}).get("status") or {}
    old_conditions = list(old_status.get("conditions") or [])
    conflict: tuple[str, str] | None = None
    for other in others:
        if other["metadata"]["name"] == crd["metadata"]["name"]:
            continue
        if (other.get("spec") or {}).get("group") != group:
            continue
        taken = (other.get("status") or {}).get("acceptedNames") or {}
        if names.get("singular") and names.get("singular") in (
            taken.get("singular"),
            taken.get("plural"),
        ):
            conflict = ("SingularConflict", str(names["singular"]))
        elif names.get("kind") == taken.get("kind"):
            conflict = ("KindConflict", str(names["kind"]))
        elif names.get("listKind") == taken.get("listKind"):
            conflict = ("ListKindConflict", str(names["listKind"]))
        else:
            shared = set(names.get("shortNames") or ()) & set(taken.get("shortNames") or ())
            if shared:
                conflict = ("ShortNamesConflict", sorted(shared)[0])
        if conflict:
            break
    accepted = {
        k: names[k]
        for k in ("plural", "singular", "shortNames", "kind", "listKind", "categories")
        if names.get(k)
    }
    if conflict is None:
        conditions = [
            _condition(
                "NamesAccepted", "True", "NoConflicts", "no conflicts found", old_conditions
            ),
            _condition(
                "Established",
                "True",
                "InitialNamesAccepted",
                "the initial names have been accepted",
                old_conditions,
            ),
        ]
    else:
        accepted = dict(old_status.get("acceptedNames") or {})
        conditions = [
            _condition(
                "NamesAccepted",
                "False",
                conflict[0],
                f'"{conflict[1]}" is already in use',
                old_conditions,
            ),
            _condition(
                "Established",
                "False",
                "NotAccepted",
                "not all names are accepted",
                old_conditions,
            ),
        ]
    group_ok = not _PROTECTED.search(str(group or ""))
    if not group_ok:
        url = (crd["metadata"].get("annotations") or {}).get(_APPROVAL, "")
        conditions.append(
            _condition(
                "KubernetesAPIApprovalPolicyConformant",
                "True",
                "ApprovedAnnotation",
                f"approved in {url}",
                old_conditions,
            )
        )
    stored = list(old_status.get("storedVersions") or [])
    storage = next((v["name"] for v in spec.get("versions") or [] if v.get("storage")), None)
    if storage and storage not in stored:
        stored.append(storage)
    return {"acceptedNames": accepted, "conditions": conditions, "storedVersions": stored}


def install(store: Any, crd: Obj, key: str) -> None:
    """Create ``crd`` in ``store`` (under ``key``) as an apply would: defaulted, with status."""
    crd = copy.deepcopy(crd)
    meta = crd.setdefault("metadata", {})
    meta.pop("creationTimestamp", None)
    default_crd(crd)
    others, _ = store.list(key)
    crd["status"] = crd_status(crd, others, None)
    store.create(key, crd)


# -- custom objects ----------------------------------------------------------------------------
def unknown_fields(obj: Obj, root: Obj | None) -> list[str]:
    """Paths of the fields the schema prunes (``spec.foo``, ``spec.items[0].bar``)."""
    found: list[str] = []
    if root is None:
        return found
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta_schema = builtin_schema.definitions().get(_OBJECT_META)
        found.extend(builtin_schema.unknown_fields(meta, meta_schema, "metadata"))
    props = root.get("properties") or {}
    for key, value in obj.items():
        if key in ("apiVersion", "kind", "metadata"):
            continue
        if key in props:
            _unknown(value, props[key], key, found)
        elif not root.get("x-kubernetes-preserve-unknown-fields"):
            found.append(key)
    return found


def _unknown(value: Any, node: Any, path: str, found: list[str]) -> None:
    if not isinstance(node, dict):
        return
    if isinstance(value, dict):
        if node.get("x-kubernetes-embedded-resource"):
            return
        props = node.get("properties")
        extra = node.get("additionalProperties")
        preserve = node.get("x-kubernetes-preserve-unknown-fields")
        for key, sub in value.items():
            where = f"{path}.{key}"
            if props is not None and key in props:
                _unknown(sub, props[key], where, found)
            elif isinstance(extra, dict):
                _unknown(sub, extra, where, found)
            elif not (preserve or extra is True):
                found.append(where)
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for index, item in enumerate(value):
            _unknown(item, node["items"], f"{path}[{index}]", found)


def apply_defaults(obj: Obj, root: Obj | None) -> None:
    """Structural defaulting: absent fields with a ``default`` get it (nested ones too)."""
    if root is None:
        return
    for key, sub in (root.get("properties") or {}).items():
        if key in ("apiVersion", "kind", "metadata") or not isinstance(sub, dict):
            continue
        if key not in obj and "default" in sub:
            obj[key] = copy.deepcopy(sub["default"])
        if key in obj:
            _default(obj[key], sub)


def _default(value: Any, node: Obj) -> None:
    if isinstance(value, dict):
        for key, sub in (node.get("properties") or {}).items():
            if not isinstance(sub, dict):
                continue
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                _default(value[key], sub)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and not node.get("properties"):
            for sub_value in value.values():
                _default(sub_value, extra)
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for item in value:
            _default(item, node["items"])


def schema_causes(obj: Obj, root: Obj | None) -> list[Cause]:
    """What the schema refuses in ``obj``: (reason, field, message) as upstream reports them."""
    causes: list[Cause] = []
    if root is None:
        return causes
    for key in root.get("required") or []:
        if key not in obj:
            causes.append(("FieldValueRequired", key, "Required value"))
    for key, sub in (root.get("properties") or {}).items():
        if key in ("apiVersion", "kind", "metadata") or key not in obj:
            continue
        if isinstance(sub, dict):
            _validate(obj[key], sub, key, causes)
    return causes


_TYPE_NAMES = {dict: "object", list: "array", str: "string", bool: "boolean", float: "number"}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return _TYPE_NAMES.get(type(value), "object")


def _type_ok(value: Any, wanted: str) -> bool:
    actual = _json_type(value)
    if wanted == "number":
        return actual in ("integer", "number")
    if wanted == "integer" and actual == "number":
        return float(value).is_integer()
    return actual == wanted


def _num(value: Any) -> str:
    """A number as Go's %v prints it."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _go(value: Any) -> str:
    """A value as upstream prints it in a field error: ints bare, strings quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _num(value)
    if isinstance(value, str):
        return json.dumps(value)
    if value is None:
        return "null"
    return json.dumps(value, separators=(",", ":"))


def _invalid(path: str, value: Any, detail: str) -> Cause:
    return ("FieldValueInvalid", path, f"Invalid value: {_go(value)}: {path} in body {detail}")


def _validate(value: Any, node: Obj, path: str, causes: list[Cause]) -> None:
    if value is None and node.get("nullable"):
        return
    if node.get("x-kubernetes-int-or-string") and _json_type(value) not in ("integer", "string"):
        actual = _json_type(value)
        causes.append(
            (
                "FieldValueTypeInvalid",
                path,
                f'Invalid value: "{actual}": {path} in body must be of type '
                f'integer,string: "{actual}"',
            )
        )
        return
    wanted = node.get("type")
    if wanted and not _type_ok(value, wanted):
        actual = _json_type(value)
        causes.append(
            (
                "FieldValueTypeInvalid",
                path,
                f'Invalid value: "{actual}": {path} in body must be of type {wanted}: "{actual}"',
            )
        )
        return
    if isinstance(value, str):
        if "maxLength" in node and len(value.encode()) > node["maxLength"]:
            causes.append(
                (
                    "FieldValueTooLong",
                    path,
                    f"Too long: may not be more than {node['maxLength']} bytes",
                )
            )
        if "minLength" in node and len(value) < node["minLength"]:
            causes.append(
                _invalid(path, value, f"should be at least {node['minLength']} chars long")
            )
        pattern = node.get("pattern")
        if isinstance(pattern, str) and not _search(pattern, value):
            causes.append(_invalid(path, value, f"should match '{pattern}'"))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        _number_causes(value, node, path, causes)
    if isinstance(value, list):
        if "maxItems" in node and len(value) > node["maxItems"]:
            causes.append(
                (
                    "FieldValueTooMany",
                    path,
                    f"Too many: {len(value)}: must have at most {node['maxItems']} items",
                )
            )
        if "minItems" in node and len(value) < node["minItems"]:
            causes.append(_invalid(path, value, f"should have at least {node['minItems']} items"))
        if node.get("uniqueItems"):
            seen = [json.dumps(v, sort_keys=True) for v in value]
            if len(set(seen)) != len(seen):
                causes.append(_invalid(path, value, "shouldn't contain duplicates"))
        items = node.get("items")
        if isinstance(items, dict):
            for index, item in enumerate(value):
                _validate(item, items, f"{path}[{index}]", causes)
    if "enum" in node and value not in node["enum"]:
        supported = ", ".join(_go(v) for v in node["enum"])
        causes.append(
            (
                "FieldValueNotSupported",
                path,
                f"Unsupported value: {_go(value)}: supported values: {supported}",
            )
        )
    if isinstance(value, dict):
        _object_causes(value, node, path, causes)


def _number_causes(value: float, node: Obj, path: str, causes: list[Cause]) -> None:
    if "minimum" in node:
        low = node["minimum"]
        if node.get("exclusiveMinimum") and value <= low:
            causes.append(_invalid(path, value, f"should be greater than {_num(low)}"))
        elif value < low:
            causes.append(_invalid(path, value, f"should be greater than or equal to {_num(low)}"))
    if "maximum" in node:
        high = node["maximum"]
        if node.get("exclusiveMaximum") and value >= high:
            causes.append(_invalid(path, value, f"should be less than {_num(high)}"))
        elif value > high:
            causes.append(_invalid(path, value, f"should be less than or equal to {_num(high)}"))
    step = node.get("multipleOf")
    if step and (value / step) != int(value / step):
        causes.append(_invalid(path, value, f"should be a multiple of {_num(step)}"))


def _object_causes(value: Obj, node: Obj, path: str, causes: list[Cause]) -> None:
    if "maxProperties" in node and len(value) > node["maxProperties"]:
        causes.append(
            (
                "FieldValueTooMany",
                path,
                f"Too many: {len(value)}: must have at most {node['maxProperties']} items",
            )
        )
    if "minProperties" in node and len(value) < node["minProperties"]:
        causes.append(
            _invalid(path, value, f"should have at least {node['minProperties']} properties")
        )
    for key in node.get("required") or []:
        if key not in value:
            causes.append(("FieldValueRequired", f"{path}.{key}", "Required value"))
    props = node.get("properties") or {}
    for key, sub in props.items():
        if key in value and isinstance(sub, dict):
            _validate(value[key], sub, f"{path}.{key}", causes)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        for key, sub_value in value.items():
            if key not in props:
                _validate(sub_value, extra, f"{path}.{key}", causes)


_PATTERNS: dict[str, re.Pattern[str] | None] = {}


def _search(pattern: str, value: str) -> bool:
    """ECMA-262-ish ``pattern`` (as Go's RE2 reads it) searched in ``value``."""
    if pattern in _PATTERNS:
        compiled = _PATTERNS[pattern]
    else:
        try:
            compiled = re.compile(pattern)
        except re.error:
            compiled = None  # a pattern Python cannot read is not checked
        if len(_PATTERNS) < 10_000:
            _PATTERNS[pattern] = compiled
    return compiled is None or compiled.search(value) is not None


def invalid_error(kind: str, group: str, name: str, causes: list[Cause]) -> StoreError:
    """422 Invalid with upstream's message and ``details.causes`` for a custom object."""
    texts = [f"{field}: {message}" for _, field, message in causes]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    err = StoreError(422, "Invalid", f'{kind}.{group} "{name}" is invalid: {joined}')
    err.details = {  # type: ignore[attr-defined]
        "name": name,
        "group": group,
        "kind": kind,
        "causes": [
            {"reason": reason, "message": message, "field": field}
            for reason, field, message in causes
        ],
    }
    return err


# -- custom objects' subresources and columns ----------------------------------------------
def read_path(obj: Any, path: str) -> Any:
    """The value at a simple JSON path (``.spec.replicas``), None when absent."""
    node = obj
    for part in [p for p in path.split(".") if p]:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def write_path(obj: Obj, path: str, value: Any) -> None:
    """Set the value at a simple JSON path, making the objects on the way."""
    parts = [p for p in path.split(".") if p]
    node = obj
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


_TOKEN = re.compile(
    r"\.([^.\[]+)|\[(\d+)\]|\[\*\]|\[\?\(@\.([\w.-]+)\s*==\s*[\"']([^\"']*)[\"']\)\]"
)


def json_path(obj: Any, path: str) -> list[Any]:
    """Results of a kubectl-style JSONPath (``.a.b``, ``[0]``, ``[*]``, ``[?(@.k=="v")]``)."""
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    nodes = [obj]
    position = 0
    while position < len(path):
        match = _TOKEN.match(path, position)
        if match is None:
            return []
        position = match.end()
        key, index, filter_key, filter_value = match.groups()
        found: list[Any] = []
        for node in nodes:
            if key is not None and isinstance(node, dict) and key in node:
                found.append(node[key])
            elif index is not None and isinstance(node, list) and int(index) < len(node):
                found.append(node[int(index)])
            elif match.group(0) == "[*]" and isinstance(node, list):
                found.extend(node)
            elif filter_key is not None and isinstance(node, list):
                found.extend(
                    item for item in node if str(read_path(item, filter_key)) == filter_value
                )
        nodes = found
    return nodes
