"""The sandbox's registry of built-in kinds agrees with the official Python client's REST paths.

The client (``kubernetes``, generated from upstream's OpenAPI document) names every resource's
URL: its group, version, plural, whether it is namespaced, and its ``status`` / ``scale``
subresources. ``BUILTIN_FACTS`` in ``kube_sandbox/objects/resources.py`` was transcribed by hand
from upstream's discovery; this test checks each served kind against the client's paths, so a
wrong plural, scope or subresource fails here. (Short names and categories are not in the
OpenAPI document; the client is newer than 1.32, so only "served → in the client" is checked.)
"""

from __future__ import annotations

import re
from pathlib import Path

import kubernetes.client.api

from kube_sandbox.objects import resources, schema

_PATH = re.compile(r"'(/apis?/[^']+)'")


def client_paths() -> set[str]:
    root = Path(kubernetes.client.api.__file__).parent
    found: set[str] = set()
    for module in root.glob("*_api.py"):
        found |= set(_PATH.findall(module.read_text(encoding="utf-8")))
    return found


def base(group: str, version: str) -> str:
    return f"/api/{version}" if not group else f"/apis/{group}/{version}"


def test_every_served_builtin_kind_has_the_plural_scope_and_subresources_upstream_has() -> None:
    paths = client_paths()
    problems = []
    for rt in resources.RESOURCES:
        root = base(rt.group, rt.version)
        if rt.namespaced:
            item = f"{root}/namespaces/{{namespace}}/{rt.plural}/{{name}}"
            wrong_scope = f"{root}/{rt.plural}/{{name}}"
        else:
            item = f"{root}/{rt.plural}/{{name}}"
            wrong_scope = f"{root}/namespaces/{{namespace}}/{rt.plural}/{{name}}"
        if item not in paths:
            hint = " (the client has it with the other scope)" if wrong_scope in paths else ""
            problems.append(f"{rt.kind}: no {item} upstream{hint}")
            continue
        for sub in rt.subresources:
            if f"{item}/{sub}" not in paths:
                problems.append(f"{rt.kind}: no subresource {sub} upstream ({item}/{sub})")
        # the client is newer than 1.32: a status only counts where 1.32's kind has a status
        has_status = "status" in (schema.for_kind(rt.group, rt.version, rt.kind) or {}).get(
            "properties", {}
        )
        for sub in ("status", "scale"):
            newer = sub == "status" and not has_status
            if f"{item}/{sub}" in paths and sub not in rt.subresources and not newer:
                problems.append(f"{rt.kind}: upstream serves {sub}, the sandbox does not")
    assert problems == []
    assert len(resources.RESOURCES) >= 45  # the check covered the whole registry
