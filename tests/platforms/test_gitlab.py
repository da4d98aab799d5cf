"""GitLab platform: dotenv report within GitLab's limits, collapsible sections, redaction."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from ci_deploy.errors import CiDeployError
from ci_deploy.platforms import Redactor, detect_platform
from ci_deploy.platforms.gitlab import (
    DOTENV_MAX_BYTES,
    DotenvLimitError,
    GitLabPlatform,
    compact_state,
    dotenv_key,
    format_dotenv,
)

# GitLab's own dotenv line grammar (Ci::ParseDotenvArtifactService#scan_line!): every line.
GITLAB_LINE = re.compile(r"^(.*?)=(.*)$")


def parse_like_gitlab(text: str) -> dict[str, str]:
    pairs = {}
    for line in text.split("\n")[:-1]:
        match = GITLAB_LINE.match(line)
        assert match, f"GitLab would reject the line {line!r}"
        key, value = (g.strip() for g in match.groups())
        assert re.fullmatch(r"[A-Za-z0-9_]+", key)
        pairs[key] = value
    return pairs


def make(tmp_path: Path, **extra: str) -> tuple[GitLabPlatform, io.StringIO]:
    out = io.StringIO()
    env = {"GITLAB_CI": "true", "CI_DEPLOY_DOTENV": str(tmp_path / "deploy.env"), **extra}
    return GitLabPlatform(env, stream=out, redactor=Redactor()), out


def test_detects_gitlab() -> None:
    assert detect_platform({"GITLAB_CI": "true"}).name == "gitlab"


def test_inputs_are_ci_deploy_variables(tmp_path: Path) -> None:
    p, _ = make(tmp_path, CI_DEPLOY_ENVIRONMENT="production", CI_DEPLOY_DRY_RUN=" ")
    assert p.get_input("environment") == "production"
    assert p.get_input("dry-run") is None


def test_outputs_are_upper_snake_prefixed_and_merged(tmp_path: Path) -> None:
    p, _ = make(tmp_path)
    # A dotenv committed to the repository: GitLab would let it override job variables.
    (tmp_path / "deploy.env").write_text(
        "KUBECONFIG=/tmp/attacker\nCI_DEPLOY_ENVIRONMENT=production\nCI_DEPLOY_PHASE=Forged\n"
    )
    p.set_outputs({"phase": "Progressing", "previous-revision": "sha256:0"})
    p.set_outputs({"phase": "Succeeded", "environment-url": "https://a.example/?x=1"})
    text = (tmp_path / "deploy.env").read_text()
    assert parse_like_gitlab(text) == {
        "CI_DEPLOY_PHASE": "Succeeded",
        "CI_DEPLOY_PREVIOUS_REVISION": "sha256:0",
        "CI_DEPLOY_ENVIRONMENT_URL": "https://a.example/?x=1",
    }


def test_default_dotenv_path_is_ci_deploy_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    GitLabPlatform({"GITLAB_CI": "true"}, redactor=Redactor()).set_outputs({"phase": "Failed"})
    assert (tmp_path / "ci-deploy.env").read_text() == "CI_DEPLOY_PHASE=Failed\n"


def test_big_state_is_compacted_under_5kb_keeping_phase(tmp_path: Path) -> None:
    p, _ = make(tmp_path)
    state = {
        "apiVersion": "ci-deploy.dev/v1",
        "phase": "RolledBack",
        "revision": "sha256:" + "a" * 64,
        "steps": [{"name": f"step-{i}", "detail": "x" * 200} for i in range(40)],
    }
    p.set_outputs({"phase": "RolledBack", "state": json.dumps(state)})
    raw = (tmp_path / "deploy.env").read_bytes()
    assert len(raw) <= DOTENV_MAX_BYTES
    compact = json.loads(parse_like_gitlab(raw.decode())["CI_DEPLOY_STATE"])
    assert compact == {
        "apiVersion": "ci-deploy.dev/v1",
        "phase": "RolledBack",
        "revision": state["revision"],
        "truncated": True,
    }


def test_compact_state_falls_back_to_minimal_record() -> None:
    record = {"phase": "Failed", "app": "web", **{f"k{i}": "v" * 50 for i in range(50)}}
    assert json.loads(compact_state(json.dumps(record), 200)) == {
        "app": "web",
        "phase": "Failed",
        "truncated": True,
    }


def test_too_many_variables_is_a_clear_error() -> None:
    with pytest.raises(DotenvLimitError, match="at most 20"):
        format_dotenv({f"CI_DEPLOY_K{i}": "v" for i in range(21)})


def test_oversized_non_state_value_is_an_error_not_a_broken_file() -> None:
    with pytest.raises(CiDeployError, match="less than 5 KB"):
        format_dotenv({"CI_DEPLOY_ENVIRONMENT_URL": "x" * 6000})


def test_multi_line_values_are_refused() -> None:
    with pytest.raises(DotenvLimitError, match="single-line"):
        format_dotenv({"CI_DEPLOY_PHASE": "a\nb"})


def test_key_spelling() -> None:
    assert dotenv_key("canary-weight") == "CI_DEPLOY_CANARY_WEIGHT"
    with pytest.raises(ValueError):
        dotenv_key("--")


def test_sections_are_collapsible_and_closed_on_error(tmp_path: Path) -> None:
    p, out = make(tmp_path)
    with pytest.raises(KeyError), p.group("Rollout: web"):
        with p.group("Wait"):
            p.log("2/3 ready")
        raise KeyError("x")
    lines = out.getvalue().split("\n")  # not splitlines(): "\r" is part of a section line
    start = re.compile(
        r"^\x1b\[0Ksection_start:\d+:(ci_deploy_\d+_[a-z0-9_.-]+)(\[collapsed=true\])?\r\x1b\[0K(.*)$"
    )
    outer, inner = start.match(lines[0]), start.match(lines[1])
    assert outer and inner
    assert outer.group(3) == "Rollout: web" and outer.group(2) is None
    assert inner.group(2) == "[collapsed=true]"
    assert lines[2] == "2/3 ready"
    assert re.fullmatch(rf"\x1b\[0Ksection_end:\d+:{inner.group(1)}\r\x1b\[0K", lines[3])
    assert re.fullmatch(rf"\x1b\[0Ksection_end:\d+:{outer.group(1)}\r\x1b\[0K", lines[4])
    assert outer.group(1) != inner.group(1)


def test_mask_redacts_logs_and_dotenv(tmp_path: Path) -> None:
    p, out = make(tmp_path)
    p.mask("s3cr3t-value")
    p.log("token s3cr3t-value")
    p.error("auth failed for s3cr3t-value", file="kubeconfig", line=4, col=2)
    p.set_outputs({"environment-url": "https://h/?k=s3cr3t-value"})
    assert "s3cr3t-value" not in out.getvalue()
    assert "token ***" in out.getvalue()
    assert "kubeconfig:4:2: auth failed for ***" in out.getvalue()
    assert "s3cr3t-value" not in (tmp_path / "deploy.env").read_text()


def test_summary_goes_to_file_when_configured(tmp_path: Path) -> None:
    p, out = make(tmp_path, CI_DEPLOY_SUMMARY=str(tmp_path / "summary.md"))
    p.summary("## done")
    assert (tmp_path / "summary.md").read_text() == "## done\n"
    assert out.getvalue() == ""
    q, out2 = make(tmp_path)
    q.summary("## done")
    assert "## done" in out2.getvalue().splitlines()


def test_summary_in_the_log_is_the_plain_text_when_given(tmp_path: Path) -> None:
    p, out = make(tmp_path)
    p.summary("| a | b |\n|---|---|", text="a  b")
    logged = out.getvalue()
    assert "a  b" in logged.splitlines()
    assert "|---|" not in logged  # GitLab's log would show the table as raw pipes
    q, _ = make(tmp_path, CI_DEPLOY_SUMMARY=str(tmp_path / "s.md"))
    q.summary("| a | b |", text="a  b")
    assert (tmp_path / "s.md").read_text() == "| a | b |\n"  # a file gets the Markdown
