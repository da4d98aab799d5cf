"""GitHub platform: workflow commands, $GITHUB_OUTPUT, $GITHUB_STEP_SUMMARY, masking."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from tests.platforms.github_output import read_github_output

from ci_deploy.platforms import Redactor, detect_platform
from ci_deploy.platforms.github import GitHubPlatform, command, escape_property


def make(tmp_path: Path) -> tuple[GitHubPlatform, io.StringIO]:
    out = io.StringIO()
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
        "INPUT_GITHUB-TOKEN": "  ghp_abc  ",
        "INPUT_DRY-RUN": "",
        "INPUT_ENVIRONMENT": "staging",
    }
    platform = GitHubPlatform(env, stream=out, redactor=Redactor())
    return platform, out


def test_detects_github_from_environment() -> None:
    assert detect_platform({"GITHUB_ACTIONS": "true"}).name == "github"


def test_inputs_use_runner_names_and_empty_means_unset(tmp_path: Path) -> None:
    p, _ = make(tmp_path)
    assert p.get_input("github-token") == "ghp_abc"
    assert p.get_input("environment") == "staging"
    assert p.get_input("dry-run") is None
    assert p.get_input("absent") is None


def test_outputs_single_and_multi_line_round_trip(tmp_path: Path) -> None:
    p, _ = make(tmp_path)
    state = '{"phase": "Succeeded",\n "revision": "sha256:1"}'
    p.set_outputs({"phase": "Succeeded", "state": state})
    p.set_outputs({"phase": "RolledBack"})  # appended; the later value wins, as on GitHub
    text = (tmp_path / "output").read_text()
    assert "phase=Succeeded\n" in text
    assert re.search(r"^state<<ghadelimiter_[0-9a-f]{32}$", text, re.M)
    assert read_github_output(tmp_path / "output") == {"phase": "RolledBack", "state": state}


def test_multiline_delimiter_never_occurs_in_value(tmp_path: Path) -> None:
    p, _ = make(tmp_path)
    tricky = "a\nghadelimiter_\nEOF\nb"
    p.set_outputs({"x": tricky})
    assert read_github_output(tmp_path / "output")["x"] == tricky


def test_output_names_with_equals_or_newline_are_rejected(tmp_path: Path) -> None:
    p, _ = make(tmp_path)
    with pytest.raises(ValueError):
        p.set_outputs({"a=b": "1"})


def test_mask_emits_add_mask_per_line_and_redacts_everything_after(tmp_path: Path) -> None:
    p, out = make(tmp_path)
    secret = "token-123456\nsecond-line-xyz"
    p.mask(secret)
    p.mask(secret)  # idempotent: no second add-mask
    p.log("using token-123456 now")
    p.error("bad second-line-xyz", file="ci-deploy.yml", line=3)
    p.set_outputs({"environment-url": "https://x/?t=token-123456"})
    p.summary("| token | token-123456 |")
    text = out.getvalue()
    assert text.splitlines().count("::add-mask::token-123456") == 1
    assert "::add-mask::second-line-xyz" in text
    assert "::add-mask::token-123456%0Asecond-line-xyz" in text
    after = text.split("\n", 3)[3]
    assert "token-123456" not in after and "second-line-xyz" not in after
    assert "using *** now" in after
    assert "token-123456" not in (tmp_path / "output").read_text()
    assert "token-123456" not in (tmp_path / "summary").read_text()


def test_group_writes_group_and_endgroup_even_on_error(tmp_path: Path) -> None:
    p, out = make(tmp_path)
    with pytest.raises(RuntimeError), p.group("Apply: 3 objects"):
        with p.group("inner"):
            p.log("step")
        raise RuntimeError("boom")
    assert out.getvalue().splitlines() == [
        "::group::Apply: 3 objects",
        "== inner",
        "step",
        "::endgroup::",
    ]


def test_error_annotation_escapes_properties_and_message(tmp_path: Path) -> None:
    p, out = make(tmp_path)
    p.error("expected int,\nfound 'x' (100%)", file="dir,a:b.yml", line=12, col=5)
    assert out.getvalue() == (
        "::error file=dir%2Ca%3Ab.yml,line=12,col=5::expected int,\u240afound 'x' (100%25)\n"
    )


def test_warning_and_notice_without_position(tmp_path: Path) -> None:
    p, out = make(tmp_path)
    p.warning("slow")
    p.notice("done", file="a.yml")
    assert out.getvalue().splitlines() == ["::warning::slow", "::notice file=a.yml::done"]


def test_col_is_dropped_without_line_and_both_without_file(tmp_path: Path) -> None:
    p, out = make(tmp_path)
    p.error("m", file="f", col=3)
    p.error("m", line=2, col=3)
    assert out.getvalue().splitlines() == ["::error file=f::m", "::error::m"]


def test_command_writes_the_properties_it_is_given_escaped() -> None:
    assert command("error", "m", {"file": "f", "line": None, "col": 3}) == "::error file=f,col=3::m"
    assert escape_property("a\r\n%") == "a%0D%0A%25"


def test_summary_appends_markdown(tmp_path: Path) -> None:
    p, _ = make(tmp_path)
    p.summary("## Deploy")
    p.summary("phase: **Succeeded**\n")
    assert (tmp_path / "summary").read_text() == "## Deploy\nphase: **Succeeded**\n"


def test_without_github_output_outputs_are_printed(tmp_path: Path) -> None:
    out = io.StringIO()
    p = GitHubPlatform({"GITHUB_ACTIONS": "true"}, stream=out, redactor=Redactor())
    p.set_outputs({"phase": "Succeeded"})
    assert "phase=Succeeded" in out.getvalue().splitlines()
    assert out.getvalue().startswith("::warning::GITHUB_OUTPUT is not set")
