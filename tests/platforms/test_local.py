"""Local platform and detection."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from ci_deploy.platforms import Platform, Redactor, detect_platform, platform_named
from ci_deploy.platforms.local import LocalPlatform


def test_local_when_no_ci_variables() -> None:
    assert detect_platform({}).name == "local"
    assert detect_platform({"GITHUB_ACTIONS": "false", "CI": "true"}).name == "local"


def test_override_by_ci_deploy_platform() -> None:
    assert (
        detect_platform({"GITHUB_ACTIONS": "true", "CI_DEPLOY_PLATFORM": "gitlab"}).name == "gitlab"
    )
    with pytest.raises(ValueError, match="unknown platform"):
        platform_named("jenkins")


@pytest.mark.parametrize("name", ["github", "gitlab", "local"])
def test_every_platform_implements_the_protocol(name: str) -> None:
    assert isinstance(platform_named(name, {}), Platform)


def test_outputs_go_to_the_named_file_not_to_the_terminal(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    quiet = LocalPlatform({}, redactor=Redactor())
    quiet.set_outputs({"phase": "Succeeded"})
    assert capsys.readouterr() == ("", ""), "a person at a terminal gets no pipeline data"
    target = tmp_path / "outputs"
    p = LocalPlatform({"CI_DEPLOY_OUTPUT": str(target)}, redactor=Redactor())
    p.set_outputs({"phase": "Succeeded", "state": '{"a":\n1}'})
    assert target.read_text() == 'phase=Succeeded\nstate={"a":\\n1}\n'
    assert capsys.readouterr() == ("", "")


def test_logs_and_problems_go_to_stderr_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    p = LocalPlatform({}, redactor=Redactor())
    assert p.get_input("environment") is None
    p.mask("hunter2-password")
    with p.group("Apply"):
        p.log("password=hunter2-password")
        p.warning("slow", file="ci-deploy.yml", line=7, col=3)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "== Apply",
        "password=***",
        "warning: ci-deploy.yml:7:3: slow",
    ]


def test_platforms_share_the_process_redactor() -> None:
    out = io.StringIO()
    first = detect_platform({})
    second = detect_platform({"GITHUB_ACTIONS": "true"}, stream=out)
    first.mask("shared-secret-4242")
    second.log("x shared-secret-4242 y")
    assert out.getvalue() == "x *** y\n"
    assert first.redact("shared-secret-4242") == "***"


def test_redactor_ignores_blank_secrets_and_short_lines_of_multi_line_ones() -> None:
    redactor = Redactor()
    assert redactor.add("   ") == []
    added = redactor.add("-----BEGIN KEY-----\nMIIEabcdefgh\n}\n-----END KEY-----")
    assert "}" not in added  # would blank every brace in the log
    assert "MIIEabcdefgh" in added
    assert redactor.redact("key MIIEabcdefgh {x}") == "key *** {x}"
    # A secret containing another is replaced whole, not piecewise.
    redactor.add("abcd1234")
    redactor.add("xxabcd1234yy")
    assert redactor.redact("xxabcd1234yy abcd1234") == "*** ***"
