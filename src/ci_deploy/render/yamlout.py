"""Rendered objects back to YAML text: deterministic, block style, one document per object."""

from __future__ import annotations

from typing import Any

import yaml

try:  # the C dumper is several times faster; fall back when libyaml is absent
    _Dumper: type[yaml.SafeDumper] = yaml.CSafeDumper  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Dumper = yaml.SafeDumper


def dump_object(obj: dict[str, Any]) -> str:
    """One object as a YAML document body (keys in the order the template wrote them)."""
    text: str = yaml.dump(
        obj,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=4096,  # never fold long strings (images, URLs, commands)
    )
    return text


def to_yaml(objects: list[dict[str, Any]]) -> str:
    """Multi-document YAML: every object starts with ``---``; empty list gives ``""``."""
    return "".join("---\n" + dump_object(obj) for obj in objects)
