"""The job summary: counts per severity, the gate's result, the top failing findings, and
strings from the report kept inert (no runner command, no Markdown) in both forms."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from ci_deploy.scan import (
    FileLocation,
    Finding,
    Gate,
    IgnoreRule,
    ScanReport,
    gate_line,
    judge,
    load_trivy_report,
    summary_markdown,
    summary_text,
)
from ci_deploy.text import markdown_code

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "trivy"
TODAY = dt.date(2025, 6, 1)
HIGH_CRITICAL = frozenset({"HIGH", "CRITICAL"})


def test_markdown_counts_and_failing_rows_for_debian_buster() -> None:
    report = load_trivy_report(FIXTURES / "debian-buster.json")
    verdict = judge(report, Gate(HIGH_CRITICAL, today=TODAY))
    markdown = summary_markdown(report, verdict)
    lines = markdown.splitlines()
    assert lines[0] == "### ci-deploy scan: failed"
    assert "| CRITICAL | 1 | 1 | 0 |" in lines
    assert "| LOW | 1 | 0 | 0 |" in lines
    assert "| HIGH | 0 | 0 | 0 |" in lines
    assert "| total | 2 | 1 | 0 |" in lines
    assert (
        "| CRITICAL | `CVE-2019-18224` | `libidn2-0` | `2.0.5-1` | `2.0.5-1+deb10u1` | "
        "`libidn2: heap-based buffer overflow in idn2_to_ascii_4i in lib/lookup.c` |"
    ) in lines
    assert "CVE-2019-18276" not in markdown  # LOW: counted, not listed
    assert "gate failed: 1 finding (CRITICAL 1)" in markdown


def test_text_has_the_same_numbers_aligned() -> None:
    report = load_trivy_report(FIXTURES / "debian-buster.json")
    verdict = judge(report, Gate(HIGH_CRITICAL, ignore_unfixed=True, today=TODAY))
    lines = summary_text(report, verdict).splitlines()
    assert lines[0] == (
        "ci-deploy scan: testdata/fixtures/images/debian-buster.tar.gz "
        "(container_image; scanners vuln)"
    )
    assert "  fails on CRITICAL, HIGH; unfixed vulnerabilities do not fail it" in lines
    assert "  gate failed: 1 finding (CRITICAL 1)" in lines
    assert "  CRITICAL       1        1        0" in lines
    assert "  LOW            1        0        0" in lines
    assert (
        "  CRITICAL CVE-2019-18224 libidn2-0 2.0.5-1 -> 2.0.5-1+deb10u1: "
        "libidn2: heap-based buffer overflow in idn2_to_ascii_4i in lib/lookup.c"
    ) in lines


def test_a_passing_gate_says_so() -> None:
    report = load_trivy_report(FIXTURES / "pip.json")
    verdict = judge(report, Gate(frozenset({"CRITICAL"}), today=TODAY))
    assert gate_line(verdict) == "gate passed: no finding at CRITICAL"
    markdown = summary_markdown(report, verdict)
    assert markdown.startswith("### ci-deploy scan: passed\n")
    assert "Findings that failed the gate" not in markdown
    assert "| HIGH | 1 | 0 | 0 |" in markdown


def test_top_limits_the_listed_findings() -> None:
    report = load_trivy_report(FIXTURES / "alpine-39-high-critical.json")
    verdict = judge(report, Gate(HIGH_CRITICAL, today=TODAY))
    markdown = summary_markdown(report, verdict, top=1)
    assert "#### Findings that failed the gate (the first 1)" in markdown
    assert len([line for line in markdown.splitlines() if line.startswith("| CRITICAL | `")]) == 1
    text = summary_text(report, verdict, top=1)
    assert "findings that failed the gate (the first 1 of 2):" in text
    assert "gate failed: 2 findings (CRITICAL 2)" in text


def test_misconfigurations_show_their_file() -> None:
    report = load_trivy_report(FIXTURES / "dockerfile.json")
    verdict = judge(report, Gate(HIGH_CRITICAL, today=TODAY))
    markdown = summary_markdown(report, verdict)
    assert "| HIGH | `AVD-DS-0002` | `Dockerfile` |  |  | `Image user should not be 'root'` |" in (
        markdown.splitlines()
    )


def test_expired_and_unused_rules_are_warned_about() -> None:
    report = load_trivy_report(FIXTURES / "debian-buster.json")
    rules = [
        IgnoreRule("CVE-2019-18224", ".trivyignore:1", expires=dt.date(2025, 1, 1)),
        IgnoreRule("CVE-2000-0001", ".trivyignore:2"),
    ]
    verdict = judge(report, Gate(HIGH_CRITICAL, rules=rules, today=TODAY))
    text = summary_text(report, verdict)
    assert (
        "warning: expired ignore rule CVE-2019-18224 (until 2025-01-01, .trivyignore:1) no longer "
        "ignores CVE-2019-18224 (libidn2-0@2.0.5-1)"
    ) in text.splitlines()
    assert "warning: ignore rules that matched nothing: CVE-2000-0001 (.trivyignore:2)" in text
    markdown = summary_markdown(report, verdict)
    assert "#### Ignore rules" in markdown
    assert "- `expired ignore rule CVE-2019-18224 (until 2025-01-01" in markdown


# a runner command after a newline, Markdown of every kind, a terminal escape, a carriage return
HOSTILE = "x\x1b[31m\n::error::pwned\r\n# Heading [l](https://e.x) <img src=x> `t` |p|"


def _two_findings(text: str) -> ScanReport:
    """A vulnerability and a secret whose every string is ``text`` (plus a little)."""
    finding = Finding(
        kind="vulnerability",
        id=f"CVE-2024-0001{text}",
        severity="CRITICAL",
        title=text,
        target=f"app{text}",
        package=f"pkg{text}",
        installed_version=f"1.0{text}",
        fixed_version=f"1.1{text}",
    )
    secret = Finding(
        kind="secret",
        id=f"github-pat{text}",
        severity="HIGH",
        title=text,
        target=f"file.env{text}",
        location=FileLocation(f"file.env{text}", 1, 1),
    )
    return ScanReport("r.json", f"app:1{text}", "container_image", (finding, secret))


def _both(text: str) -> tuple[str, str]:
    report = _two_findings(text)
    verdict = judge(report, Gate(HIGH_CRITICAL, today=TODAY))
    return summary_markdown(report, verdict), summary_text(report, verdict)


def test_hostile_strings_stay_inert_in_markdown() -> None:
    markdown, _ = _both(HOSTILE)
    plain, _ = _both("")
    # as many lines as with plain strings: nothing in a finding starts a line
    assert len(markdown.splitlines()) == len(plain.splitlines())
    for line in markdown.splitlines():
        assert not line.lstrip().startswith("::")
        assert "\x1b" not in line and "\r" not in line
    assert markdown_code(HOSTILE) in markdown  # the title: one code span, nothing renders
    # a cell's "|" and "`" cannot end its cell or its code span
    rows = [line for line in markdown.splitlines() if line.startswith(("| CRITICAL |", "| HIGH |"))]
    rows = [row for row in rows if "`" in row]
    assert len(rows) == 2
    assert all(len(re.findall(r"(?<!\\)\|", row)) == 7 for row in rows)
    assert all(row.count("`") % 2 == 0 for row in rows)


def test_hostile_strings_stay_inert_in_text() -> None:
    _, text = _both(HOSTILE)
    _, plain = _both("")
    assert len(text.splitlines()) == len(plain.splitlines())
    for line in text.splitlines():
        assert not line.lstrip().startswith("::")
        assert "\x1b" not in line and "\r" not in line
    listed = [line for line in text.splitlines() if line.startswith("  CRITICAL CVE")]
    shown = "x␛[31m␊::error::pwned␍␊# Heading [l](https://e.x) <img src=x> `t` |p|"
    assert listed == [
        f"  CRITICAL CVE-2024-0001{shown} pkg{shown} 1.0{shown} -> 1.1{shown}: {shown}"
    ]
