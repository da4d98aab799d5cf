"""Undefined names and attributes explained in the template's own terms.

Jinja says ``'ci_deploy.config.model.EnvironmentConfig object' has no attribute 'databse'``;
the template author wrote ``env.databse``. The expression is found in the template line (so a
loop or ``{% set %}`` variable keeps its name), resolved among the template variables, and the
nearest field or key of that value is suggested. jinja2 is imported only when explaining.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterator
from typing import Any

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_SUBSCRIPT = r"\[\s*(?:'[^']*'|\"[^\"]*\"|\d+)\s*\]"
_CHAIN = rf"(?<![\w.\]]){_IDENT}(?:\s*\.\s*{_IDENT}|\s*{_SUBSCRIPT})*"
_SEGMENT = re.compile(rf"\.\s*({_IDENT})|\[\s*(?:'([^']*)'|\"([^\"]*)\"|(\d+))\s*\]")
_NAME = re.compile(rf"'({_IDENT})' is undefined")
_ATTRIBUTE = re.compile(r"'(?P<type>.*)' has no attribute '(?P<attr>[^']*)'")
_ELEMENT = re.compile(r"(?P<type>.*) has no element (?P<index>-?\d+)")
_MISSING = object()


def explain_undefined(
    message: str, context: dict[str, Any], line: str | None
) -> tuple[str, str | None]:
    """(message, suggestion) for Jinja's UndefinedError ``message`` raised on template ``line``."""
    name = _NAME.fullmatch(message)
    if name is not None:
        return message, _suggest_variable(name.group(1), context)
    attribute = _ATTRIBUTE.fullmatch(message)
    if attribute is not None:
        return _explain_attribute(attribute["type"], attribute["attr"], context, line or "")
    element = _ELEMENT.fullmatch(message)
    if element is not None:
        return _explain_element(message, element["index"], context, line or "")
    return message, None


def _suggest_variable(name: str, context: dict[str, Any]) -> str:
    if name in context:  # defined, but not visible from an imported template
        return 'import macros "with context" to use the template variables'
    close = difflib.get_close_matches(name, list(context), n=1)
    if close:
        return f"did you mean '{close[0]}'?"
    return "template variables: " + ", ".join(sorted(context))


def _explain_attribute(
    type_repr: str, attr: str, context: dict[str, Any], line: str
) -> tuple[str, str | None]:
    expression, value = _owner(type_repr, attr, context, line)
    if expression is None:
        if type_repr.startswith("ci_deploy."):  # an internal class, but no name for it
            type_repr = type_repr.rsplit(".", 1)[1]
        return f"'{type_repr}' has no attribute '{attr}'", None
    if value is None:
        return (
            f"{expression} has no attribute '{attr}': it is not set (None)",
            f"{{% if {expression} %}} tests it",
        )
    return f"{expression} has no attribute '{attr}'", _suggest_member(attr, expression, value)


def _explain_element(
    message: str, index: str, context: dict[str, Any], line: str
) -> tuple[str, str | None]:
    written = _written_owners(rf"\s*\[\s*{re.escape(index)}\s*\]", line)
    if not written:
        return message, None
    value = _resolve(written[0], context)
    count = f" ({len(value)} items)" if isinstance(value, (list, tuple)) else ""
    return f"{written[0]} has no element {index}{count}", None


def _owner(type_repr: str, attr: str, context: dict[str, Any], line: str) -> tuple[str | None, Any]:
    """The expression whose ``attr`` was missing, and its value when the context has it."""
    from jinja2.utils import object_type_repr

    access = (
        rf"(?:\s*\.\s*{re.escape(attr)}(?!\w)|\s*\[\s*(?P<q>['\"]){re.escape(attr)}(?P=q)\s*\])"
    )
    written = _written_owners(access, line)
    for expression in written:
        value = _resolve(expression, context)
        if value is not _MISSING and object_type_repr(value) == type_repr:
            return expression, value
    found = _find_by_type(type_repr, context)  # a loop or {% set %} variable: same kind of value
    if written:
        if type_repr == "None":
            return written[0], None
        return written[0], found[1] if found else _MISSING
    if found is not None and found[1] is not None:
        return found
    return None, _MISSING


def _written_owners(access: str, line: str) -> list[str]:
    """Expressions written on the template line just before ``access`` (``.attr``, ``[0]`` …)."""
    pattern = re.compile(rf"(?=({_CHAIN}){access})")
    return [re.sub(r"\s+", "", match.group(1)) for match in pattern.finditer(line)]


def _resolve(expression: str, context: dict[str, Any]) -> Any:
    head = re.match(_IDENT, expression)
    if head is None or head.group(0) not in context:
        return _MISSING
    value = context[head.group(0)]
    for segment in _SEGMENT.finditer(expression, head.end()):
        name, single, double, index = segment.groups()
        key: str | int = int(index) if index is not None else (name or single or double or "")
        value = _child(value, key)
        if value is _MISSING:
            return _MISSING
    return value


def _child(value: Any, key: str | int) -> Any:
    if isinstance(value, dict):
        return value.get(key, _MISSING)
    if isinstance(value, (list, tuple)) and isinstance(key, int):
        return value[key] if -len(value) <= key < len(value) else _MISSING
    if isinstance(key, str) and dataclasses.is_dataclass(value) and hasattr(value, key):
        return getattr(value, key)
    return _MISSING


def _find_by_type(type_repr: str, context: dict[str, Any]) -> tuple[str, Any] | None:
    """The shortest path from a template variable to a value of ``type_repr`` (a dataclass)."""
    from jinja2.utils import object_type_repr

    if not type_repr.startswith("ci_deploy."):  # dicts, strings …: too many to pick one
        return None
    level = list(context.items())
    for _depth in range(5):
        for path, value in level:
            if object_type_repr(value) == type_repr:
                return path, value
        level = [child for path, value in level for child in _children(path, value)]
    return None


def _children(path: str, value: Any) -> Iterator[tuple[str, Any]]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield f"{path}.{field.name}", getattr(value, field.name)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}[{str(key)!r}]", item
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield f"{path}[{index}]", item


def _suggest_member(attr: str, expression: str, value: Any) -> str | None:
    if isinstance(value, dict):
        members, what = [str(key) for key in value], "keys"
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        members, what = _attributes(value), "attributes"
    else:
        return None
    close = difflib.get_close_matches(attr, members, n=1)
    if close:
        return f"did you mean '{close[0]}'?"
    if not members:
        return f"{expression} is empty"
    return f"{what} of {expression}: " + ", ".join(sorted(members))


def _attributes(value: Any) -> list[str]:
    """Fields and public properties of a configuration dataclass."""
    names = [field.name for field in dataclasses.fields(value)]
    for name, member in vars(type(value)).items():
        if isinstance(member, property) and not name.startswith("_"):
            names.append(name)
    return names
