"""The gate on the recorded Trivy reports: severities, ignore files (both formats, with expiry
dates), ``ignore_unfixed``, and secrets and misconfigurations judged like vulnerabilities."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ci_deploy.errors import UserInputError
from ci_deploy.scan import (
    FileLocation,
    Finding,
    Gate,
    IgnoreRule,
    ScanReport,
    judge,
    load_ignore_file,
    load_trivy_report,
    parse_ignore_text,
    parse_severities,
)
from ci_deploy.scan.ignore import glob_match, purl_match
from ci_deploy.scan.policy import FAILING, IGNORED, PASSING, UNFIXED
from ci_deploy.yamlfile import load_yaml

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "trivy"
TODAY = dt.date(2025, 6, 1)
HIGH_CRITICAL = frozenset({"HIGH", "CRITICAL"})
ALL = frozenset({"UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"})


def _report(name: str) -> ScanReport:
    return load_trivy_report(FIXTURES / name)


def _yaml(text: str, name: str) -> object:
    """What the CLI passes as yaml_loader: the project's YAML loader."""
    return load_yaml(text, name).data


def _rules(tmp_path: Path, text: str, name: str = ".trivyignore") -> list[IgnoreRule]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_ignore_file(path, yaml_loader=_yaml)


def _keys(findings: tuple[Finding, ...]) -> list[tuple[str, str, str]]:
    return [(f.id, f.package, f.installed_version) for f in findings]


# --- severities


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HIGH,CRITICAL", {"HIGH", "CRITICAL"}),
        (" high , Critical ", {"HIGH", "CRITICAL"}),
        ("critical,CRITICAL,", {"CRITICAL"}),
        ("UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL", set(ALL)),
    ],
)
def test_severities_are_parsed_case_insensitively(text: str, expected: set[str]) -> None:
    assert parse_severities(text) == expected


def test_an_unknown_severity_lists_the_known_ones() -> None:
    with pytest.raises(UserInputError) as caught:
        parse_severities("HIGH,CRITCAL", source="scan.severity")
    assert caught.value.exit_code == 2
    assert caught.value.message == (
        "scan.severity: unknown severity 'CRITCAL'; known: UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL"
    )
    assert caught.value.hint == "did you mean CRITICAL?"


@pytest.mark.parametrize("text", ["", " , ,"])
def test_no_severity_at_all_is_refused(text: str) -> None:
    with pytest.raises(UserInputError, match="no severity given"):
        parse_severities(text)


# --- severities on the recorded reports


def test_high_critical_fails_on_debian_buster_for_its_one_critical() -> None:
    verdict = judge(_report("debian-buster.json"), Gate(HIGH_CRITICAL, today=TODAY))
    assert not verdict.passed
    assert _keys(verdict.failing) == [("CVE-2019-18224", "libidn2-0", "2.0.5-1")]
    assert verdict.counts == {"UNKNOWN": 0, "LOW": 1, "MEDIUM": 0, "HIGH": 0, "CRITICAL": 1}
    assert verdict.failing_counts()["CRITICAL"] == 1


def test_critical_only_passes_on_pip_and_high_fails_it() -> None:
    report = _report("pip.json")
    assert judge(report, Gate(frozenset({"CRITICAL"}), today=TODAY)).passed
    high = judge(report, Gate(HIGH_CRITICAL, today=TODAY))
    assert _keys(high.failing) == [("CVE-2019-14806", "Werkzeug", "0.11")]
    medium = judge(report, Gate(frozenset({"MEDIUM"}), today=TODAY))
    assert [f.severity for f in medium.failing] == ["MEDIUM"]


def test_both_alpine_packages_fail_the_gate() -> None:
    verdict = judge(_report("alpine-39-high-critical.json"), Gate(HIGH_CRITICAL, today=TODAY))
    assert _keys(verdict.failing) == [
        ("CVE-2019-14697", "musl", "1.1.20-r4"),
        ("CVE-2019-14697", "musl-utils", "1.1.20-r4"),
    ]


def test_a_misconfiguration_gates_like_a_vulnerability() -> None:
    report = _report("dockerfile.json")
    assert not judge(report, Gate(frozenset({"HIGH"}), today=TODAY)).passed
    assert judge(report, Gate(frozenset({"CRITICAL"}), today=TODAY)).passed
    # ignore_unfixed is about vulnerability fixes: a misconfiguration still fails
    assert not judge(report, Gate(frozenset({"HIGH"}), ignore_unfixed=True, today=TODAY)).passed


# --- ignore_unfixed


def test_ignore_unfixed_gives_the_failing_set_of_trivys_ignore_unfixed_report() -> None:
    full, trimmed = _report("debian-buster.json"), _report("debian-buster-ignore-unfixed.json")
    assert len(judge(full, Gate(ALL, today=TODAY)).failing) == 2
    ours = judge(full, Gate(ALL, ignore_unfixed=True, today=TODAY))
    trivys = judge(trimmed, Gate(ALL, today=TODAY))
    assert ours.failing == trivys.failing
    assert _keys(ours.failing) == [("CVE-2019-18224", "libidn2-0", "2.0.5-1")]
    assert _keys(ours.unfixed) == [("CVE-2019-18276", "bash", "5.0-4")]
    assert ours.counts["LOW"] == 1  # counts are of every finding, before the gate
    assert ours.status(ours.unfixed[0]) == UNFIXED


# --- the text ignore file


def test_an_ignore_rule_ignores_until_its_date_and_then_counts_again(tmp_path: Path) -> None:
    rules = _rules(
        tmp_path,
        "# libidn2: not reachable, waiting for the base image\nCVE-2019-18224 exp:2025-07-01\n",
    )
    report = _report("debian-buster.json")
    before = judge(report, Gate(HIGH_CRITICAL, rules=rules, today=dt.date(2025, 6, 30)))
    assert before.passed
    (ignored,) = before.ignored
    assert ignored.finding.id == "CVE-2019-18224"
    assert ignored.rule.statement == "libidn2: not reachable, waiting for the base image"
    assert ignored.rule.source == f"{tmp_path / '.trivyignore'}:2"
    assert before.status(ignored.finding) == IGNORED
    assert before.unused_rules == () and before.expired == ()

    on_the_day = judge(report, Gate(HIGH_CRITICAL, rules=rules, today=dt.date(2025, 7, 1)))
    assert not on_the_day.passed
    assert _keys(on_the_day.failing) == [("CVE-2019-18224", "libidn2-0", "2.0.5-1")]
    assert on_the_day.ignored == ()
    assert [(e.finding.id, e.rule.expires) for e in on_the_day.expired] == [
        ("CVE-2019-18224", dt.date(2025, 7, 1))
    ]
    assert on_the_day.status(on_the_day.failing[0]) == FAILING


def test_rules_that_match_nothing_are_reported_unused(tmp_path: Path) -> None:
    rules = _rules(tmp_path, "CVE-2019-18224\nCVE-2000-0001\nAVD-DS-0002 exp:2020-01-01\n")
    verdict = judge(_report("debian-buster.json"), Gate(HIGH_CRITICAL, rules=rules, today=TODAY))
    assert verdict.passed
    assert [r.id for r in verdict.unused_rules] == ["CVE-2000-0001", "AVD-DS-0002"]


def test_a_below_gate_finding_can_be_ignored_and_is_counted_as_ignored(tmp_path: Path) -> None:
    rules = _rules(tmp_path, "CVE-2019-18276 # bash in the base image, no shell exposed\n")
    verdict = judge(_report("debian-buster.json"), Gate(HIGH_CRITICAL, rules=rules, today=TODAY))
    assert [i.finding.id for i in verdict.ignored] == ["CVE-2019-18276"]
    assert verdict.ignored[0].rule.statement == "bash in the base image, no shell exposed"
    assert not verdict.passed  # the CRITICAL is still there
    assert verdict.status(verdict.failing[0]) == FAILING


def test_a_finding_below_the_gate_passes() -> None:
    report = _report("debian-buster.json")
    verdict = judge(report, Gate(frozenset({"CRITICAL"}), today=TODAY))
    low = next(f for f in report.findings if f.severity == "LOW")
    assert verdict.status(low) == PASSING
    assert low not in verdict.failing and verdict.unfixed == ()


def test_the_text_format_as_trivy_reads_it() -> None:
    rules = parse_ignore_text(
        "# vulnerabilities\n"
        "CVE-2019-0001\n"
        "\n"
        "# not this comment: a blank line ends it\n"
        "\n"
        "CVE-2019-0004 exp:2020-01-01\n"
        "CVE-2019-0006 exp:9999-01-01 key2:value2\n"
        "  AVD-DS-0002   \n",
        ".trivyignore",
    )
    assert [(r.id, r.expires, r.statement, r.source) for r in rules] == [
        ("CVE-2019-0001", None, "vulnerabilities", ".trivyignore:2"),
        ("CVE-2019-0004", dt.date(2020, 1, 1), "", ".trivyignore:6"),
        ("CVE-2019-0006", dt.date(9999, 1, 1), "", ".trivyignore:7"),
        ("AVD-DS-0002", None, "", ".trivyignore:8"),
    ]
    assert all(r.kinds == {"vulnerability", "misconfiguration", "secret"} for r in rules)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("CVE-2019-0001 exp:2024-13-01", "'exp:2024-13-01' is not an expiry date"),
        ("CVE-2019-0001 exp:tomorrow", "expected exp:YYYY-MM-DD"),
        ("exp:2024-01-01", "a line starts with the id to ignore"),
    ],
)
def test_a_bad_text_line_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(UserInputError) as caught:
        _rules(tmp_path, f"# ok\nCVE-2019-0002\n{line}\n")
    assert caught.value.message.startswith(f"{tmp_path / '.trivyignore'}:3: ")
    assert message in caught.value.message


def test_a_misconfiguration_is_ignored_by_either_of_its_ids(tmp_path: Path) -> None:
    report = _report("dockerfile.json")
    for rule_id in ("AVD-DS-0002", "DS002"):
        rules = _rules(tmp_path, f"{rule_id}\n")
        assert judge(report, Gate(ALL, rules=rules, today=TODAY)).passed


def test_a_missing_ignore_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="no such ignore file"):
        load_ignore_file(tmp_path / ".trivyignore")


# --- the YAML ignore file


def test_yaml_rules_apply_to_their_own_kind_and_paths(tmp_path: Path) -> None:
    rules = _rules(
        tmp_path,
        "misconfigurations:\n"
        "  - id: AVD-DS-0002\n"
        "    paths: ['docs/**']\n"
        "  - id: CVE-2019-18224\n"  # a vulnerability id in the misconfigurations list
        "vulnerabilities:\n"
        "  - id: AVD-DS-0002\n"  # a misconfiguration id in the vulnerabilities list
        "secrets:\n"
        "licenses:\n"
        "  - id: GPL-3.0\n",
        ".trivyignore.yaml",
    )
    for name in ("dockerfile.json", "debian-buster.json"):
        verdict = judge(_report(name), Gate(HIGH_CRITICAL, rules=rules, today=TODAY))
        assert not verdict.passed and verdict.ignored == ()
    here = _rules(
        tmp_path, "misconfigurations:\n  - id: DS002\n    paths: ['**/Dockerfile']\n", "i.yml"
    )
    assert judge(_report("dockerfile.json"), Gate(ALL, rules=here, today=TODAY)).passed


def test_yaml_expiry_and_statement(tmp_path: Path) -> None:
    rules = _rules(
        tmp_path,
        "vulnerabilities:\n"
        "  - id: CVE-2019-18224\n"
        "    expired_at: 2025-07-01\n"
        '    statement: "fixed in the next base image"\n',
        ".trivyignore.yaml",
    )
    (rule,) = rules
    assert (rule.expires, rule.statement, rule.kinds) == (
        dt.date(2025, 7, 1),
        "fixed in the next base image",
        frozenset({"vulnerability"}),
    )
    assert rule.source == f"{tmp_path / '.trivyignore.yaml'}: vulnerabilities[0]"
    report = _report("debian-buster.json")
    assert judge(report, Gate(HIGH_CRITICAL, rules=rules, today=dt.date(2025, 6, 30))).passed
    late = judge(report, Gate(HIGH_CRITICAL, rules=rules, today=dt.date(2025, 7, 1)))
    assert not late.passed and len(late.expired) == 1


def test_yaml_purls_name_the_package(tmp_path: Path) -> None:
    report = _report("debian-buster.json")
    bash = "vulnerabilities:\n  - id: CVE-2019-18276\n    purls: ['pkg:deb/debian/bash']\n"
    verdict = judge(report, Gate(ALL, rules=_rules(tmp_path, bash, "a.yaml"), today=TODAY))
    assert [i.finding.package for i in verdict.ignored] == ["bash"]
    other = bash.replace("pkg:deb/debian/bash", "pkg:deb/debian/bash@9.9")
    verdict = judge(report, Gate(ALL, rules=_rules(tmp_path, other, "b.yaml"), today=TODAY))
    assert verdict.ignored == ()
    # an entry without an id ignores every vulnerability of the package
    any_id = "vulnerabilities:\n  - purls: ['pkg:deb/debian/libidn2-0@2.0.5-1']\n"
    verdict = judge(report, Gate(ALL, rules=_rules(tmp_path, any_id, "c.yaml"), today=TODAY))
    assert [i.finding.id for i in verdict.ignored] == ["CVE-2019-18224"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("vulnerabilites:\n  - id: X\n", "unknown list 'vulnerabilites'"),
        ("vulnerabilities:\n  - id: X\n    expires_at: 2024-01-01\n", "did you mean 'expired_at'?"),
        ("vulnerabilities:\n  - id: X\n    expired_at: soon\n", "expected a date YYYY-MM-DD"),
        ("vulnerabilities:\n  - statement: why\n", "an entry needs an id, paths or purls"),
        ("vulnerabilities:\n  - id: X\n    paths: '*.txt'\n", "expected a list of non-empty"),
        ("vulnerabilities:\n  - id: X\n    paths: ['a[b']\n", "not a valid path pattern"),
        ("vulnerabilities:\n  - id: X\n    purls: ['bash']\n", "is not a package URL"),
        ("secrets:\n  - id: X\n    purls: ['pkg:deb/debian/bash']\n", "vulnerabilities only"),
        ("vulnerabilities: CVE-1\n", "expected a list of entries"),
        ("- CVE-1\n", "expected a mapping with lists"),
    ],
)
def test_a_bad_yaml_ignore_file_is_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UserInputError) as caught:
        _rules(tmp_path, text, ".trivyignore.yaml")
    assert str(tmp_path / ".trivyignore.yaml") in caught.value.message
    assert message in caught.value.message


def test_a_yaml_ignore_file_needs_a_yaml_loader(tmp_path: Path) -> None:
    path = tmp_path / ".trivyignore.yaml"
    path.write_text("vulnerabilities: []\n", encoding="utf-8")
    with pytest.raises(ValueError, match="yaml_loader"):
        load_ignore_file(path)
    assert load_ignore_file(path, yaml_loader=_yaml) == []


# --- secrets gate like the rest


def _secret(severity: str = "CRITICAL", path: str = "deploy/.env") -> Finding:
    return Finding(
        kind="secret",
        id="github-pat",
        severity=severity,
        title="GitHub Personal Access Token",
        target=path,
        target_class="secret",
        location=FileLocation(path, 3, 3),
    )


def test_secrets_gate_and_are_ignored_like_the_rest() -> None:
    report = ScanReport("r.json", ".", "filesystem", (_secret(), _secret("LOW", "a/b.txt")))
    assert _keys(judge(report, Gate(HIGH_CRITICAL, today=TODAY)).failing) == [
        ("github-pat", "", "")
    ]
    only_deploy = IgnoreRule("github-pat", "t", kinds=frozenset({"secret"}), paths=("deploy/*",))
    verdict = judge(report, Gate(ALL, rules=[only_deploy], today=TODAY))
    assert [f.target for f in verdict.failing] == ["a/b.txt"]
    assert [i.finding.target for i in verdict.ignored] == ["deploy/.env"]


# --- matching helpers


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("**/*-lock.json", "package-lock.json", True),
        ("**/*-lock.json", "a/b/package-lock.json", True),
        ("bar/*.json", "bar/package.json", True),
        ("bar/*.json", "bar/x/package.json", False),
        ("vendor/**", "vendor/a/b/c.go", True),
        ("vendor/**", "src/vendor/a.go", False),
        ("{app,web}/Dockerfile", "web/Dockerfile", True),
        ("{app,web}/Dockerfile", "api/Dockerfile", False),
        ("Dockerfile.[!a]*", "Dockerfile.b", True),
        ("Dockerfile.[!a]*", "Dockerfile.a", False),
        ("app/?.txt", "app/x.txt", True),
    ],
)
def test_glob_match(pattern: str, path: str, matches: bool) -> None:
    assert glob_match(pattern, path) is matches


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ("pkg:deb/debian/bash", True),
        ("pkg:deb/debian/bash@5.0-4", True),
        ("pkg:deb/debian/bash@5.0-5", False),
        ("pkg:deb/debian/bash?arch=amd64", True),
        ("pkg:deb/debian/bash?arch=arm64", False),
        ("pkg:deb/debian/bas", False),
        ("pkg:rpm/debian/bash", False),
    ],
)
def test_purl_match(pattern: str, matches: bool) -> None:
    purl = "pkg:deb/debian/bash@5.0-4?arch=amd64&distro=debian-10.1"
    assert purl_match(pattern, purl) is matches
