"""SARIF 2.1.0 for GitHub code scanning, from a scan and its verdict.

Shape (GitHub's "SARIF support for code scanning"): one run whose tool is Trivy (the analyzer,
so alerts read "Trivy") with ci-deploy as the ``conversion`` tool; one rule per check or
advisory id with ``security-severity`` (CRITICAL 9.5, HIGH 8.0, MEDIUM 5.5, LOW 2.0, as Trivy
writes it) and the "security" tag GitHub needs to use it; one result per finding, every one
with a location: a repository-relative URI (never absolute, spaces and colons %-encoded) and a
``startLine``. Levels are the gate's: ``error`` for findings that failed it, ``warning`` for the
rest of MEDIUM and above, ``note`` below. Ignored findings carry an external suppression whose
justification is the ignore rule's statement; ``partialFingerprints`` keep alerts stable across
runs, as image findings have no source line for GitHub to fingerprint.

Only ``help.text`` is written, never ``help.markdown``: GitHub renders Markdown, and every
string here comes from the report.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from typing import Any
from urllib.parse import quote

from ci_deploy.scan.findings import Finding, ScanReport, severity_rank
from ci_deploy.scan.policy import FAILING, IGNORED, Verdict

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SECURITY_SEVERITY = {"CRITICAL": "9.5", "HIGH": "8.0", "MEDIUM": "5.5", "LOW": "2.0"}
_RULE_NAMES = {
    "os-pkgs": "OsPackageVulnerability",
    "lang-pkgs": "LanguageSpecificPackageVulnerability",
    "misconfiguration": "Misconfiguration",
    "secret": "Secret",
}
_SHORT, _FULL, _HELP = 1000, 4000, 10000  # GitHub shows no more than this of each
_OS_SUFFIX = re.compile(r"\s*\([^()]*\)\s*$")  # "debian:10.1 (debian 10.1)" → "debian:10.1"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _repo_path(path: str, prefix: str = "") -> str:
    """A repository-relative URI: slashes, no leading "/", "./" or "..", %-encoded."""
    joined = posixpath.join(prefix.replace("\\", "/"), path.replace("\\", "/"))
    parts = [p for p in posixpath.normpath(joined).split("/") if p not in ("", ".", "..")]
    return quote("/".join(parts), safe="/-._~") or "."


def image_path(reference: str) -> str:
    """An image reference as a path, as Trivy does: ``ghcr.io/org/app:1.2`` → ``org/app``."""
    name = _OS_SUFFIX.sub("", reference).split("@", 1)[0]
    head, _, last = name.rpartition("/")
    name = f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]
    first, _, rest = name.partition("/")
    if rest and first in ("docker.io", "index.docker.io") and "/" not in rest:
        return f"library/{rest}"
    if rest and ("." in first or ":" in first or first == "localhost"):
        return rest  # drop the registry host
    return name if rest else f"library/{name}"  # Docker Hub's official images


def _artifact_uri(finding: Finding, report: ScanReport, prefix: str, image_uri: str | None) -> str:
    if finding.location is not None:
        return _repo_path(finding.location.path, prefix)
    if report.artifact_type == "container_image" or finding.target_class == "os-pkgs":
        if image_uri is not None:
            return _repo_path(image_uri)
        if finding.package_path:
            return _repo_path(finding.package_path)
        return _repo_path(image_path(report.artifact_name or finding.target))
    return _repo_path(finding.package_path or finding.target, prefix)


def _rule_name(finding: Finding) -> str:
    if finding.kind == "vulnerability":
        return _RULE_NAMES.get(finding.target_class, "PackageVulnerability")
    return _RULE_NAMES[finding.kind]


def _help_text(finding: Finding) -> str:
    lines = [f"{finding.kind.capitalize()} {finding.id}", f"Severity: {finding.severity}"]
    if finding.kind == "vulnerability":
        lines += [f"Package: {finding.package}", f"Fixed version: {finding.fixed_version or '-'}"]
    if finding.resolution:
        lines.append(f"Resolution: {finding.resolution}")
    if finding.primary_url:
        lines.append(f"Link: {finding.primary_url}")
    lines += ["", finding.description or finding.title]
    return _cut("\n".join(lines), _HELP)


def _rule(finding: Finding) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "precision": "very-high",
        "tags": ["security", finding.kind, finding.severity],
    }
    if finding.severity in SECURITY_SEVERITY:  # UNKNOWN: GitHub falls back to the level
        properties["security-severity"] = SECURITY_SEVERITY[finding.severity]
    rule: dict[str, Any] = {
        "id": finding.id,
        "name": _rule_name(finding),
        "shortDescription": {"text": _cut(finding.title, _SHORT)},
        "fullDescription": {"text": _cut(finding.description or finding.title, _FULL)},
        "help": {"text": _help_text(finding)},
        "properties": properties,
    }
    if finding.primary_url.startswith(("https://", "http://")):
        rule["helpUri"] = finding.primary_url
    return rule


def _level(finding: Finding, verdict: Verdict) -> str:
    if verdict.status(finding) == FAILING:
        return "error"
    return "warning" if severity_rank(finding.severity) >= severity_rank("MEDIUM") else "note"


def _message(finding: Finding) -> str:
    if finding.kind == "vulnerability":
        fix = f"fixed in {finding.fixed_version}" if finding.fixed_version else "no fix released"
        return (
            f"{finding.id} ({finding.severity}) in {finding.package} "
            f"{finding.installed_version}, {fix}: {finding.title}"
        )
    detail = f": {finding.message}" if finding.message else ""
    return f"{finding.id} ({finding.severity}) {finding.title}{detail}"


def _fingerprint(finding: Finding) -> str:
    return hashlib.sha256(finding.identity().encode("utf-8")).hexdigest()


def _result(finding: Finding, index: int, verdict: Verdict, uri: str) -> dict[str, Any]:
    region: dict[str, int] = {"startLine": 1}  # GitHub needs a line; an image has none
    if finding.location is not None and finding.location.start_line:
        region = {"startLine": finding.location.start_line}
        if finding.location.end_line and finding.location.end_line >= region["startLine"]:
            region["endLine"] = finding.location.end_line
    result: dict[str, Any] = {
        "ruleId": finding.id,
        "ruleIndex": index,
        "level": _level(finding, verdict),
        "message": {"text": _cut(_message(finding), _FULL)},
        "locations": [
            {
                "physicalLocation": {"artifactLocation": {"uri": uri}, "region": region},
                "message": {"text": _cut(f"{finding.target}: {finding.where}", _SHORT)},
            }
        ],
        "partialFingerprints": {"ciDeployFinding/v1": _fingerprint(finding)},
        "properties": {"gate": verdict.status(finding), "target": finding.target},
    }
    if verdict.status(finding) == IGNORED:
        rule = verdict.rule_of[finding]
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": _cut(rule.statement or f"ignored by {rule.source}", _SHORT),
            }
        ]
    return result


def to_sarif(
    report: ScanReport,
    verdict: Verdict,
    *,
    path_prefix: str = "",
    image_uri: str | None = None,
    ci_deploy_version: str = "",
) -> dict[str, Any]:
    """The SARIF log (a JSON-ready dict) of ``report`` as judged by ``verdict``.

    ``path_prefix``: the scanned folder relative to the repository root, prepended to file
    paths. ``image_uri``: a repository file to place image findings on (the Dockerfile that
    built it, say); by default the image's repository path, as Trivy does.
    """
    rules: list[dict[str, Any]] = []
    index_of: dict[str, int] = {}
    results = []
    for finding in report.findings:
        if finding.id not in index_of:
            index_of[finding.id] = len(rules)
            rules.append(_rule(finding))
        uri = _artifact_uri(finding, report, path_prefix, image_uri)
        results.append(_result(finding, index_of[finding.id], verdict, uri))
    driver: dict[str, Any] = {
        "name": "Trivy",
        "fullName": "Trivy Vulnerability Scanner",
        "informationUri": "https://github.com/aquasecurity/trivy",
        "rules": rules,
    }
    if report.trivy_version:
        driver["version"] = report.trivy_version
    converter: dict[str, Any] = {"name": "ci-deploy"}
    if ci_deploy_version:
        converter["version"] = ci_deploy_version
    run: dict[str, Any] = {
        "tool": {"driver": driver},
        "conversion": {"tool": {"driver": converter}},
        "results": results,
        "columnKind": "utf16CodeUnits",
        "properties": {
            "artifactName": report.artifact_name,
            "artifactType": report.artifact_type,
            "gatePassed": verdict.passed,
            "gateSeverities": sorted(verdict.gate.severities, key=severity_rank),
        },
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
