"""Label and field selectors from list/watch query strings, and LabelSelector objects.

Label selector syntax as on a real server: ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``,
``a notin (x)``, ``a`` (exists), ``!a`` (does not exist), comma-separated (AND).
Field selectors: ``metadata.name``, ``metadata.namespace`` for every kind, plus a few per kind
(``status.phase``, ``spec.nodeName`` for pods; ``type`` for secrets and events;
``involvedObject.*``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kube_sandbox.storage.store import StoreError

Obj = dict[str, Any]
Predicate = Callable[[Obj], bool]

_REQUIREMENT = re.compile(
    r"""\s*(?:
        (?P<notkey>!\s*[\w./-]+) |
        (?P<setkey>[\w./-]+)\s+(?P<setop>in|notin)\s*\((?P<values>[^)]*)\) |
        (?P<key>[\w./-]+)\s*(?P<op>==|=|!=)\s*(?P<value>[\w./-]*) |
        (?P<exists>[\w./-]+)
    )\s*(?:,|$)""",
    re.VERBOSE,
)

FIELD_SELECTABLE = {
    "Pod": {"status.phase", "spec.nodeName", "spec.restartPolicy", "spec.schedulerName"},
    "Secret": {"type"},
    "Event": {
        "involvedObject.kind",
        "involvedObject.name",
        "involvedObject.namespace",
        "involvedObject.uid",
        "reason",
        "type",
    },
    "Namespace": {"status.phase"},
    "ReplicaSet": {"status.replicas"},
}


def _bad(message: str) -> StoreError:
    return StoreError(400, "BadRequest", message)


def parse_label_selector(text: str) -> Predicate:
    """A predicate on objects for a label selector string; 400 BadRequest when malformed."""
    checks: list[Callable[[dict[str, str]], bool]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _REQUIREMENT.match(text, pos)
        if match is None or match.end() == pos:
            raise _bad(f"unable to parse requirement: found '{text[pos:]}', invalid label selector")
        checks.append(_requirement(match))
        pos = match.end()

    def predicate(obj: Obj) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(check(labels) for check in checks)

    return predicate


def _requirement(match: re.Match[str]) -> Callable[[dict[str, str]], bool]:
    if match["notkey"]:
        key = match["notkey"].lstrip("!").strip()
        return lambda labels: key not in labels
    if match["setkey"]:
        key = match["setkey"]
        values = {v.strip() for v in match["values"].split(",") if v.strip()}
        if match["setop"] == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if match["key"]:
        key, value = match["key"], match["value"]
        if match["op"] == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    key = match["exists"]
    return lambda labels: key in labels


def match_label_selector(selector: Obj | None, labels: dict[str, str] | None) -> bool:
    """Whether ``labels`` match a LabelSelector object (matchLabels + matchExpressions).

    An empty selector matches everything; a None selector matches nothing (as upstream).
    """
    if selector is None:
        return False
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def selector_string(selector: Obj | None) -> str:
    """A LabelSelector object as a query string (``a=b,c in (d)``), as ``kubectl`` sends it."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(sorted(values))})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(sorted(values))})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def parse_field_selector(text: str, kind: str) -> Predicate:
    """A predicate for a field selector (``metadata.name=x,status.phase!=Running``)."""
    allowed = {"metadata.name", "metadata.namespace"} | FIELD_SELECTABLE.get(kind, set())
    checks: list[Predicate] = []
    for term in filter(None, (t.strip() for t in text.split(","))):
        match = re.fullmatch(r"([\w.]+)\s*(==|=|!=)\s*(.*)", term)
        if match is None:
            raise _bad(f"invalid selector: '{text}'; can't understand '{term}'")
        field, op, value = match.groups()
        if field not in allowed:
            raise _bad(f"field label not supported: {field}")
        checks.append(_field_check(field, op, value))
    return lambda obj: all(check(obj) for check in checks)


def _field_check(field: str, op: str, value: str) -> Predicate:
    path = field.split(".")

    def check(obj: Obj) -> bool:
        node: Any = obj
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        actual = "" if node is None else str(node)
        return (actual == value) != (op == "!=")

    return check
