"""The layers of DESIGN.md, checked on the import statements of every module (none is run).

Data flows down: a library layer never imports the CLI or a verb; ``kube`` knows nothing of
ci-deploy but its errors; the sandbox is reached only through its ``sandbox`` verb. A new
import that crosses a line fails here with the module and the import that crossed it.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# layer → the other ci_deploy layers it may import (its own is always allowed)
ALLOWED: dict[str, set[str]] = {
    "text": set(),
    "fileio": set(),
    "errors": {"text"},
    "yamlfile": {"errors", "text"},
    "verbs": set(),
    "kube": {"errors", "text"},
    "config": {"errors", "yamlfile", "text"},
    "render": {"config", "errors", "yamlfile", "text"},
    "pipelines": {"config", "errors", "render", "verbs", "text"},
    "platforms": {"errors", "fileio", "kube", "text", "verbs"},
    "rollout": {"config", "errors", "kube", "platforms", "render", "text"},
    "sandbox": {"fileio"},
    "commands": {
        "config", "errors", "kube", "pipelines", "platforms", "render", "rollout", "sandbox",
        "text", "verbs", "yamlfile",
    },
    "cli": {"errors", "platforms", "verbs", "text"},
    "__main__": {"cli"},
    "__init__": set(),
}  # fmt: skip
# Front doors that run the CLI in process (the action's container entrypoint).
FRONT_DOORS = {"ci_deploy.platforms.action": {"cli"}}


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every ``ci_deploy`` import in ``path``, function-level ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name.split(".")[0] == "ci_deploy"]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def crossings() -> list[str]:
    problems = []
    for path in sorted((SRC / "ci_deploy").rglob("*.py")):
        module = module_name(path)
        layer = module.split(".")[1] if "." in module else "__init__"
        # "__init__": the package root, which holds only __version__
        allowed = ALLOWED[layer] | FRONT_DOORS.get(module, set()) | {layer, "__init__"}
        for line, imported in imports_of(path):
            target = imported.split(".")[1] if "." in imported else "__init__"
            if target not in allowed:
                problems.append(f"{path.relative_to(SRC)}:{line}: {module} imports {imported}")
    return problems


def test_no_module_imports_across_its_layer() -> None:
    assert crossings() == []


def test_every_layer_is_known() -> None:
    layers = {p.stem for p in (SRC / "ci_deploy").iterdir() if p.suffix == ".py" or p.is_dir()}
    assert layers - {"__pycache__"} == set(ALLOWED)


def test_the_check_sees_a_crossing(tmp_path: Path) -> None:
    # The same reader on a module that crosses a line reports it: the check can fail.
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from ci_deploy.cli import main\n")
    assert imports_of(bad) == [(2, "ci_deploy.cli")]
