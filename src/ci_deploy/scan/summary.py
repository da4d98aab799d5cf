"""The scan's job summary: counts per severity, the gate's result, the top failing findings.

Every string that came from the report (ids, packages, versions, titles, paths, the artifact
name, rule statements) is untrusted: in Markdown it is a code span (:func:`markdown_code`), in
text one inert line (:func:`one_line`), so nothing in a finding can add a line the CI runner
obeys or Markdown that renders.
"""

from __future__ import annotations

from ci_deploy.scan.findings import SEVERITIES, Finding, ScanReport, severity_rank
from ci_deploy.scan.policy import Verdict
from ci_deploy.text import markdown_code, one_line

_TITLE = 80  # characters of a title shown in a table row or log line


def _short(text: str, limit: int = _TITLE) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _place(finding: Finding) -> str:
    """The package name of a vulnerability, the file (and line) of the other kinds."""
    return finding.package if finding.kind == "vulnerability" else finding.where


def _versions(finding: Finding) -> tuple[str, str]:
    """(installed, fixed) for a vulnerability; ("", "") for the other kinds."""
    if finding.kind != "vulnerability":
        return "", ""
    return finding.installed_version, finding.fixed_version or "no fix"


def _gate_words(verdict: Verdict) -> str:
    severities = ", ".join(sorted(verdict.gate.severities, key=severity_rank, reverse=True))
    unfixed = "; unfixed vulnerabilities do not fail it" if verdict.gate.ignore_unfixed else ""
    return f"fails on {severities}{unfixed}"


def gate_line(verdict: Verdict) -> str:
    """One line saying whether the gate passed: ``gate failed: 2 findings (CRITICAL 1, HIGH 1)``."""
    if verdict.passed:
        return f"gate passed: no finding at {_gate_words(verdict).removeprefix('fails on ')}"
    per = verdict.failing_counts()
    counts = ", ".join(f"{s} {per[s]}" for s in reversed(SEVERITIES) if per[s])
    many = "finding" if len(verdict.failing) == 1 else "findings"
    return f"gate failed: {len(verdict.failing)} {many} ({counts})"


def _ignored_counts(verdict: Verdict) -> dict[str, int]:
    counts = dict.fromkeys(SEVERITIES, 0)
    for item in verdict.ignored:
        counts[item.finding.severity] += 1
    return counts


def _scanned(report: ScanReport) -> tuple[str, str]:
    """(artifact name, "type, scanners, Trivy version") of the scan."""
    details = [report.artifact_type or "unknown type"]
    if report.scanners:
        details.append("scanners " + ", ".join(sorted(report.scanners)))
    if report.trivy_version:
        details.append(f"Trivy {report.trivy_version}")
    return report.artifact_name or report.source, "; ".join(details)


def _warnings(verdict: Verdict) -> list[str]:
    """Plain sentences about ignore rules (untrusted parts go through one_line by callers)."""
    lines = []
    for item in verdict.expired:
        lines.append(
            f"expired ignore rule {item.rule.describe()} no longer ignores "
            f"{item.finding.id} ({item.finding.where})"
        )
    if verdict.unused_rules:
        unused = ", ".join(rule.describe() for rule in verdict.unused_rules)
        lines.append(f"ignore rules that matched nothing: {unused}")
    return lines


def summary_markdown(report: ScanReport, verdict: Verdict, *, top: int = 10) -> str:
    """The job summary in Markdown (GitHub's step summary)."""
    name, details = _scanned(report)
    result = "passed" if verdict.passed else "failed"
    lines = [f"### ci-deploy scan: {result}", ""]
    lines += [f"Scanned {markdown_code(name)} ({markdown_code(details)}).", ""]
    lines += [f"**{gate_line(verdict)}** (the gate {_gate_words(verdict)}).", ""]
    failing, ignored = verdict.failing_counts(), _ignored_counts(verdict)
    lines += ["| Severity | Found | Failing | Ignored |", "|---|---:|---:|---:|"]
    for severity in reversed(SEVERITIES):
        found = verdict.counts[severity]
        lines.append(f"| {severity} | {found} | {failing[severity]} | {ignored[severity]} |")
    total = sum(verdict.counts.values())
    lines.append(f"| total | {total} | {len(verdict.failing)} | {len(verdict.ignored)} |")
    if verdict.failing:
        shown = verdict.failing[:top]
        more = f" (the first {len(shown)})" if len(shown) < len(verdict.failing) else ""
        lines += ["", f"#### Findings that failed the gate{more}", ""]
        lines += ["| Severity | ID | Package or file | Installed | Fixed | Title |"]
        lines += ["|---|---|---|---|---|---|"]
        for finding in shown:
            installed, fixed = _versions(finding)
            cells = [finding.id, _place(finding), installed, fixed, _short(finding.title)]
            row = " | ".join(markdown_code(c) if c else "" for c in cells)
            lines.append(f"| {finding.severity} | {row} |")
    warnings = _warnings(verdict)
    if warnings:
        lines += ["", "#### Ignore rules", ""]
        lines += [f"- {markdown_code(w)}" for w in warnings]
    return "\n".join(lines) + "\n"


def finding_line(finding: Finding) -> str:
    """One inert log line for ``finding``: severity, id, where, versions, title."""
    installed, fixed = _versions(finding)
    versions = f" {installed} -> {fixed}" if installed or fixed else ""
    text = (
        f"{finding.severity:<8} {finding.id} {_place(finding)}{versions}: {_short(finding.title)}"
    )
    return one_line(text)


def summary_text(report: ScanReport, verdict: Verdict, *, top: int = 10) -> str:
    """The same summary as plain aligned lines, for a job log."""
    name, details = _scanned(report)
    lines = [one_line(f"ci-deploy scan: {name} ({details})"), f"  {_gate_words(verdict)}"]
    lines.append(f"  {gate_line(verdict)}")
    failing, ignored = verdict.failing_counts(), _ignored_counts(verdict)
    lines.append(f"  {'severity':<9}{'found':>7}{'failing':>9}{'ignored':>9}")
    for severity in reversed(SEVERITIES):
        found = verdict.counts[severity]
        lines.append(f"  {severity:<9}{found:>7}{failing[severity]:>9}{ignored[severity]:>9}")
    if verdict.failing:
        shown = verdict.failing[:top]
        more = f" (the first {len(shown)} of {len(verdict.failing)})"
        more = more if len(shown) < len(verdict.failing) else ""
        lines.append(f"findings that failed the gate{more}:")
        lines += [f"  {finding_line(finding)}" for finding in shown]
    lines += [one_line(f"warning: {w}") for w in _warnings(verdict)]
    return "\n".join(lines) + "\n"
