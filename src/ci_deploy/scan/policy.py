"""The gate: which findings fail a build, which are ignored, and why.

A finding fails the gate when its severity is one the gate names, no unexpired ignore rule
matches it, and (with ``ignore_unfixed``) it is not a vulnerability without a released fix.
Vulnerabilities, misconfigurations and secrets are judged alike; ``ignore_unfixed`` applies to
vulnerabilities only, as only they have fixes. A finding whose only matching rules have expired
counts again: the verdict lists it under ``expired`` so that callers can warn.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field

from ci_deploy.errors import UserInputError
from ci_deploy.scan.findings import KINDS, SEVERITIES, Finding, ScanReport, severity_rank
from ci_deploy.scan.ignore import IgnoreRule

# what judge() decided about one finding
FAILING, IGNORED, UNFIXED, PASSING = "failing", "ignored", "unfixed", "passing"


def parse_severities(text: str, *, source: str = "--severity") -> frozenset[str]:
    """``"HIGH, critical"`` → {"HIGH", "CRITICAL"}; UserInputError naming ``source`` otherwise."""
    names = [part.strip().upper() for part in text.split(",")]
    chosen = [name for name in names if name]
    if not chosen:
        raise UserInputError(
            f"{source}: no severity given; expected a comma-separated list of "
            f"{', '.join(SEVERITIES)}"
        )
    for name in chosen:
        if name not in SEVERITIES:
            close = difflib.get_close_matches(name, SEVERITIES, n=1)
            hint = f"did you mean {close[0]}?" if close else None
            raise UserInputError(
                f"{source}: unknown severity {name!r}; known: {', '.join(SEVERITIES)}", hint=hint
            )
    return frozenset(chosen)


def _today_utc() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


@dataclass(frozen=True)
class Gate:
    """What fails a build: the severities, whether unfixed vulnerabilities count, the rules."""

    severities: frozenset[str]
    ignore_unfixed: bool = False
    rules: Sequence[IgnoreRule] = ()
    today: dt.date = field(default_factory=_today_utc)  # rules expire against this date

    def __post_init__(self) -> None:
        unknown = set(self.severities) - set(SEVERITIES)
        if unknown:
            raise ValueError(f"Gate: unknown severities {sorted(unknown)}")
        object.__setattr__(self, "severities", frozenset(self.severities))
        object.__setattr__(self, "rules", tuple(self.rules))


@dataclass(frozen=True)
class Ignored:
    """A finding and the rule that matched it."""

    finding: Finding
    rule: IgnoreRule


def sort_key(finding: Finding) -> tuple[int, int, int, str, str, str]:
    """Most severe first; then those with a fix (they can be acted on); then kind, id, place."""
    return (
        -severity_rank(finding.severity),
        0 if finding.fixed or finding.kind != "vulnerability" else 1,
        KINDS.index(finding.kind),
        finding.id,
        finding.package,
        finding.where,
    )


@dataclass(frozen=True)
class Verdict:
    """What :func:`judge` found: the counts, the findings that failed the gate, the ignored ones."""

    gate: Gate
    counts: dict[str, int]  # per severity (every one of SEVERITIES), all findings, before ignores
    failing: tuple[Finding, ...]  # most severe first
    ignored: tuple[Ignored, ...]  # by an unexpired rule
    unfixed: tuple[Finding, ...]  # vulnerabilities without a fix, not gated (ignore_unfixed)
    expired: tuple[Ignored, ...]  # matched only by expired rules: they count again
    unused_rules: tuple[IgnoreRule, ...]  # matched nothing in this report (expired or not)
    passed: bool
    decisions: dict[Finding, str] = field(repr=False, compare=False, default_factory=dict)
    rule_of: dict[Finding, IgnoreRule] = field(repr=False, compare=False, default_factory=dict)

    def status(self, finding: Finding) -> str:
        """FAILING, IGNORED, UNFIXED or PASSING (below the gate's severities)."""
        return self.decisions.get(finding, PASSING)

    def failing_counts(self) -> dict[str, int]:
        """Failing findings per severity (every one of SEVERITIES)."""
        counts = dict.fromkeys(SEVERITIES, 0)
        for finding in self.failing:
            counts[finding.severity] += 1
        return counts


def _first_match(
    rules: Sequence[IgnoreRule], finding: Finding, *, expired: bool, today: dt.date
) -> int | None:
    for index, rule in enumerate(rules):
        if rule.expired(today) == expired and rule.matches(finding):
            return index
    return None


def judge(report: ScanReport, gate: Gate) -> Verdict:
    """Apply ``gate`` to every finding of ``report``."""
    rules = tuple(gate.rules)
    counts = dict.fromkeys(SEVERITIES, 0)
    used: set[int] = set()
    failing: list[Finding] = []
    ignored: list[Ignored] = []
    unfixed: list[Finding] = []
    expired: list[Ignored] = []
    decisions: dict[Finding, str] = {}
    rule_of: dict[Finding, IgnoreRule] = {}
    for finding in report.findings:
        counts[finding.severity] += 1
        active = _first_match(rules, finding, expired=False, today=gate.today)
        if active is not None:
            used.add(active)
            ignored.append(Ignored(finding, rules[active]))
            decisions[finding], rule_of[finding] = IGNORED, rules[active]
            continue
        lapsed = _first_match(rules, finding, expired=True, today=gate.today)
        if lapsed is not None:
            used.add(lapsed)
            expired.append(Ignored(finding, rules[lapsed]))
        if gate.ignore_unfixed and finding.kind == "vulnerability" and not finding.fixed:
            unfixed.append(finding)
            decisions[finding] = UNFIXED
        elif finding.severity in gate.severities:
            failing.append(finding)
            decisions[finding] = FAILING
    return Verdict(
        gate=gate,
        counts=counts,
        failing=tuple(sorted(failing, key=sort_key)),
        ignored=tuple(ignored),
        unfixed=tuple(unfixed),
        expired=tuple(expired),
        unused_rules=tuple(rule for index, rule in enumerate(rules) if index not in used),
        passed=not failing,
        decisions=decisions,
        rule_of=rule_of,
    )
