"""``ci-deploy scan`` as users run it: on the recorded Trivy reports, and with the real Trivy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "trivy"
SCHEMAS = Path(__file__).parent / "schemas"
CONFIG = """app: web-app
image: {repository: registry.example.com/acme/web-app}
environments: {staging: {namespace: web}}
"""


def run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "GITLAB_", "CI_", "INPUT_", "RUNNER_"))
    }
    clean.pop("CI", None)
    return subprocess.run(
        [sys.executable, "-m", "ci_deploy", *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "ci-deploy.yml").write_text(CONFIG, encoding="utf-8")
    return tmp_path


def validate(document: Path, schema: str) -> None:
    spec = json.loads((SCHEMAS / schema).read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(spec)
    validator(spec).validate(json.loads(document.read_text(encoding="utf-8")))


def test_a_critical_vulnerability_fails_the_gate_and_every_report_is_written(repo: Path) -> None:
    summary, outputs = repo / "summary.md", repo / "outputs"
    outputs.touch()
    done = run(
        repo,
        "scan",
        "--report",
        str(FIXTURES / "debian-buster.json"),
        "--sarif",
        "scan.sarif",
        "--gitlab-report",
        "gl.json",
        GITHUB_ACTIONS="true",
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_OUTPUT=str(outputs),
    )
    assert done.returncode == 1, done.stderr
    assert "scan gate failed: 1 finding (CRITICAL 1): CRITICAL CVE-2019-18224" in done.stderr
    assert "2.0.5-1 -> 2.0.5-1+deb10u1" in done.stderr  # the fixed version, to act on
    validate(repo / "scan.sarif", "sarif-2.1.0-rtm.5.json")
    validate(repo / "gl.json", "gitlab-container-scanning-required.schema.json")
    sarif = json.loads((repo / "scan.sarif").read_text())
    levels = {r["ruleId"]: r["level"] for r in sarif["runs"][0]["results"]}
    assert levels == {"CVE-2019-18224": "error", "CVE-2019-18276": "note"}
    gitlab = json.loads((repo / "gl.json").read_text())
    assert sorted(v["severity"] for v in gitlab["vulnerabilities"]) == ["Critical", "Low"]
    assert "| CRITICAL | 1 | 1 | 0 |" in summary.read_text().replace("`", "")
    assert "scan-result=failed\n" in outputs.read_text()
    assert "scan-critical=1\n" in outputs.read_text()


@pytest.mark.parametrize(
    ("fixture", "severity", "code"),
    [
        ("pip.json", "CRITICAL", 0),  # HIGH 1, MEDIUM 1
        ("pip.json", "high,critical", 1),
        ("alpine-39-high-critical.json", "HIGH", 0),  # CRITICAL 2
        ("alpine-39-high-critical.json", "CRITICAL", 1),
        ("dockerfile.json", "HIGH,CRITICAL", 1),  # a HIGH misconfiguration gates too
        ("dockerfile.json", "CRITICAL", 0),
    ],
)
def test_severities_pass_or_fail_as_the_data_says(
    repo: Path, fixture: str, severity: str, code: int
) -> None:
    done = run(repo, "scan", "--report", str(FIXTURES / fixture), "--severity", severity)
    assert done.returncode == code, done.stderr


def test_the_configuration_sets_the_gate_and_the_command_line_overrides_it(repo: Path) -> None:
    (repo / "ci-deploy.yml").write_text(CONFIG + "scan: {severity: [CRITICAL]}\n")
    report = str(FIXTURES / "pip.json")
    assert run(repo, "scan", "--report", report).returncode == 0
    assert run(repo, "scan", "--report", report, "--severity", "HIGH").returncode == 1


def test_ignore_rules_with_expiry_and_ignore_unfixed(repo: Path) -> None:
    report = str(FIXTURES / "debian-buster.json")
    (repo / ".trivyignore").write_text(
        "# accepted until the base image moves\nCVE-2019-18224 exp:2999-01-01\n"
    )
    assert run(repo, "scan", "--report", report).returncode == 0  # found beside the config
    (repo / ".trivyignore").write_text("CVE-2019-18224 exp:2020-01-01\n")
    expired = run(repo, "scan", "--report", report)
    assert expired.returncode == 1
    assert "expired ignore rule" in expired.stderr and "CVE-2019-18224" in expired.stderr
    (repo / ".trivyignore").unlink()
    # The LOW one has no fix: --ignore-unfixed lets it pass; the CRITICAL one is fixed.
    low = ("--severity", "LOW")
    assert run(repo, "scan", "--report", report, *low).returncode == 1
    assert run(repo, "scan", "--report", report, *low, "--ignore-unfixed").returncode == 0


def test_bad_input_is_one_line_and_exit_2(repo: Path) -> None:
    truncated = repo / "truncated.json"
    truncated.write_text((FIXTURES / "pip.json").read_text()[:500])
    cases = {
        ("--report", str(truncated)): "truncated.json",
        ("--report", str(repo / "missing.json")): "no such file",
        (
            "--report",
            str(FIXTURES / "pip.json"),
            "--severity",
            "SEVERE",
        ): "unknown severity 'SEVERE'",
        (): "nothing to scan",
        ("--image", "a:1", "--report", str(FIXTURES / "pip.json")): "expected one of them",
        # neither the engine nor a registry (127.0.0.1:9 refuses) has it
        ("--image", "127.0.0.1:9/acme/missing:1", "--scanners", "secret", "--offline"): (
            "no such image"
        ),
    }
    for args, message in cases.items():
        done = run(repo, "scan", *args)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr, (args, done.stderr)
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, done.stderr  # one line (and its hint), whatever Trivy said
        assert "Traceback" not in done.stderr


def test_report_text_commands_nothing_on_github(repo: Path) -> None:
    data = json.loads((FIXTURES / "debian-buster.json").read_text())
    vuln = data["Results"][0]["Vulnerabilities"][0]
    vuln["Title"] = (
        "x\n::set-output name=scan-result::passed\n# Pwned ![i](https://evil.example/p.png)"
    )
    vuln["PkgName"] = "::add-mask::libidn2"
    hostile = repo / "hostile.json"
    hostile.write_text(json.dumps(data))
    summary, outputs = repo / "summary.md", repo / "outputs"
    done = run(
        repo,
        "scan",
        "--report",
        str(hostile),
        GITHUB_ACTIONS="true",
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_OUTPUT=str(outputs),
    )
    assert done.returncode == 1
    ours = ("::error", "::group::", "::endgroup::", "::warning", "::notice")
    for line in (done.stdout + done.stderr).splitlines():
        if line.startswith("::"):
            assert line.startswith(ours), line
            assert "::set-output" not in line.split("::", 2)[1], line
    assert "scan-result=failed" in outputs.read_text()
    markdown = summary.read_text()
    for line in markdown.splitlines():
        assert not line.startswith("# Pwned"), line
    # Outside code spans (markdown_code turns any backtick inside into ') nothing renders.
    outside = "".join(markdown.split("`")[0::2])
    assert "![i](" not in outside and "Pwned" not in outside


def test_the_real_trivy_gates_a_planted_secret_and_a_root_dockerfile(repo: Path) -> None:
    app = repo / "app"
    app.mkdir()
    token = "ghp" + "_" + "Q9w8E7r6T5" * 3 + "Y4u3I2"
    (app / "settings.env").write_text(f"GITHUB_TOKEN={token}\n")
    (app / "Dockerfile").write_text('FROM alpine:3.19\nCMD ["sh"]\n')
    args = ("scan", "--path", "app", "--scanners", "secret,misconfig", "--offline")
    cache = ("--cache-dir", str(repo / "cache"))
    failed = run(repo, *args, *cache, "--sarif", "app.sarif", GITHUB_ACTIONS="true")
    assert failed.returncode == 1, failed.stderr
    assert "CRITICAL github-pat" in failed.stderr
    # Annotated on the file, where GitHub shows it.
    assert "::error file=app/settings.env,line=1::CRITICAL github-pat" in failed.stdout
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in json.loads((repo / "app.sarif").read_text())["runs"][0]["results"]
    }
    assert uris == {"app/settings.env", "app/Dockerfile"}
    assert token not in failed.stdout + failed.stderr + (repo / "app.sarif").read_text()
    validate(repo / "app.sarif", "sarif-2.1.0-rtm.5.json")
    (repo / ".trivyignore").write_text("github-pat\nDS-0002\nDS-0026\n")
    passed = run(repo, *args, *cache)
    assert passed.returncode == 0, passed.stderr
    assert "gate passed" in passed.stderr


def test_sbom_is_written_beside_the_gate(repo: Path) -> None:
    app = repo / "app"
    app.mkdir()
    (app / "requirements.txt").write_text("requests==2.31.0\nflask==2.0.0\n")
    sbom = repo / "sbom.cdx.json"
    done = run(
        repo, "scan", "--path", "app", "--scanners", "secret", "--offline", "--sbom", str(sbom)
    )
    assert done.returncode == 0, done.stderr
    bom = json.loads(sbom.read_text())
    assert bom["bomFormat"] == "CycloneDX"
    names = {c.get("name") for c in bom.get("components", [])}
    assert {"requests", "flask"} <= names
    assert "SBOM (CycloneDX, syft) written to" in done.stderr
    # a report holds no package list to make one from
    refused = run(repo, "scan", "--report", str(FIXTURES / "pip.json"), "--sbom", str(sbom))
    assert refused.returncode == 2
    assert "--sbom needs --image or --path" in refused.stderr
