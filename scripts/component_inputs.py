#!/usr/bin/env python3
"""The GitLab component's inputs as a Markdown table, from its spec (the one source of truth).

docs/ci.md and the component's catalog README (templates/ci-deploy/README.md) keep the table
between ``<!-- component-inputs:start -->`` and ``<!-- component-inputs:end -->``:

    python3 scripts/component_inputs.py            # rewrite that part of both files
    python3 scripts/component_inputs.py --check    # exit 1 when it is not the spec's

tests/pipelines/test_component_inputs.py runs the check.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPONENT = ROOT / "templates" / "ci-deploy" / "template.yml"
DOCS = (ROOT / "docs" / "ci.md", COMPONENT.parent / "README.md")
START, END = "<!-- component-inputs:start -->", "<!-- component-inputs:end -->"


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def kind(spec: dict[str, Any]) -> str:
    if "options" in spec:
        return " \\| ".join(f"`{o}`" if o != "" else "empty" for o in spec["options"])
    text = spec.get("type", "string")
    if "regex" in spec:
        text += f", `{cell(spec['regex'])}`"
    return str(text)


def default(spec: dict[str, Any]) -> str:
    value = spec.get("default")
    if value is None:
        return "(required)"
    if value == "":
        return "empty"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{cell(str(value))}`"


def table() -> str:
    spec = next(yaml.safe_load_all(COMPONENT.read_text(encoding="utf-8")))
    rows = ["| input | type / options | default | what it is for |", "|---|---|---|---|"]
    for name, item in spec["spec"]["inputs"].items():
        description = cell(" ".join(str(item.get("description", "")).split()))
        rows.append(f"| `{name}` | {kind(item)} | {default(item)} | {description} |")
    return "\n".join(rows)


def document(text: str) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    stale = 0
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        wanted = document(text)
        if argv[1:] == ["--check"]:
            if wanted != text:
                print(f"{doc}: the component's input table is not its spec's; run {argv[0]}")
                stale += 1
        else:
            doc.write_text(wanted, encoding="utf-8")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
