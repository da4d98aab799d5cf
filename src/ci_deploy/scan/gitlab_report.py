"""GitLab's container-scanning report (``artifacts:reports:container_scanning``), schema 15.0.7.

What goes where: this report holds the vulnerabilities only, as GitLab's container-scanning
schema describes packages in an image (every entry needs a dependency, an operating system and
an image). Misconfigurations and secrets have no place in it (GitLab takes them in its SAST and
secret-detection reports): they still gate the build, and the SARIF and the job summary carry
them. Findings an unexpired ignore rule matched are left out, as Trivy leaves them out of its
own reports; unfixed ones stay in (with ``--ignore-unfixed`` they do not gate, but they exist).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from importlib import metadata
from typing import Any

from ci_deploy.scan.findings import Finding, ScanReport
from ci_deploy.scan.policy import IGNORED, Verdict

SCHEMA_VERSION = "15.0.7"
SCHEMA_URL = (
    "https://gitlab.com/gitlab-org/security-products/security-report-schemas/-/raw/"
    f"v{SCHEMA_VERSION}/dist/container-scanning-report-format.json"
)
GITLAB_SEVERITY = {
    "CRITICAL": "Critical",
    "HIGH": "High",
    "MEDIUM": "Medium",
    "LOW": "Low",
    "UNKNOWN": "Unknown",
}
# uuid5 namespace of ci-deploy's finding ids (a fixed random UUID: ids stay stable across runs)
FINDING_NAMESPACE = uuid.UUID("5f0c3a52-7a39-4d6e-9b8e-2f3c6d1e4a90")
_URL = re.compile(r"^(https?|ftp)://\S+$")
_MAX_NAME, _MAX_SOLUTION, _MAX_DESCRIPTION = 255, 7000, 1_048_576  # the schema's maxLength
_MAX_LINKS = 20


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _time(moment: dt.datetime) -> str:
    """The schema's ``yyyy-mm-ddThh:mm:ss`` in UTC (a naive time is taken as UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _identifier_type(vuln_id: str) -> str:
    prefix = vuln_id.split("-", 1)[0].lower()
    return prefix if re.fullmatch(r"[a-z]+", prefix) and "-" in vuln_id else "trivy"


def _identifiers(finding: Finding) -> list[dict[str, str]]:
    primary = {"type": _identifier_type(finding.id), "name": finding.id, "value": finding.id}
    if _URL.match(finding.primary_url):
        primary["url"] = finding.primary_url
    identifiers = [primary]
    for cwe in finding.cwe_ids:
        number = cwe.removeprefix("CWE-")
        if number.isdigit():
            identifiers.append(
                {
                    "type": "cwe",
                    "name": f"CWE-{number}",
                    "value": number,
                    "url": f"https://cwe.mitre.org/data/definitions/{number}.html",
                }
            )
    return identifiers


def _links(finding: Finding) -> list[dict[str, str]]:
    urls = [u for u in dict.fromkeys((finding.primary_url, *finding.references)) if _URL.match(u)]
    return [{"url": url} for url in urls[:_MAX_LINKS]]


def finding_uuid(finding: Finding) -> str:
    """A stable UUID for ``finding``: uuid5 of what identifies it (id, target, package)."""
    return str(uuid.uuid5(FINDING_NAMESPACE, finding.identity()))


def _vulnerability(finding: Finding, report: ScanReport) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": finding_uuid(finding),
        "name": _cut(finding.title, _MAX_NAME),  # the schema: no finding-specific detail
        "description": _cut(finding.description or finding.title, _MAX_DESCRIPTION),
        "severity": GITLAB_SEVERITY[finding.severity],
        "location": {
            "dependency": {
                "package": {"name": finding.package},
                "version": finding.installed_version,
            },
            # a scan that found no OS (a distroless image, a folder) still needs a value here
            "operating_system": report.os or "Unknown",
            "image": report.artifact_name or finding.target,
        },
        "identifiers": _identifiers(finding),
        "links": _links(finding),
    }
    if finding.fixed_version:
        entry["solution"] = _cut(
            f"Upgrade {finding.package} to {finding.fixed_version}", _MAX_SOLUTION
        )
    return entry


def _analyzer_version() -> str:
    try:
        return metadata.version("ci-deploy")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0.0.0"


def to_gitlab_container_scanning(
    report: ScanReport,
    verdict: Verdict,
    *,
    scanner_version: str,
    start: dt.datetime,
    end: dt.datetime,
    analyzer_version: str | None = None,
) -> dict[str, Any]:
    """The container-scanning report (a JSON-ready dict) of ``report``'s vulnerabilities.

    ``scanner_version`` is Trivy's (``report.trivy_version`` when the report says it);
    ``start``/``end`` bound the scan; ``analyzer_version`` defaults to ci-deploy's.
    """
    entries = [
        _vulnerability(finding, report)
        for finding in report.of_kind("vulnerability")
        if verdict.status(finding) != IGNORED
    ]
    # a finding listed twice (the same package in two layers) is one vulnerability to GitLab
    vulnerabilities = list({entry["id"]: entry for entry in entries}.values())
    return {
        "version": SCHEMA_VERSION,
        "schema": SCHEMA_URL,
        "scan": {
            "analyzer": {
                "id": "ci-deploy",
                "name": "ci-deploy",
                "vendor": {"name": "ci-deploy"},
                "version": analyzer_version or _analyzer_version(),
            },
            "scanner": {
                "id": "trivy",
                "name": "Trivy",
                "url": "https://github.com/aquasecurity/trivy",
                "vendor": {"name": "Aqua Security"},
                "version": scanner_version or "unknown",
            },
            "type": "container_scanning",
            "start_time": _time(start),
            "end_time": _time(end),
            "status": "success",
        },
        "vulnerabilities": vulnerabilities,
    }
