"""How ``ci-deploy`` reports errors: one line (plus a hint), a traceback only under --debug.

An exception ci-deploy did not expect is a bug: it still prints one line, exit 3 (a human must
look), and asks for a rerun with --debug. Masked secrets are redacted from all of it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ci_deploy.cli import main
from ci_deploy.platforms.base import PROCESS_REDACTOR

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "web-app" / "ci-deploy.yml"
SECRET = "masked-value-91c4"
STATUS = ["-c", str(EXAMPLE), "status", "--env", "staging"]


@pytest.fixture(autouse=True)
def a_bug_in_status(monkeypatch: pytest.MonkeyPatch) -> None:
    """``status`` fails with an exception no code path expects, quoting a masked secret."""
    import ci_deploy.rollout.status

    def broken(*_args: object) -> None:
        raise KeyError(f"no field {SECRET}")

    monkeypatch.setattr(ci_deploy.rollout.status, "read_status", broken)
    for name in ("CI_DEPLOY_DEBUG", "GITHUB_ACTIONS", "GITLAB_CI"):
        monkeypatch.delenv(name, raising=False)
    PROCESS_REDACTOR.add(SECRET)


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[object, str]:
    with pytest.raises(SystemExit) as exited:
        main(args)
    return exited.value.code, capsys.readouterr().err


def test_an_unexpected_exception_is_one_line_and_a_hint_exit_3(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, err = run(STATUS, capsys)
    assert code == 3
    assert err.splitlines() == [
        "error: internal error (a bug in ci-deploy): KeyError: 'no field ***'",
        "  hint: rerun with --debug (or CI_DEPLOY_DEBUG=1) for the traceback, and report it "
        "with that output",
    ]


@pytest.mark.parametrize("how", ["--debug", "CI_DEPLOY_DEBUG=1"])
def test_debug_prints_the_traceback_of_the_exception_after_the_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    args = ["--debug", *STATUS] if how == "--debug" else STATUS
    if how != "--debug":
        monkeypatch.setenv("CI_DEPLOY_DEBUG", "1")
    code, err = run(args, capsys)
    assert code == 3
    lines = err.splitlines()
    assert lines[0] == "error: internal error (a bug in ci-deploy): KeyError: 'no field ***'"
    assert lines[2] == "Traceback (most recent call last):"
    assert "in broken" in err  # the frame that raised it
    assert lines[-1] == "KeyError: 'no field ***'"
    assert SECRET not in err


def test_debug_is_a_global_option_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--help"])  # exit 0: it returns, as the console script and `python -m` expect
    assert "--debug" in capsys.readouterr().out


def test_a_command_exit_code_reaches_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # without standalone mode click *returns* the code of a command's ctx.exit, and `python -m
    # ci_deploy` drops what main returns: verify's exit 1 on a failed check was exit 0 there
    import ci_deploy.rollout.verification as verification

    failed = verification.Verification("staging", "fail", ())
    monkeypatch.setattr(verification, "verify", lambda *_args: failed)
    with pytest.raises(SystemExit) as exited:
        main(["-c", str(EXAMPLE), "verify", "--env", "staging"])
    assert exited.value.code == 1
