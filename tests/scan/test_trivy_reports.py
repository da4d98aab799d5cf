"""Reading Trivy JSON reports: the recorded real reports (tests/scan/fixtures/trivy), bad input.

The expected numbers are the ones PROVENANCE.md beside the fixtures states for each file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ci_deploy.errors import UserInputError
from ci_deploy.scan import SEVERITIES, FileLocation, load_trivy_report, parse_trivy_json

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "trivy"


def _counts(**given: int) -> dict[str, int]:
    return {severity: given.get(severity, 0) for severity in SEVERITIES}


def _fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize(
    ("name", "kind", "expected"),
    [
        ("debian-buster.json", "vulnerability", _counts(CRITICAL=1, LOW=1)),
        ("debian-buster-ignore-unfixed.json", "vulnerability", _counts(CRITICAL=1)),
        ("alpine-39-high-critical.json", "vulnerability", _counts(CRITICAL=2)),
        ("pip.json", "vulnerability", _counts(HIGH=1, MEDIUM=1)),
        ("dockerfile.json", "misconfiguration", _counts(HIGH=1)),
    ],
)
def test_counts_per_severity_match_the_recorded_reports(
    name: str, kind: str, expected: dict[str, int]
) -> None:
    report = load_trivy_report(FIXTURES / name)
    counts = {s: sum(f.severity == s for f in report.findings) for s in SEVERITIES}
    assert counts == expected
    assert {f.kind for f in report.findings} == {kind}
    assert report.source == str(FIXTURES / name)


def test_debian_buster_has_one_fixed_and_one_unfixed_vulnerability() -> None:
    report = load_trivy_report(FIXTURES / "debian-buster.json")
    assert report.artifact_name == "testdata/fixtures/images/debian-buster.tar.gz"
    assert report.artifact_type == "container_image"
    assert report.os == "debian 10.1"
    assert report.scanners == {"vuln"}
    assert report.trivy_version is None  # these goldens predate the Trivy.Version field
    by_id = {f.id: f for f in report.findings}
    fixed, unfixed = by_id["CVE-2019-18224"], by_id["CVE-2019-18276"]
    assert (fixed.package, fixed.installed_version, fixed.fixed_version) == (
        "libidn2-0",
        "2.0.5-1",
        "2.0.5-1+deb10u1",
    )
    assert fixed.status == "fixed" and fixed.fixed
    assert (unfixed.package, unfixed.fixed_version, unfixed.status) == ("bash", "", "affected")
    assert not unfixed.fixed
    assert fixed.target == "testdata/fixtures/images/debian-buster.tar.gz (debian 10.1)"
    assert fixed.target_class == "os-pkgs"
    assert fixed.location is None  # an image's OS package has no file in the repository
    assert fixed.primary_url == "https://avd.aquasec.com/nvd/cve-2019-18224"
    assert fixed.cwe_ids == ("CWE-787",)
    assert fixed.purl.startswith("pkg:deb/debian/libidn2-0@2.0.5-1")
    assert "https://www.debian.org/security/2020/dsa-4613" in fixed.references


def test_the_ignore_unfixed_report_holds_exactly_the_fixed_vulnerability() -> None:
    full = load_trivy_report(FIXTURES / "debian-buster.json")
    trimmed = load_trivy_report(FIXTURES / "debian-buster-ignore-unfixed.json")
    assert trimmed.findings == tuple(f for f in full.findings if f.fixed)


def test_alpine_critical_is_one_cve_in_two_packages() -> None:
    report = load_trivy_report(FIXTURES / "alpine-39-high-critical.json")
    assert [(f.id, f.package, f.fixed) for f in report.findings] == [
        ("CVE-2019-14697", "musl", True),
        ("CVE-2019-14697", "musl-utils", True),
    ]
    assert report.os == "alpine 3.9.4"


def test_a_lock_file_vulnerability_points_at_its_line() -> None:
    report = load_trivy_report(FIXTURES / "pip.json")
    high = next(f for f in report.findings if f.severity == "HIGH")
    assert (high.id, high.package, high.installed_version, high.fixed_version) == (
        "CVE-2019-14806",
        "Werkzeug",
        "0.11",
        "0.15.3",
    )
    # Werkzeug is on line 6 of requirements.txt in the report's Packages list
    assert high.location == FileLocation("requirements.txt", 6, 6)
    assert high.target_class == "lang-pkgs"


def test_a_misconfiguration_keeps_both_of_its_ids() -> None:
    report = load_trivy_report(FIXTURES / "dockerfile.json")
    (finding,) = report.findings
    assert finding.kind == "misconfiguration"
    assert finding.id == "AVD-DS-0002"
    assert finding.aliases == ("DS002",)
    assert finding.title == "Image user should not be 'root'"
    assert finding.message.startswith("Specify at least 1 USER command")
    assert finding.resolution == "Add 'USER <non root user name>' line to the Dockerfile"
    assert finding.location == FileLocation("Dockerfile", None, None)
    assert report.scanners == {"misconfig"}


def test_a_current_trivy_misconfiguration_id_also_answers_to_its_avd_id() -> None:
    # Trivy 0.76 writes ID "DS-0002" and no AVDID (see the real run in test_trivy_run.py)
    data = _fixture("dockerfile.json")
    check = data["Results"][0]["Misconfigurations"][0]
    check["ID"] = "DS-0002"
    del check["AVDID"]
    data["Trivy"] = {"Version": "0.76.0"}
    report = parse_trivy_json(json.dumps(data), "new.json")
    (finding,) = report.findings
    assert (finding.id, finding.aliases) == ("DS-0002", ("AVD-DS-0002",))
    assert report.trivy_version == "0.76.0"


def test_passing_checks_are_not_findings() -> None:
    data = _fixture("dockerfile.json")
    passed = dict(data["Results"][0]["Misconfigurations"][0], Status="PASS", ID="DS001")
    data["Results"][0]["Misconfigurations"].append(passed)
    report = parse_trivy_json(json.dumps(data), "with-pass.json")
    assert [f.id for f in report.findings] == ["AVD-DS-0002"]


def test_a_report_without_status_infers_it_from_the_fixed_version() -> None:
    data = _fixture("debian-buster.json")
    for vuln in data["Results"][0]["Vulnerabilities"]:
        del vuln["Status"]
    report = parse_trivy_json(json.dumps(data), "old.json")
    statuses = {f.id: f.status for f in report.findings}
    assert statuses == {"CVE-2019-18224": "fixed", "CVE-2019-18276": "unknown"}


def test_secrets_are_read_without_the_matched_line() -> None:
    text = json.dumps(
        {
            "SchemaVersion": 2,
            "ArtifactName": ".",
            "ArtifactType": "filesystem",
            "Results": [
                {
                    "Target": "deploy/.env",
                    "Class": "secret",
                    "Secrets": [
                        {
                            "RuleID": "github-pat",
                            "Category": "GitHub",
                            "Severity": "CRITICAL",
                            "Title": "GitHub Personal Access Token",
                            "StartLine": 3,
                            "EndLine": 3,
                            "Match": "TOKEN=****MASKED-LINE****",
                            "Code": {"Lines": [{"Number": 3, "Content": "TOKEN=****"}]},
                        }
                    ],
                }
            ],
        }
    )
    report = parse_trivy_json(text, "secrets.json")
    (finding,) = report.findings
    assert (finding.kind, finding.id, finding.severity) == ("secret", "github-pat", "CRITICAL")
    assert finding.location == FileLocation("deploy/.env", 3, 3)
    assert finding.where == "deploy/.env:3"
    assert "MASKED-LINE" not in repr(finding)
    assert report.scanners == {"secret"}


def test_a_report_with_no_results_has_no_findings() -> None:
    text = '{"SchemaVersion": 2, "ArtifactName": "x", "ArtifactType": "filesystem"}'
    assert parse_trivy_json(text, "clean.json").findings == ()


# --- bad input: UserInputError naming the file, and where in it


def _refused(tmp_path: Path, text: str | bytes, name: str = "report.json") -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(UserInputError) as caught:
        load_trivy_report(path)
    assert caught.value.exit_code == 2
    message = caught.value.message
    assert message.startswith(str(path))
    return message


def test_corrupt_json_names_line_and_column(tmp_path: Path) -> None:
    message = _refused(tmp_path, '{\n  "SchemaVersion": 2,,\n  "Results": []\n}\n')
    assert message.startswith(f"{tmp_path / 'report.json'}:2:22: not valid JSON")


def test_a_truncated_report_says_it_ends_early(tmp_path: Path) -> None:
    text = (FIXTURES / "debian-buster.json").read_text(encoding="utf-8")
    for cut in (3000, len(text) // 2, len(text) - 3):
        message = _refused(tmp_path, text[:cut])
        assert "not valid JSON: the file ends early" in message


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    assert "the file is empty" in _refused(tmp_path, "\n")


def test_the_old_array_format_is_refused(tmp_path: Path) -> None:
    old = json.dumps([{"Target": "alpine:3.10 (alpine 3.10.2)", "Vulnerabilities": []}])
    message = _refused(tmp_path, old)
    assert "a JSON array" in message and "before 0.20" in message


@pytest.mark.parametrize("version", ["1", "3", '"2"', "null"])
def test_another_schema_version_is_refused(tmp_path: Path, version: str) -> None:
    data = _fixture("pip.json")
    text = json.dumps(data).replace('"SchemaVersion": 2', f'"SchemaVersion": {version}')
    message = _refused(tmp_path, text)
    assert "expected a Trivy JSON report with SchemaVersion 2" in message


def test_an_unknown_severity_names_the_field(tmp_path: Path) -> None:
    data = _fixture("debian-buster.json")
    data["Results"][0]["Vulnerabilities"][1]["Severity"] = "SEVERE"
    message = _refused(tmp_path, json.dumps(data))
    assert "Results[0].Vulnerabilities[1].Severity" in message
    assert "UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL" in message and "'SEVERE'" in message


def test_a_field_of_the_wrong_type_names_the_field(tmp_path: Path) -> None:
    data = _fixture("pip.json")
    data["Results"][0]["Vulnerabilities"][0]["PkgName"] = 7
    message = _refused(tmp_path, json.dumps(data))
    assert "Results[0].Vulnerabilities[0].PkgName: expected a non-empty string" in message
    assert "the number 7" in message


def test_results_that_are_not_a_list_are_refused(tmp_path: Path) -> None:
    message = _refused(tmp_path, '{"SchemaVersion": 2, "Results": {"Target": "x"}}')
    assert "Results: expected an array, found an object" in message


def test_a_report_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    assert "is not UTF-8" in _refused(tmp_path, b'{"SchemaVersion": 2, "ArtifactName": "\xff"}')


def test_a_missing_report_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="no such file"):
        load_trivy_report(tmp_path / "absent.json")
