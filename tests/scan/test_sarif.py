"""SARIF: valid against the SARIF 2.1.0 schema (tests/scan/schemas) and shaped as GitHub code
scanning needs it (relative URIs, a line for every result, rules with security-severity)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ci_deploy.scan import (
    FileLocation,
    Finding,
    Gate,
    IgnoreRule,
    ScanReport,
    judge,
    load_trivy_report,
    to_sarif,
)
from ci_deploy.scan.sarif import image_path

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "trivy"
SCHEMA = json.loads(
    (Path(__file__).parent / "schemas" / "sarif-2.1.0-rtm.5.json").read_text(encoding="utf-8")
)
VALIDATOR = jsonschema.Draft4Validator(SCHEMA)
TODAY = dt.date(2025, 6, 1)
HIGH_CRITICAL = frozenset({"HIGH", "CRITICAL"})
REPORTS = [
    "debian-buster.json",
    "debian-buster-ignore-unfixed.json",
    "alpine-39-high-critical.json",
    "pip.json",
    "dockerfile.json",
]


def _sarif(name: str, gate: Gate | None = None, **options: Any) -> dict[str, Any]:
    report = load_trivy_report(FIXTURES / name)
    verdict = judge(report, gate or Gate(HIGH_CRITICAL, today=TODAY))
    sarif = to_sarif(report, verdict, **options)
    # what the CLI writes: it must survive a JSON round trip unchanged
    assert json.loads(json.dumps(sarif)) == sarif
    return sarif


def _errors(document: dict[str, Any]) -> list[str]:
    return [error.message for error in VALIDATOR.iter_errors(document)]


def test_the_schema_accepts_trivys_own_sarif_and_rejects_a_broken_one() -> None:
    trivy = json.loads((FIXTURES / "alpine-310.sarif").read_text(encoding="utf-8"))
    assert _errors(trivy) == []
    broken = copy.deepcopy(trivy)
    broken["runs"][0]["results"][0]["level"] = "fatal"
    del broken["runs"][0]["tool"]["driver"]["name"]
    assert len(_errors(broken)) == 2


@pytest.mark.parametrize("name", REPORTS)
def test_sarif_of_every_recorded_report_validates(name: str) -> None:
    sarif = _sarif(name)
    assert _errors(sarif) == []
    assert sarif["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert sarif["version"] == "2.1.0"
    assert len(sarif["runs"]) == 1


@pytest.mark.parametrize("name", REPORTS)
def test_every_result_is_placed_as_github_requires(name: str) -> None:
    report = load_trivy_report(FIXTURES / name)
    (run,) = _sarif(name)["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert len(run["results"]) == len(report.findings)
    assert len({r["id"] for r in rules}) == len(rules)
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["message"]["text"]
        (location,) = result["locations"]
        uri = location["physicalLocation"]["artifactLocation"]["uri"]
        assert uri and not uri.startswith(("/", "./", "../")) and "://" not in uri
        assert " " not in uri and ":" not in uri and ".." not in uri.split("/")
        assert location["physicalLocation"]["region"]["startLine"] >= 1
        assert len(result["partialFingerprints"]["ciDeployFinding/v1"]) == 64
    for rule in rules:
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert rule["help"]["text"] and "markdown" not in rule["help"]
        assert "security" in rule["properties"]["tags"]
        assert 0.0 < float(rule["properties"]["security-severity"]) <= 10.0


def test_rules_carry_trivys_security_severities() -> None:
    (run,) = _sarif("debian-buster.json")["runs"]
    severity = {
        r["id"]: r["properties"]["security-severity"] for r in run["tool"]["driver"]["rules"]
    }
    assert severity == {"CVE-2019-18276": "2.0", "CVE-2019-18224": "9.5"}
    (pip,) = _sarif("pip.json")["runs"]
    assert sorted(r["properties"]["security-severity"] for r in pip["tool"]["driver"]["rules"]) == [
        "5.5",
        "8.0",
    ]


def test_levels_follow_the_gate() -> None:
    (run,) = _sarif("debian-buster.json")["runs"]
    assert {r["ruleId"]: r["level"] for r in run["results"]} == {
        "CVE-2019-18224": "error",  # CRITICAL, failed the gate
        "CVE-2019-18276": "note",  # LOW
    }
    (pip,) = _sarif("pip.json", Gate(frozenset({"CRITICAL"}), today=TODAY))["runs"]
    assert [r["level"] for r in pip["results"]] == ["warning", "warning"]  # HIGH, MEDIUM passed
    (failing,) = _sarif("pip.json")["runs"]
    assert sorted(r["level"] for r in failing["results"]) == ["error", "warning"]
    assert failing["properties"]["gatePassed"] is False
    assert failing["properties"]["gateSeverities"] == ["HIGH", "CRITICAL"]


def test_an_ignored_finding_is_suppressed_with_the_rule_statement() -> None:
    rule = IgnoreRule("CVE-2019-18224", ".trivyignore:4", statement="not reachable: no IDN input")
    gate = Gate(HIGH_CRITICAL, rules=[rule], today=TODAY)
    (run,) = _sarif("debian-buster.json", gate)["runs"]
    by_id = {r["ruleId"]: r for r in run["results"]}
    assert by_id["CVE-2019-18224"]["suppressions"] == [
        {"kind": "external", "status": "accepted", "justification": "not reachable: no IDN input"}
    ]
    assert by_id["CVE-2019-18224"]["level"] == "warning"  # no longer failing
    assert "suppressions" not in by_id["CVE-2019-18276"]
    assert run["properties"]["gatePassed"] is True
    plain = IgnoreRule("CVE-2019-18224", ".trivyignore:4")
    (run,) = _sarif("debian-buster.json", Gate(HIGH_CRITICAL, rules=[plain], today=TODAY))["runs"]
    suppressed = next(r for r in run["results"] if "suppressions" in r)
    assert suppressed["suppressions"][0]["justification"] == "ignored by .trivyignore:4"


def test_file_findings_point_at_their_file_and_line() -> None:
    (pip,) = _sarif("pip.json", path_prefix="services/api")["runs"]
    locations = [r["locations"][0]["physicalLocation"] for r in pip["results"]]
    assert {loc["artifactLocation"]["uri"] for loc in locations} == {
        "services/api/requirements.txt"
    }
    assert {loc["region"]["startLine"] for loc in locations} == {6}
    (docker,) = _sarif("dockerfile.json")["runs"]
    (result,) = docker["results"]
    assert result["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "Dockerfile"},
        "region": {"startLine": 1},  # Trivy gave no line: GitHub still needs one
    }
    assert result["ruleId"] == "AVD-DS-0002"
    assert "Specify at least 1 USER command" in result["message"]["text"]


def test_image_findings_are_placed_on_the_image_or_a_given_file() -> None:
    (run,) = _sarif("alpine-39-high-critical.json")["runs"]
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]
    }
    # as Trivy's own SARIF places them (alpine-310.sarif: the archive's path)
    assert uris == {"testdata/fixtures/images/alpine-39.tar.gz"}
    (run,) = _sarif("alpine-39-high-critical.json", image_uri="build/Dockerfile")["runs"]
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]
    }
    assert uris == {"build/Dockerfile"}


@pytest.mark.parametrize(
    ("reference", "path"),
    [
        ("alpine:3.19", "library/alpine"),
        ("debian:10.1 (debian 10.1)", "library/debian"),
        ("ghcr.io/acme/app:1.2", "acme/app"),
        ("registry.example.com:5000/team/app@sha256:" + "a" * 64, "team/app"),
        ("localhost:5000/app", "app"),
        ("docker.io/nginx:1", "library/nginx"),
        ("acme/app", "acme/app"),
    ],
)
def test_image_path(reference: str, path: str) -> None:
    assert image_path(reference) == path


def test_odd_paths_become_relative_encoded_uris() -> None:
    def secret(path: str) -> Finding:
        return Finding(
            "secret", "aws-secret-access-key", "CRITICAL", "AWS Secret Access Key", path,
            location=FileLocation(path, 2, 3),
        )  # fmt: skip

    paths = ["/srv/app/my config.env", "../outside/x.env", "C:\\work\\a:b.env", "./ok.env"]
    report = ScanReport("r", ".", "filesystem", tuple(secret(p) for p in paths))
    sarif = to_sarif(report, judge(report, Gate(HIGH_CRITICAL, today=TODAY)))
    assert _errors(sarif) == []
    physical = [r["locations"][0]["physicalLocation"] for r in sarif["runs"][0]["results"]]
    assert [p["artifactLocation"]["uri"] for p in physical] == [
        "srv/app/my%20config.env",
        "outside/x.env",
        "C%3A/work/a%3Ab.env",
        "ok.env",
    ]
    assert {json.dumps(p["region"]) for p in physical} == {'{"startLine": 2, "endLine": 3}'}


def test_the_tool_is_trivy_converted_by_ci_deploy() -> None:
    report = load_trivy_report(FIXTURES / "debian-buster.json")
    report = ScanReport(
        report.source, report.artifact_name, report.artifact_type, report.findings, "0.76.0"
    )
    sarif = to_sarif(
        report, judge(report, Gate(HIGH_CRITICAL, today=TODAY)), ci_deploy_version="0.1.0"
    )
    (run,) = sarif["runs"]
    assert run["tool"]["driver"]["name"] == "Trivy"
    assert run["tool"]["driver"]["version"] == "0.76.0"
    assert run["conversion"]["tool"]["driver"] == {"name": "ci-deploy", "version": "0.1.0"}
    assert _errors(sarif) == []


def test_fingerprints_are_stable_and_distinct() -> None:
    first = _sarif("alpine-39-high-critical.json")["runs"][0]["results"]
    again = _sarif("alpine-39-high-critical.json")["runs"][0]["results"]
    prints = [r["partialFingerprints"] for r in first]
    assert prints == [r["partialFingerprints"] for r in again]
    assert len({p["ciDeployFinding/v1"] for p in prints}) == 2  # musl and musl-utils
