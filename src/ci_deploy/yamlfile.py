"""The one YAML loader: plain Python values plus the line and column of every key and value.

Configuration errors must name file, line and column; PyYAML's constructed objects forget where
they came from, so we compose the node tree once, build the values from it, and keep a map from
key path to position. Duplicate keys are an error (PyYAML would silently keep the last one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ci_deploy.errors import ConfigError, Location, Problem

KeyPath = tuple[str | int, ...]
# A configuration holds hundreds of values, rendered manifests thousands: past this, aliases are
# being used to multiply a small file into a huge value (a "billion laughs" document).
MAX_VALUES = 100_000


class _Refused(Exception):
    """Building stops: ``problem`` says where and why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@dataclass
class _Walk:
    """What a build has seen: values built so far, and the nodes being built (for cycles)."""

    built: int = 0
    active: set[int] = field(default_factory=set)


try:  # the C loader is several times faster; fall back when libyaml is absent
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Loader = yaml.SafeLoader


@dataclass
class YamlDocument:
    """One parsed YAML document with positions for every key path."""

    file: str
    data: Any
    value_positions: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)

    def location(self, path: KeyPath, *, key: bool = False) -> Location:
        """Location of the value (or the key) at ``path``; the nearest known ancestor otherwise."""
        table = self.key_positions if key else self.value_positions
        probe = tuple(path)
        while True:
            pos = table.get(probe) or self.value_positions.get(probe)
            if pos is not None:
                return Location(self.file, pos[0], pos[1])
            if not probe:
                return Location(self.file)
            probe = probe[:-1]


def format_path(path: KeyPath) -> str:
    """``("canary", "stages", 0, "duration")`` → ``canary.stages[0].duration``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _build(
    node: yaml.Node,
    path: KeyPath,
    doc: YamlDocument,
    constructor: yaml.constructor.SafeConstructor,
    problems: list[Problem],
    walk: _Walk,
) -> Any:
    doc.value_positions[path] = _mark(node)
    walk.built += 1
    where = Location(doc.file, *_mark(node))
    if walk.built > MAX_VALUES:
        raise _Refused(
            Problem(
                where,
                format_path(path),
                f"expands to more than {MAX_VALUES} values through aliases (*name); "
                "write the values out instead of multiplying them with aliases",
            )
        )
    if id(node) in walk.active:
        raise _Refused(
            Problem(where, format_path(path), "an alias (*name) refers to a value that contains it")
        )
    if not isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
        return constructor.construct_object(node, deep=True)
    walk.active.add(id(node))
    try:
        return _build_collection(node, path, doc, constructor, problems, walk)
    finally:
        walk.active.discard(id(node))


def _build_collection(
    node: yaml.Node,
    path: KeyPath,
    doc: YamlDocument,
    constructor: yaml.constructor.SafeConstructor,
    problems: list[Problem],
    walk: _Walk,
) -> Any:
    if isinstance(node, yaml.MappingNode):
        constructor.flatten_mapping(node)  # resolves YAML merge keys (<<)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                line, col = _mark(key_node)
                problems.append(
                    Problem(
                        Location(doc.file, line, col),
                        format_path(path),
                        f"expected a plain key, found a {type(key).__name__}",
                    )
                )
                continue
            if isinstance(key, (bool, float)) or key is None:
                key = str(key).lower() if not isinstance(key, float) else str(key)
            child = (*path, key)
            if key in result:
                line, col = _mark(key_node)
                first = doc.key_positions.get(child, (0, 0))[0]
                problems.append(
                    Problem(
                        Location(doc.file, line, col),
                        format_path(child),
                        f"duplicate key (first defined on line {first})",
                    )
                )
                continue
            doc.key_positions[child] = _mark(key_node)
            result[key] = _build(value_node, child, doc, constructor, problems, walk)
        return result
    return [
        _build(v, (*path, i), doc, constructor, problems, walk) for i, v in enumerate(node.value)
    ]


def _syntax_problem(file: str, exc: yaml.YAMLError) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    what = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    start = getattr(exc, "context_mark", None)
    if context and start is not None and mark is not None and start.line != mark.line:
        # PyYAML stops where it gave up (often the end of the file); where the broken
        # construct began is what the user needs, e.g. the line of an unclosed quote.
        context += f" that starts at line {start.line + 1}, column {start.column + 1}"
    message = f"invalid YAML: {what}" + (f" ({context})" if context else "")
    if mark is None:
        return Problem(Location(file), "", message)
    return Problem(Location(file, mark.line + 1, mark.column + 1), "", message)


def load_yaml_documents(text: str, file: str) -> list[YamlDocument]:
    """Parse every document in ``text``; raise ConfigError naming file:line:col on any problem."""
    docs: list[YamlDocument] = []
    problems: list[Problem] = []
    try:
        loader = _Loader(text)
        try:
            while loader.check_node():
                node = loader.get_node()
                doc = YamlDocument(file=file, data=None)
                if node is not None:
                    doc.data = _build(node, (), doc, loader, problems, _Walk())
                docs.append(doc)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise ConfigError([_syntax_problem(file, exc)]) from None
    except _Refused as exc:
        raise ConfigError([exc.problem]) from None
    except RecursionError:
        message = "nested too deeply to read (more than a few hundred levels)"
        raise ConfigError([Problem(Location(file), "", message)]) from None
    if problems:
        raise ConfigError(problems)
    return docs


def load_yaml(text: str, file: str) -> YamlDocument:
    """Parse exactly one YAML document (an empty text gives ``data=None``)."""
    docs = load_yaml_documents(text, file)
    if not docs:
        return YamlDocument(file=file, data=None)
    if len(docs) > 1:
        raise ConfigError(
            [Problem(Location(file), "", f"expected one YAML document, found {len(docs)}")]
        )
    return docs[0]


def load_yaml_file(path: str | Path) -> YamlDocument:
    """Read and parse a YAML file; a missing or unreadable file is a ConfigError too."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [Problem(Location(name), "", "file not found")],
            hint="pass the configuration with -c/--config or create ci-deploy.yml",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(Location(name), "", f"cannot read file: {exc}")]) from None
    return load_yaml(text, name)
