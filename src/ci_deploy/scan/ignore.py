"""Ignore rules, read from Trivy's ignore files, and what each one matches.

Two formats, as Trivy reads them (pkg/result/ignore.go):

- ``.trivyignore`` (text): one id per line, ``#`` comments, blank lines; an ``exp:YYYY-MM-DD``
  field after the id makes the rule lapse on that date; other ``key:value`` fields are ignored.
  An id there applies to every kind of finding. As a statement (the SARIF justification) the
  rule takes a trailing ``# comment`` on its line, else the comment lines right above it.
- ``.trivyignore.yaml``: lists ``vulnerabilities``, ``misconfigurations``, ``secrets`` (and
  ``licenses``, which ci-deploy does not scan) of entries with ``id``, ``paths`` (doublestar
  globs over the target file), ``purls`` (vulnerabilities only), ``expired_at`` and
  ``statement``. An entry without an id matches every id within its paths or purls.

A rule expires at the start of its date (Trivy: ``ExpiredAt.Before(now)``): on that day it no
longer ignores anything. Where Trivy skips a line whose date it cannot read, this is an error:
a silently dropped rule would fail a build for a reason nobody can see.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ci_deploy.errors import UserInputError
from ci_deploy.scan.findings import KINDS, Finding

_SECTIONS = {
    "vulnerabilities": "vulnerability",
    "misconfigurations": "misconfiguration",
    "secrets": "secret",
    "licenses": None,  # accepted, as Trivy does, but no finding here is a license
}
_ENTRY_KEYS = ("id", "paths", "purls", "expired_at", "statement")
_PURL = re.compile(r"^pkg:[A-Za-z][A-Za-z0-9.+-]*/[^@?#]+(@[^?#]+)?(\?[^#]*)?(#.*)?$")
_MAX_STATEMENT = 500


@dataclass(frozen=True)
class IgnoreRule:
    """One ignore entry: which findings it matches, until when, and why."""

    id: str | None  # None: any id within ``paths`` / ``purls`` (YAML entries only)
    source: str  # where it was written: "path:line" or "path: vulnerabilities[2]"
    kinds: frozenset[str] = frozenset(KINDS)
    expires: dt.date | None = None  # None: never
    statement: str = ""
    paths: tuple[str, ...] = ()  # doublestar globs; any must match a path of the finding
    purls: tuple[str, ...] = ()  # package URLs; any must match the finding's package

    def expired(self, today: dt.date) -> bool:
        """True from the day of ``expires`` on."""
        return self.expires is not None and today >= self.expires

    def matches(self, finding: Finding) -> bool:
        """Whether this rule names ``finding`` (expiry aside)."""
        if finding.kind not in self.kinds:
            return False
        if self.id is not None and self.id not in finding.ids:
            return False
        if self.paths and not any(
            glob_match(pattern, path) for pattern in self.paths for path in _paths_of(finding)
        ):
            return False
        # Trivy lets a purl-restricted rule match a finding without a purl; here it does not,
        # so a rule meant for one package never hides the same id in another
        return not self.purls or any(purl_match(p, finding.purl) for p in self.purls)

    def describe(self) -> str:
        """``CVE-2019-18276 (until 2030-01-01, .trivyignore:3)`` for messages."""
        what = self.id or "any id in " + ", ".join(self.paths or self.purls)
        until = f"until {self.expires.isoformat()}, " if self.expires else ""
        return f"{what} ({until}{self.source})"


def _paths_of(finding: Finding) -> list[str]:
    paths = [finding.target, finding.package_path]
    if finding.location is not None:
        paths.append(finding.location.path)
    return [p for p in dict.fromkeys(paths) if p]


# ---------------------------------------------------------------------------------------------
# matching


def _glob_class(pattern: str, start: int) -> tuple[str, int] | None:
    """The regex of the ``[...]`` class at ``start`` and the index after it; None if unclosed."""
    end = pattern.find("]", start + 2 if pattern[start + 1 : start + 2] in "!^" else start + 1)
    if end < 0:
        return None
    body = pattern[start + 1 : end]
    negate = body[:1] in ("!", "^")
    body = body[1:] if negate else body
    escaped = body.replace("\\", "\\\\").replace("[", "\\[")
    return ("[^/" if negate else "[") + escaped + "]", end + 1


def _glob_regex(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**", i) and (i == 0 or pattern[i - 1] == "/"):
            rest = pattern[i + 2 :]
            if not rest or rest.startswith("/"):  # "**" as a whole segment: any depth
                out.append(".*" if not rest else "(?:.*/)?")
                i += 2 if not rest else 3
                continue
        char = pattern[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and (found := _glob_class(pattern, i)):
            out.append(found[0])
            i = found[1]
            continue
        elif char == "[":
            raise ValueError(f"unclosed '[' in {pattern!r}")
        elif char == "{" and (end := pattern.find("}", i)) > 0:
            options = pattern[i + 1 : end].split(",")
            out.append("(?:" + "|".join(_glob_regex(o) for o in options) + ")")
            i = end + 1
            continue
        elif char == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


@lru_cache(maxsize=512)
def _compiled_glob(pattern: str) -> re.Pattern[str]:
    return re.compile(_glob_regex(pattern))


def glob_match(pattern: str, path: str) -> bool:
    """Doublestar matching as in Trivy: ``*`` within a segment, ``**`` across segments."""
    return _compiled_glob(pattern).fullmatch(path.replace("\\", "/")) is not None


def _purl_parts(purl: str) -> tuple[str, str, str | None, dict[str, str]]:
    body = purl.split("#", 1)[0]
    body, _, query = body.partition("?")
    body, _, version = body.partition("@")
    kind, _, name = body[len("pkg:") :].partition("/")
    qualifiers = dict(kv.split("=", 1) for kv in query.split("&") if "=" in kv)
    return kind.lower(), name, version or None, qualifiers


def purl_match(pattern: str, purl: str) -> bool:
    """``purl`` is the package ``pattern`` names: same type and name, the pattern's version (if
    it has one) and every qualifier the pattern gives."""
    if not purl.startswith("pkg:"):
        return False
    kind, name, version, qualifiers = _purl_parts(pattern)
    f_kind, f_name, f_version, f_qualifiers = _purl_parts(purl)
    return (
        (kind, name) == (f_kind, f_name)
        and version in (None, f_version)
        and all(f_qualifiers.get(k) == v for k, v in qualifiers.items())
    )


# ---------------------------------------------------------------------------------------------
# the text format


def _expiry(field: str, where: str) -> dt.date:
    try:
        return dt.date.fromisoformat(field[len("exp:") :])
    except ValueError:
        raise UserInputError(
            f"{where}: {field!r} is not an expiry date; expected exp:YYYY-MM-DD"
        ) from None


def parse_ignore_text(text: str, source: str) -> list[IgnoreRule]:
    """The rules of a ``.trivyignore`` text; ``source`` names the file in errors and rules."""
    rules: list[IgnoreRule] = []
    comments: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            comments = []
            continue
        if line.startswith("#"):
            comments.append(line.lstrip("#").strip())
            continue
        fields = line.split()
        where = f"{source}:{number}"
        if fields[0].startswith("exp:"):
            raise UserInputError(
                f"{where}: a line starts with the id to ignore, found {fields[0]!r}"
            )
        expires, inline = None, ""
        for index, field in enumerate(fields[1:], start=1):
            if field.startswith("#"):
                inline = " ".join(fields[index:]).lstrip("#").strip()
                break
            if field.startswith("exp:") and expires is None:
                expires = _expiry(field, where)
        statement = inline or " ".join(c for c in comments if c)
        rules.append(
            IgnoreRule(fields[0], where, expires=expires, statement=statement[:_MAX_STATEMENT])
        )
        comments = []
    return rules


# ---------------------------------------------------------------------------------------------
# the YAML format (parsed by the caller: this package reads no YAML itself)


def _yaml_strings(entry: dict[object, object], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise UserInputError(f"{where}.{key}: expected a list of non-empty strings")
    return tuple(value)


def _yaml_date(value: object, where: str) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise UserInputError(f"{where}.expired_at: expected a date YYYY-MM-DD, found {value!r}")


def _yaml_entry(entry: object, where: str, kind: str) -> IgnoreRule:
    if not isinstance(entry, dict):
        raise UserInputError(f"{where}: expected a mapping with id, paths, expired_at, statement")
    for key in entry:
        if key not in _ENTRY_KEYS:
            close = difflib.get_close_matches(str(key), _ENTRY_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UserInputError(
                f"{where}: unknown key {key!r}; known: {', '.join(_ENTRY_KEYS)}{hint}"
            )
    rule_id, statement = entry.get("id"), entry.get("statement", "")
    if rule_id is not None and (not isinstance(rule_id, str) or not rule_id.strip()):
        raise UserInputError(f"{where}.id: expected the id to ignore, found {rule_id!r}")
    if not isinstance(statement, str):
        raise UserInputError(f"{where}.statement: expected text, found {statement!r}")
    paths, purls = _yaml_strings(entry, "paths", where), _yaml_strings(entry, "purls", where)
    if rule_id is None and not paths and not purls:
        raise UserInputError(f"{where}: an entry needs an id, paths or purls")
    if purls and kind != "vulnerability":
        raise UserInputError(f"{where}.purls: purls apply to vulnerabilities only")
    _check_patterns(paths, purls, where)
    return IgnoreRule(
        rule_id.strip() if isinstance(rule_id, str) else None,
        where,
        kinds=frozenset({kind}),
        expires=_yaml_date(entry.get("expired_at"), where),
        statement=statement.strip()[:_MAX_STATEMENT],
        paths=paths,
        purls=purls,
    )


def _check_patterns(paths: tuple[str, ...], purls: tuple[str, ...], where: str) -> None:
    for pattern in paths:
        try:
            _compiled_glob(pattern)
        except (ValueError, re.error) as exc:
            raise UserInputError(f"{where}.paths: not a valid path pattern: {exc}") from None
    for purl in purls:
        if not _PURL.match(purl):
            raise UserInputError(
                f"{where}.purls: {purl!r} is not a package URL (pkg:TYPE/NAME[@VERSION])"
            )


def ignore_rules_from_yaml(data: object, source: str) -> list[IgnoreRule]:
    """The rules of a parsed ``.trivyignore.yaml`` document (``None``: an empty file)."""
    if data is None:
        return []
    if not isinstance(data, dict):
        raise UserInputError(
            f"{source}: expected a mapping with lists vulnerabilities, misconfigurations, secrets"
        )
    rules: list[IgnoreRule] = []
    for section, entries in data.items():
        if section not in _SECTIONS:
            close = difflib.get_close_matches(str(section), list(_SECTIONS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UserInputError(
                f"{source}: unknown list {section!r}; known: {', '.join(_SECTIONS)}{hint}"
            )
        kind = _SECTIONS[section]
        if entries is None or kind is None:
            continue
        if not isinstance(entries, list):
            raise UserInputError(f"{source}: {section}: expected a list of entries")
        rules += [
            _yaml_entry(entry, f"{source}: {section}[{index}]", kind)
            for index, entry in enumerate(entries)
        ]
    return rules


def load_ignore_file(
    path: Path, *, yaml_loader: Callable[[str, str], object] | None = None
) -> list[IgnoreRule]:
    """The rules in ignore file ``path``: YAML for ``.yaml``/``.yml``, else the text format.

    ``yaml_loader(text, file_name)`` parses YAML into plain values (the CLI passes the project's
    YAML loader); it is required for YAML files. Raises UserInputError for a missing, unreadable
    or invalid file.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserInputError(f"{path}: no such ignore file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserInputError(f"{path}: cannot read the ignore file: {exc}") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        if yaml_loader is None:
            raise ValueError("load_ignore_file: a YAML ignore file needs yaml_loader")
        return ignore_rules_from_yaml(yaml_loader(text, str(path)), str(path))
    return parse_ignore_text(text, str(path))
