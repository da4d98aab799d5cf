"""The library behind ``ci-deploy scan``: read or run Trivy, gate, and write the reports.

``load_trivy_report`` / ``run_trivy`` give a :class:`ScanReport`; ``judge(report, Gate(...))``
gives a :class:`Verdict`; ``to_sarif``, ``to_gitlab_container_scanning`` and
``summary_markdown`` / ``summary_text`` turn both into GitHub's, GitLab's and the job log's
formats. Nothing here prints or exits: functions return data or raise ``UserInputError`` (bad
input: exit 2) or ``CiDeployError`` (a scanner failed: exit 1).
"""

from __future__ import annotations

from ci_deploy.scan.findings import KINDS, SEVERITIES, FileLocation, Finding, ScanReport
from ci_deploy.scan.gitlab_report import finding_uuid, to_gitlab_container_scanning
from ci_deploy.scan.ignore import (
    IgnoreRule,
    ignore_rules_from_yaml,
    load_ignore_file,
    parse_ignore_text,
)
from ci_deploy.scan.policy import Gate, Ignored, Verdict, judge, parse_severities
from ci_deploy.scan.sarif import to_sarif
from ci_deploy.scan.summary import finding_line, gate_line, summary_markdown, summary_text
from ci_deploy.scan.tools import SCANNERS, ToolNotFound, run_trivy, write_sbom
from ci_deploy.scan.trivy import load_trivy_report, parse_trivy_json

__all__ = [
    "KINDS",
    "SCANNERS",
    "SEVERITIES",
    "FileLocation",
    "Finding",
    "Gate",
    "IgnoreRule",
    "Ignored",
    "ScanReport",
    "ToolNotFound",
    "Verdict",
    "finding_line",
    "finding_uuid",
    "gate_line",
    "ignore_rules_from_yaml",
    "judge",
    "load_ignore_file",
    "load_trivy_report",
    "parse_ignore_text",
    "parse_severities",
    "parse_trivy_json",
    "run_trivy",
    "summary_markdown",
    "summary_text",
    "to_gitlab_container_scanning",
    "to_sarif",
    "write_sbom",
]
