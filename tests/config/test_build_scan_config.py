"""The ``build:`` and ``scan:`` sections: defaults, accepted shapes, located errors."""

from __future__ import annotations

import pytest

from ci_deploy.config import load_config_text
from ci_deploy.errors import ConfigError

BASE = """app: web
image: {repository: registry.example.com/acme/web}
environments: {staging: {namespace: web}}
"""


def test_defaults_gate_on_high_and_critical_and_build_the_folder_of_the_file() -> None:
    assert load_config_text(BASE).build is None  # no section: the image is built elsewhere
    cfg = load_config_text(BASE + "build: {}\nscan: {}\n")
    assert cfg.build is not None
    assert cfg.scan is not None
    assert cfg.build.context == "."
    assert cfg.build.file is None
    assert cfg.scan.severity == ("HIGH", "CRITICAL")
    assert cfg.scan.scanners == ("vuln", "secret")
    assert cfg.scan.ignore_unfixed is False


def test_severities_as_text_or_list_in_any_case() -> None:
    text = load_config_text(BASE + "scan: {severity: 'medium, High ,CRITICAL'}")
    listed = load_config_text(BASE + "scan: {severity: [medium, HIGH, critical]}")
    assert text.scan is not None
    assert listed.scan is not None
    assert text.scan.severity == listed.scan.severity == ("MEDIUM", "HIGH", "CRITICAL")


def test_build_settings_are_read_as_written() -> None:
    cfg = load_config_text(
        BASE + "build:\n  context: app\n  file: docker/Dockerfile\n  tags: [latest, '1.4']\n"
        "  build_args: {PYTHON_VERSION: 3.11, DEBUG: '0'}\n  labels: {org.example/team: web}\n"
        "  registry: {username_env: REG_USER, password_env: REG_PASSWORD}\n"
    )
    assert cfg.build is not None
    assert cfg.build.tags == ("latest", "1.4")
    assert cfg.build.build_args == {"PYTHON_VERSION": "3.11", "DEBUG": "0"}
    assert cfg.build.registry is not None
    assert cfg.build.registry.password_env == "REG_PASSWORD"


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        (
            "scan: {severity: [HIGH, SEVERE]}",
            "ci-deploy.yml:4:18: scan.severity: expected severities among UNKNOWN, LOW, MEDIUM,"
            " HIGH, CRITICAL, found SEVERE",
        ),
        (
            "scan: {scanners: [vuln, license]}",
            "ci-deploy.yml:4:25: scan.scanners[1]: expected one of vuln, secret, misconfig,"
            " found a string ('license')",
        ),
        (
            "build: {tags: ['v 1']}",
            "ci-deploy.yml:4:16: build.tags[0]: expected an image tag such as latest or 1.4.0",
        ),
        (
            "build: {registry: {username_env: U, password: hunter2hunter2}}",
            "ci-deploy.yml:4:37: build.registry.password: secrets are never written in the"
            " configuration",
        ),
        ("build: {build_args: {'A B': x}}", "build.build_args.A B: expected a build argument"),
    ],
)
def test_bad_build_and_scan_settings_are_located(snippet: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(BASE + snippet)
    assert message in caught.value.render()
