"""GitLab's container-scanning report: valid against the required-fields schema of
tests/scan/schemas (see its PROVENANCE.md), and holding what the recorded reports say."""

from __future__ import annotations

import copy
import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ci_deploy.scan import (
    Gate,
    IgnoreRule,
    ScanReport,
    judge,
    load_trivy_report,
    to_gitlab_container_scanning,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "trivy"
SCHEMA_FILE = Path(__file__).parent / "schemas" / "gitlab-container-scanning-required.schema.json"
VALIDATOR = jsonschema.Draft7Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))
TODAY = dt.date(2025, 6, 1)
START = dt.datetime(2025, 6, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
END = dt.datetime(2025, 6, 1, 12, 0, 42, tzinfo=dt.timezone.utc)
HIGH_CRITICAL = frozenset({"HIGH", "CRITICAL"})


def _gitlab(name: str, rules: list[IgnoreRule] | None = None) -> dict[str, Any]:
    report = load_trivy_report(FIXTURES / name)
    verdict = judge(report, Gate(HIGH_CRITICAL, rules=rules or [], today=TODAY))
    document = to_gitlab_container_scanning(
        report, verdict, scanner_version="0.76.0", start=START, end=END, analyzer_version="0.1.0"
    )
    assert json.loads(json.dumps(document)) == document
    return document


def _errors(document: dict[str, Any]) -> list[str]:
    return [error.message for error in VALIDATOR.iter_errors(document)]


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("debian-buster.json", 2),
        ("debian-buster-ignore-unfixed.json", 1),
        ("alpine-39-high-critical.json", 2),
        ("pip.json", 2),
        ("dockerfile.json", 0),  # a misconfiguration has no place in this report
    ],
)
def test_every_recorded_report_gives_a_valid_report(name: str, count: int) -> None:
    document = _gitlab(name)
    assert _errors(document) == []
    assert len(document["vulnerabilities"]) == count
    assert document["version"] == "15.0.7"
    assert document["scan"]["type"] == "container_scanning"
    assert document["scan"]["status"] == "success"


def test_the_schema_refuses_a_report_missing_required_fields() -> None:
    document = _gitlab("debian-buster.json")
    broken = copy.deepcopy(document)
    del broken["vulnerabilities"][0]["location"]["image"]
    broken["vulnerabilities"][1]["severity"] = "CRITICAL"
    broken["scan"]["start_time"] = "2025-06-01T12:00:00+00:00"
    assert len(_errors(broken)) == 3


def test_vulnerability_entries_hold_the_report_data() -> None:
    document = _gitlab("debian-buster.json")
    by_name = {
        v["location"]["dependency"]["package"]["name"]: v for v in document["vulnerabilities"]
    }
    libidn2, bash = by_name["libidn2-0"], by_name["bash"]
    assert libidn2["severity"] == "Critical" and bash["severity"] == "Low"
    assert (
        libidn2["name"] == "libidn2: heap-based buffer overflow in idn2_to_ascii_4i in lib/lookup.c"
    )
    assert libidn2["solution"] == "Upgrade libidn2-0 to 2.0.5-1+deb10u1"
    assert "solution" not in bash  # no fix released
    assert libidn2["location"] == {
        "dependency": {"package": {"name": "libidn2-0"}, "version": "2.0.5-1"},
        "operating_system": "debian 10.1",
        "image": "testdata/fixtures/images/debian-buster.tar.gz",
    }
    assert libidn2["identifiers"] == [
        {
            "type": "cve",
            "name": "CVE-2019-18224",
            "value": "CVE-2019-18224",
            "url": "https://avd.aquasec.com/nvd/cve-2019-18224",
        },
        {
            "type": "cwe",
            "name": "CWE-787",
            "value": "787",
            "url": "https://cwe.mitre.org/data/definitions/787.html",
        },
    ]
    links = [link["url"] for link in libidn2["links"]]
    assert links[0] == "https://avd.aquasec.com/nvd/cve-2019-18224"
    assert "https://www.debian.org/security/2020/dsa-4613" in links


def test_ids_are_stable_distinct_uuids() -> None:
    first = [v["id"] for v in _gitlab("alpine-39-high-critical.json")["vulnerabilities"]]
    again = [v["id"] for v in _gitlab("alpine-39-high-critical.json")["vulnerabilities"]]
    assert first == again
    assert len(set(first)) == 2  # one CVE in musl and in musl-utils: two vulnerabilities
    assert all(uuid.UUID(value).version == 5 for value in first)


def test_ignored_vulnerabilities_are_left_out_and_unfixed_ones_stay() -> None:
    rule = IgnoreRule("CVE-2019-18224", ".trivyignore:1")
    document = _gitlab("debian-buster.json", [rule])
    assert [v["identifiers"][0]["value"] for v in document["vulnerabilities"]] == ["CVE-2019-18276"]
    assert _errors(document) == []


def test_scan_metadata() -> None:
    scan = _gitlab("pip.json")["scan"]
    assert scan["analyzer"] == {
        "id": "ci-deploy",
        "name": "ci-deploy",
        "vendor": {"name": "ci-deploy"},
        "version": "0.1.0",
    }
    assert scan["scanner"]["name"] == "Trivy" and scan["scanner"]["version"] == "0.76.0"
    assert (scan["start_time"], scan["end_time"]) == ("2025-06-01T12:00:00", "2025-06-01T12:00:42")


def test_times_are_written_in_utc_and_a_folder_scan_has_an_os_placeholder() -> None:
    report = load_trivy_report(FIXTURES / "pip.json")
    verdict = judge(report, Gate(HIGH_CRITICAL, today=TODAY))
    berlin = dt.timezone(dt.timedelta(hours=2))
    document = to_gitlab_container_scanning(
        report,
        verdict,
        scanner_version="",
        start=dt.datetime(2025, 6, 1, 14, 0, 0, tzinfo=berlin),
        end=dt.datetime(2025, 6, 1, 12, 5, 0),  # naive: taken as UTC
    )
    assert document["scan"]["start_time"] == "2025-06-01T12:00:00"
    assert document["scan"]["end_time"] == "2025-06-01T12:05:00"
    assert document["scan"]["scanner"]["version"] == "unknown"
    assert document["scan"]["analyzer"]["version"]  # ci-deploy's own, from its metadata
    assert {v["location"]["operating_system"] for v in document["vulnerabilities"]} == {"Unknown"}
    assert _errors(document) == []


def test_an_empty_scan_is_still_a_valid_report() -> None:
    report = ScanReport("r.json", "registry.example.com/app:1", "container_image")
    document = to_gitlab_container_scanning(
        report, judge(report, Gate(HIGH_CRITICAL, today=TODAY)), scanner_version="0.76.0",
        start=START, end=END,
    )  # fmt: skip
    assert document["vulnerabilities"] == []
    assert _errors(document) == []
