"""Reading Trivy's JSON report (``trivy … --format json``, SchemaVersion 2) into a ScanReport.

The report is input from outside: every field read is type-checked, and a report that is not
what Trivy writes (not JSON, cut short, the pre-0.20 array format, another SchemaVersion, a
severity Trivy does not have) is a :class:`UserInputError` naming the file and the place in it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ci_deploy.errors import UserInputError
from ci_deploy.scan.findings import SEVERITIES, FileLocation, Finding, ScanReport

SCHEMA_VERSION = 2
_HINT = "give the JSON report that `trivy image|fs … --format json` writes (Trivy 0.20 or later)"
# Trivy ≥ 0.6x names its Dockerfile checks "DS-0002" with no AVDID; older reports (and older
# ignore files) say "AVD-DS-0002". Both must match the same ignore rule.
_NEW_CHECK_ID = re.compile(r"^[A-Z]+-[0-9]{4}$")
_MISCONF_FAILED = "FAIL"  # PASS and EXCEPTION entries appear with --include-non-failures
_Lines = dict[tuple[str, str], tuple[int, int | None]]  # (package, version) → lines in a file


class _Where:
    """The JSON path being read (``Results[0].Vulnerabilities[1]``), for error messages."""

    def __init__(self, source: str, path: str = "") -> None:
        self.source = source
        self.path = path

    def __truediv__(self, part: str | int) -> _Where:
        if isinstance(part, int):
            return _Where(self.source, f"{self.path}[{part}]")
        return _Where(self.source, f"{self.path}.{part}" if self.path else part)

    def bad(self, expected: str, value: object) -> UserInputError:
        where = self.path or "the document"
        return UserInputError(
            f"{self.source}: {where}: expected {expected}, found {_describe(value)}", hint=_HINT
        )


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "…"
        return f"the string {shown!r}"
    return "an array" if isinstance(value, list) else "an object"


def _text(obj: dict[str, Any], key: str, where: _Where, *, required: bool = False) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise (where / key).bad("a non-empty string" if required else "a string", value)
    return value


def _line(obj: dict[str, Any], key: str, where: _Where) -> int | None:
    value = obj.get(key)
    if value is None or value == 0:  # Trivy writes 0 for "no line"
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise (where / key).bad("a line number", value)
    return value


def _objects(obj: dict[str, Any], key: str, where: _Where) -> list[tuple[_Where, dict[str, Any]]]:
    """The list of objects at ``key`` (absent or null: none), each with its path."""
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise (where / key).bad("an array", value)
    items = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise (where / key / index).bad("an object", item)
        items.append((where / key / index, item))
    return items


def _strings(obj: dict[str, Any], key: str, where: _Where) -> tuple[str, ...]:
    value = obj.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise (where / key).bad("an array of strings", value)
    return tuple(value)


def _severity(obj: dict[str, Any], where: _Where) -> str:
    raw = obj.get("Severity")
    if not isinstance(raw, str) or raw.upper() not in SEVERITIES:
        raise (where / "Severity").bad(f"one of {', '.join(SEVERITIES)}", raw)
    return raw.upper()


def _decode(text: str, source: str) -> object:
    if not text.strip():
        raise UserInputError(
            f"{source}: the file is empty; expected a Trivy JSON report", hint=_HINT
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        # json stops at the end of the text, or inside a string that the end left open
        cut = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        why = "the file ends early (was it cut short?)" if cut else exc.msg
        raise UserInputError(
            f"{source}:{exc.lineno}:{exc.colno}: not valid JSON: {why}", hint=_HINT
        ) from None
    except RecursionError:
        raise UserInputError(f"{source}: JSON nested too deeply to be a Trivy report") from None


def _document(data: object, source: str) -> dict[str, Any]:
    where = _Where(source)
    if isinstance(data, list):
        raise UserInputError(
            f"{source}: a JSON array: that is the report format of Trivy before 0.20, "
            f"expected an object with SchemaVersion {SCHEMA_VERSION}",
            hint="scan again with a current Trivy (`--format json`)",
        )
    if not isinstance(data, dict):
        raise where.bad("a JSON object (a Trivy report)", data)
    version = data.get("SchemaVersion")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        found = "no SchemaVersion" if version is None else f"SchemaVersion {version!r}"
        raise UserInputError(
            f"{source}: {found}; expected a Trivy JSON report with SchemaVersion {SCHEMA_VERSION}",
            hint=_HINT,
        )
    return data


def _package_lines(result: dict[str, Any]) -> _Lines:
    """(name, version) → (start, end line) of each package Trivy located in the target file.

    ``Packages`` is optional detail (``--list-all-pkgs``): entries that are not as expected are
    skipped rather than refused, as no finding depends on them.
    """
    lines: _Lines = {}
    packages = result.get("Packages")
    for pkg in packages if isinstance(packages, list) else []:
        locations = pkg.get("Locations") if isinstance(pkg, dict) else None
        if not isinstance(locations, list) or not locations or not isinstance(locations[0], dict):
            continue
        start, end = locations[0].get("StartLine"), locations[0].get("EndLine")
        if isinstance(start, int) and start > 0:
            key = (str(pkg.get("Name", "")), str(pkg.get("Version", "")))
            lines[key] = (start, end if isinstance(end, int) and end >= start else None)
    return lines


def _vulnerability(
    vuln: dict[str, Any], where: _Where, result: dict[str, Any], lines: _Lines | None
) -> Finding:
    """One entry of ``Vulnerabilities``; ``lines`` is None when the target has no file to point
    at (an image's OS packages, say), else the package lines of the target file."""
    target = str(result["Target"])
    package = _text(vuln, "PkgName", where, required=True)
    installed = _text(vuln, "InstalledVersion", where)
    fixed = _text(vuln, "FixedVersion", where)
    # Reports before Trivy 0.3x have no Status: a fixed version then means a fix exists.
    status = _text(vuln, "Status", where) or ("fixed" if fixed else "unknown")
    package_path = _text(vuln, "PkgPath", where)
    identifier = vuln.get("PkgIdentifier")
    purl = identifier.get("PURL") if isinstance(identifier, dict) else None
    location = None
    if lines is not None:
        start, end = lines.get((package, installed), (None, None))
        location = FileLocation(package_path or target, start, end)
    vuln_id = _text(vuln, "VulnerabilityID", where, required=True)
    return Finding(
        kind="vulnerability",
        id=vuln_id,
        severity=_severity(vuln, where),
        title=_text(vuln, "Title", where) or vuln_id,
        target=target,
        target_class=str(result.get("Class") or ""),
        target_type=str(result.get("Type") or ""),
        package=package,
        installed_version=installed,
        fixed_version=fixed,
        status=status,
        primary_url=_text(vuln, "PrimaryURL", where),
        location=location,
        description=_text(vuln, "Description", where),
        package_path=package_path,
        purl=purl if isinstance(purl, str) else "",
        cwe_ids=_strings(vuln, "CweIDs", where),
        references=_strings(vuln, "References", where),
    )


def _misconfiguration(item: dict[str, Any], where: _Where, result: dict[str, Any]) -> Finding:
    target = str(result["Target"])
    check_id = _text(item, "ID", where, required=True)
    avd_id = _text(item, "AVDID", where)
    ids = [avd_id, check_id] if avd_id else [check_id]
    if not avd_id and _NEW_CHECK_ID.match(check_id):
        ids.append(f"AVD-{check_id}")
    cause = item.get("CauseMetadata")
    cause = cause if isinstance(cause, dict) else {}
    cause_where = where / "CauseMetadata"
    return Finding(
        kind="misconfiguration",
        id=ids[0],
        severity=_severity(item, where),
        title=_text(item, "Title", where) or check_id,
        target=target,
        target_class=str(result.get("Class") or ""),
        target_type=str(result.get("Type") or ""),
        primary_url=_text(item, "PrimaryURL", where),
        location=FileLocation(
            target, _line(cause, "StartLine", cause_where), _line(cause, "EndLine", cause_where)
        ),
        description=_text(item, "Description", where),
        message=_text(item, "Message", where),
        aliases=tuple(dict.fromkeys(ids[1:])),
        references=_strings(item, "References", where),
        resolution=_text(item, "Resolution", where),
    )


def _secret(item: dict[str, Any], where: _Where, result: dict[str, Any]) -> Finding:
    # ``Match`` and ``Code`` quote the line holding the secret (masked by Trivy, but still the
    # line): they are never read, so no output of ours can repeat them.
    target = str(result["Target"])
    rule_id = _text(item, "RuleID", where, required=True)
    category = _text(item, "Category", where)
    title = _text(item, "Title", where) or rule_id
    return Finding(
        kind="secret",
        id=rule_id,
        severity=_severity(item, where),
        title=title,
        target=target,
        target_class=str(result.get("Class") or ""),
        target_type=str(result.get("Type") or ""),
        location=FileLocation(
            target, _line(item, "StartLine", where), _line(item, "EndLine", where)
        ),
        description=f"{category} secret: {title}" if category else title,
        message=f"{title} in {target}",
    )


def _findings(result: dict[str, Any], where: _Where, in_image: bool) -> list[Finding]:
    # a lock file or manifest in a scanned folder is a place in the repository; an image's
    # packages are not
    in_file = not in_image and result.get("Class") == "lang-pkgs"
    lines = _package_lines(result) if in_file else None
    found = [
        _vulnerability(item, at, result, lines)
        for at, item in _objects(result, "Vulnerabilities", where)
    ]
    for at, item in _objects(result, "Misconfigurations", where):
        if (_text(item, "Status", at) or _MISCONF_FAILED) == _MISCONF_FAILED:
            found.append(_misconfiguration(item, at, result))
    found += [_secret(item, at, result) for at, item in _objects(result, "Secrets", where)]
    return found


def _scanners_of(result: dict[str, Any]) -> set[str]:
    """The Trivy scanners this result shows ran (it may not show them all: a vulnerability scan
    that found nothing leaves no trace, as package lists are there without one)."""
    seen = set()
    if "Vulnerabilities" in result:
        seen.add("vuln")
    if {"Misconfigurations", "MisconfSummary"} & result.keys() or result.get("Class") == "config":
        seen.add("misconfig")
    if "Secrets" in result or result.get("Class") == "secret":
        seen.add("secret")
    return seen


def _os_name(doc: dict[str, Any]) -> str | None:
    metadata = doc.get("Metadata")
    os_info = metadata.get("OS") if isinstance(metadata, dict) else None
    if not isinstance(os_info, dict):
        return None
    parts = [os_info.get("Family"), os_info.get("Name")]
    name = " ".join(p for p in parts if isinstance(p, str) and p)
    return name or None


def _trivy_version(doc: dict[str, Any]) -> str | None:
    trivy = doc.get("Trivy")
    version = trivy.get("Version") if isinstance(trivy, dict) else None
    return version if isinstance(version, str) and version else None


def parse_trivy_json(text: str, source: str) -> ScanReport:
    """The ScanReport in Trivy JSON ``text``; ``source`` names it in errors (a path, usually).

    Raises UserInputError when ``text`` is not a Trivy SchemaVersion 2 report.
    """
    doc = _document(_decode(text, source), source)
    root = _Where(source)
    artifact_type = _text(doc, "ArtifactType", root)
    in_image = artifact_type in ("container_image", "vm")
    findings: list[Finding] = []
    scanners: set[str] = set()
    for where, result in _objects(doc, "Results", root):
        _text(result, "Target", where, required=True)
        findings += _findings(result, where, in_image)
        scanners |= _scanners_of(result)
    return ScanReport(
        source=source,
        artifact_name=_text(doc, "ArtifactName", root),
        artifact_type=artifact_type,
        findings=tuple(findings),
        trivy_version=_trivy_version(doc),
        scanners=frozenset(scanners),
        os=_os_name(doc),
    )


def load_trivy_report(path: Path) -> ScanReport:
    """The ScanReport in the Trivy JSON report file ``path``.

    Raises UserInputError when the file cannot be read or is not a Trivy JSON report.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserInputError(f"{path}: no such file; expected a Trivy JSON report") from None
    except OSError as exc:
        raise UserInputError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserInputError(
            f"{path}: byte {exc.start} is not UTF-8; a Trivy JSON report is UTF-8 text",
            hint=_HINT,
        ) from None
    return parse_trivy_json(text, str(path))
