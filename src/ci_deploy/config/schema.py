"""A small declarative schema and the walker that checks YAML data against it.

A schema is a tree of nodes: ``Scalar`` (a parse function), ``Record`` (fixed keys, each a
``Field`` with type, required/default and doc), ``MapOf`` (free keys checked by a function) and
``ListOf``. Walking collects every problem (never stops at the first) as ``Problem`` objects
with file:line:col from the YAML document, so one run shows the user everything to fix.
The same tree generates the reference tables in docs/configuration.md.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ci_deploy.config.values import InvalidValue, describe
from ci_deploy.errors import Problem
from ci_deploy.yamlfile import KeyPath, YamlDocument, format_path


class _Invalid:
    """Marker for a value that failed validation (its problem is already recorded)."""

    def __repr__(self) -> str:
        return "INVALID"


INVALID: Any = _Invalid()


@dataclass
class Context:
    """The document being checked and the problems found so far."""

    doc: YamlDocument
    problems: list[Problem] = field(default_factory=list)

    def error(
        self, path: KeyPath, message: str, *, key: bool = False, suggestion: str | None = None
    ) -> None:
        """Record a problem at ``path`` (the key's position if ``key``, else the value's)."""
        where = self.doc.location(path, key=key)
        self.problems.append(Problem(where, format_path(path), message, suggestion))


class Node(Protocol):
    """One schema node: checks a raw value and returns the converted value or INVALID."""

    @property
    def type_name(self) -> str:
        """How the expected type is named in messages and docs."""
        ...

    def check(self, value: Any, path: KeyPath, ctx: Context) -> Any:
        """Return the converted value, or INVALID after recording problems in ``ctx``."""
        ...


Validator = Callable[[Any, Any, KeyPath, Context], None]
"""Extra rule run on a valid converted value: (converted, raw, path, ctx) -> None."""


@dataclass(frozen=True)
class Scalar:
    """A leaf value converted by ``parse`` (which raises InvalidValue)."""

    type_name: str
    parse: Callable[[Any], Any]

    def check(self, value: Any, path: KeyPath, ctx: Context) -> Any:
        try:
            return self.parse(value)
        except InvalidValue as exc:
            ctx.error(path, exc.message)
            return INVALID


@dataclass(frozen=True)
class Field:
    """One key of a Record: its node, whether it is required, its default and its doc."""

    name: str
    node: Node
    doc: str
    required: bool = False
    default: str | None = None  # as shown in docs; the real default lives in the model
    aliases: tuple[str, ...] = ()
    example: str | None = None


@dataclass(frozen=True)
class Record:
    """A mapping with fixed keys; unknown keys are problems with a did-you-mean suggestion.

    ``build`` turns the converted fields (only those present) into the model object; without
    it the record returns the dict of converted fields. ``secret_keys`` maps keys that would
    put a secret into the file to the key that names an environment variable instead.
    """

    type_name: str
    fields: tuple[Field, ...]
    build: Callable[..., Any] | None = None
    validators: tuple[Validator, ...] = ()
    secret_keys: dict[str, str] = field(default_factory=dict)

    def field_for(self, key: str) -> Field | None:
        """The field named ``key`` or having ``key`` as an alias."""
        for f in self.fields:
            if key == f.name or key in f.aliases:
                return f
        return None

    def check(self, value: Any, path: KeyPath, ctx: Context) -> Any:
        if not isinstance(value, dict):
            ctx.error(path, f"expected a mapping ({self.type_name}), found {describe(value)}")
            return INVALID
        out: dict[str, Any] = {}
        seen_as: dict[str, str] = {}
        suggested: set[str] = set()  # a misspelt key already points at these
        ok = True
        for key, raw in value.items():
            child = (*path, key)
            f = self.field_for(str(key))
            if f is None:
                suggested.add(self._unknown_key(str(key), child, ctx))
                ok = False
                continue
            if f.name in seen_as:
                ctx.error(
                    child,
                    f"'{key}' and '{seen_as[f.name]}' are the same setting; keep only one",
                    key=True,
                )
                ok = False
                continue
            seen_as[f.name] = str(key)
            if raw is None and not f.required:
                continue  # an explicit null means "not set"
            converted = f.node.check(raw, child, ctx)
            if converted is INVALID:
                ok = False
            else:
                out[f.name] = converted
        for f in self.fields:
            if f.required and f.name not in seen_as:
                ok = False
                if f.name not in suggested:
                    ctx.error(path, f"missing required key '{f.name}': {f.doc}")
        if not ok:
            return INVALID
        if not _rules_hold(self.validators, out, value, path, ctx):
            return INVALID
        return self.build(**out) if self.build is not None else out

    def _unknown_key(self, key: str, path: KeyPath, ctx: Context) -> str:
        """Report an unknown key; return the key it was probably meant to be ("" if none)."""
        if key in self.secret_keys:
            instead = self.secret_keys[key]
            ctx.error(
                path,
                f"secrets are never written in the configuration: store the value as a CI"
                f" secret and give the name of the environment variable holding it as"
                f" '{instead}: NAME'",
                key=True,
            )
            return instead
        names = [f.name for f in self.fields] + [a for f in self.fields for a in f.aliases]
        close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
        if close:
            meant = self.field_for(close[0])
            ctx.error(
                path, f"unknown key '{key}'", key=True, suggestion=f"did you mean '{close[0]}'?"
            )
            return meant.name if meant is not None else ""
        allowed = ", ".join(f.name for f in self.fields)
        ctx.error(path, f"unknown key '{key}'; expected one of: {allowed}", key=True)
        return ""


@dataclass(frozen=True)
class MapOf:
    """A mapping with free keys (checked by ``key_check``) and values of one node type."""

    type_name: str
    key_check: Callable[[str], None]
    value: Node
    min_items: int = 0
    validators: tuple[Validator, ...] = ()
    key_doc: str = "<name>"  # how the free key is written in the reference

    def check(self, value: Any, path: KeyPath, ctx: Context) -> Any:
        if not isinstance(value, dict):
            ctx.error(path, f"expected a {self.type_name}, found {describe(value)}")
            return INVALID
        if not _enough_items(self.type_name, self.min_items, value, "mapping", path, ctx):
            return INVALID
        out: dict[str, Any] = {}
        ok = True
        for key, raw in value.items():
            child = (*path, key)
            try:
                self.key_check(str(key))
            except InvalidValue as exc:
                ctx.error(child, exc.message, key=True)
                ok = False
                continue
            converted = self.value.check(raw, child, ctx)
            if converted is INVALID:
                ok = False
            else:
                out[str(key)] = converted
        if not ok:
            return INVALID
        return out if _rules_hold(self.validators, out, value, path, ctx) else INVALID


@dataclass(frozen=True)
class ListOf:
    """A list whose items share one node type; returned as a tuple."""

    type_name: str
    item: Node
    min_items: int = 0
    validators: tuple[Validator, ...] = ()

    def check(self, value: Any, path: KeyPath, ctx: Context) -> Any:
        if not isinstance(value, list):
            ctx.error(path, f"expected a {self.type_name}, found {describe(value)}")
            return INVALID
        if not _enough_items(self.type_name, self.min_items, value, "list", path, ctx):
            return INVALID
        items = [self.item.check(raw, (*path, i), ctx) for i, raw in enumerate(value)]
        if any(item is INVALID for item in items):
            return INVALID
        out = tuple(items)
        return out if _rules_hold(self.validators, out, value, path, ctx) else INVALID


@dataclass(frozen=True)
class StringOr:
    """A record that may also be written as a string, its shorthand (``from_string(text)``).

    ``queries: {error_rate: "100 * …"}`` or ``queries: {error_rate: {query: …, unit: …}}``.
    """

    record: Record
    from_string: Callable[[str], Any]

    @property
    def type_name(self) -> str:
        return f"string or {self.record.type_name} mapping"

    def check(self, value: Any, path: KeyPath, ctx: Context) -> Any:
        if isinstance(value, str):
            return self.from_string(value)
        if isinstance(value, dict):
            return self.record.check(value, path, ctx)
        ctx.error(path, f"expected a {self.type_name}, found {describe(value)}")
        return INVALID


def _rules_hold(
    rules: tuple[Validator, ...], out: Any, raw: Any, path: KeyPath, ctx: Context
) -> bool:
    """Run cross-field rules in order; False at the first one that reports a problem."""
    for rule in rules:
        before = len(ctx.problems)
        rule(out, raw, path, ctx)
        if len(ctx.problems) > before:
            return False
    return True


def _enough_items(
    type_name: str,
    min_items: int,
    value: dict[Any, Any] | list[Any],
    kind: str,
    path: KeyPath,
    ctx: Context,
) -> bool:
    """False (with a problem reported) when a mapping or list has fewer than ``min_items``."""
    if len(value) >= min_items:
        return True
    ctx.error(
        path, f"expected a {type_name} with {_at_least(min_items)}, found {_count(value, kind)}"
    )
    return False


def _at_least(count: int) -> str:
    return "at least one entry" if count == 1 else f"at least {count} entries"


def _count(items: dict[Any, Any] | list[Any], kind: str) -> str:
    return f"an empty {kind}" if not items else f"{len(items)}"


def walk(node: Node, doc: YamlDocument) -> tuple[Any, list[Problem]]:
    """Check ``doc.data`` against ``node``; return the converted value and every problem."""
    ctx = Context(doc)
    result = node.check(doc.data, (), ctx)
    return result, ctx.problems


@dataclass(frozen=True)
class ReferenceRow:
    """One row of the generated configuration reference."""

    key: str
    type_name: str
    required: bool
    default: str | None
    doc: str
    example: str | None


def reference_rows(node: Node, prefix: str = "") -> list[ReferenceRow]:
    """Flatten a schema into documentation rows, one per key path (``a.b``, ``a.<name>.c``)."""
    rows: list[ReferenceRow] = []
    inner: Node | None = node
    if isinstance(node, ListOf):
        inner = node.item
        prefix = f"{prefix}[]"
    elif isinstance(node, MapOf):
        inner = node.value
        prefix = f"{prefix}.{node.key_doc}" if prefix else node.key_doc
    if isinstance(inner, StringOr):
        inner = inner.record
    if not isinstance(inner, (Record, ListOf, MapOf)):
        return rows
    if not isinstance(inner, Record):
        return reference_rows(inner, prefix)
    for f in inner.fields:
        key = f"{prefix}.{f.name}" if prefix else f.name
        if f.aliases:
            key += " (alias: " + ", ".join(f.aliases) + ")"
        type_name = "mapping" if isinstance(f.node, Record) else f.node.type_name
        rows.append(ReferenceRow(key, type_name, f.required, f.default, f.doc, f.example))
        rows.extend(reference_rows(f.node, f"{prefix}.{f.name}" if prefix else f.name))
    return rows
