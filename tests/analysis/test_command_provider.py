"""analysis.providers.command: real commands (a real pytest writing a real JUnit XML, sleeping
process trees, commands that are not there) and real JUnit files, refused or read."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from ci_deploy.analysis.providers.command import (
    CommandProbe,
    CommandProvider,
    JUnitError,
    JUnitSummary,
    read_junit,
)

PY = sys.executable

PASSING = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="1" failures="0" errors="0">
<testcase classname="tests.test_ok" name="test_ok"/>
</testsuite></testsuites>
"""
FAILING = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="2" failures="1" errors="0">
<testcase classname="tests.test_cart" name="test_ok"/>
<testcase classname="tests.test_cart" name="test_checkout">
<failure message="AssertionError: cart is empty&#10;assert 0 == 1">long trace</failure>
</testcase>
</testsuite></testsuites>
"""
LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<testsuite tests="1"><testcase classname="x" name="&lol3;"/></testsuite>
"""


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """The workspace the command runs in (tmp_path itself is 'outside')."""
    path = tmp_path / "ws"
    path.mkdir()
    return path


def python(code: str, ws: Path, **kwargs: object) -> CommandProbe:
    """A probe running ``code`` with this interpreter in ``ws``."""
    return CommandProbe((PY, "-c", textwrap.dedent(code)), cwd=ws, **kwargs)  # type: ignore[arg-type]


def writing(xml: str, ws: Path, *, exit_code: int = 0, junit: str = "report.xml") -> CommandProbe:
    """A probe whose command writes ``xml`` to ``junit`` and exits with ``exit_code``."""
    write = f"pathlib.Path({junit!r}).write_text({xml!r})"
    return python(f"import pathlib, sys; {write}; sys.exit({exit_code})", ws, junit=junit)


def gone(pid: int, within: float = 5.0) -> bool:
    """``pid`` has exited (a zombie nobody reaped yet counts as exited)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def wait_for_file(path: Path, within: float = 10.0) -> str:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.02)
    raise AssertionError(f"{path} was not written")


# ---------------------------------------------------------------------------- a real pytest


def test_a_real_pytest_run_names_its_failed_test_and_counts_its_tests(ws: Path) -> None:
    (ws / "tests").mkdir()
    (ws / "tests" / "test_smoke.py").write_text(
        textwrap.dedent(
            """
            def test_home():
                assert True

            def test_checkout():
                cart = []
                assert cart, "cart is empty"
            """
        )
    )
    argv = (PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml=out/junit.xml")
    probe = CommandProbe((*argv, "tests"), cwd=ws, junit="out/junit.xml", timeout=120)
    m = CommandProvider().measure(probe)
    assert m.value == 1 and m.passed is False and m.error == ""
    assert m.samples == 2
    assert m.detail[0] == "tests.test_smoke::test_checkout: AssertionError: cart is empty"
    assert m.detail[1].startswith("output")
    assert any("1 failed, 1 passed" in line for line in m.detail[2:])
    assert len(m.detail) <= 1 + 1 + 20


# ---------------------------------------------------------------------------- exit code and JUnit


def test_a_non_zero_exit_without_junit_fails_with_the_output(ws: Path) -> None:
    m = CommandProvider().measure(python("import sys; print('boom'); sys.exit(3)", ws))
    assert (m.value, m.passed, m.samples, m.error) == (3, False, 0, "")
    assert m.detail == ("output:", "boom")


def test_exit_zero_without_junit_passes(ws: Path) -> None:
    m = CommandProvider("smoke tests").measure(python("print('fine')", ws))
    assert (m.value, m.passed, m.detail) == (0, True, ("output:", "fine"))


def test_exit_zero_with_failures_in_the_junit_fails(ws: Path) -> None:
    m = CommandProvider().measure(writing(FAILING, ws))
    assert (m.value, m.passed, m.samples) == (0, False, 2)
    assert m.detail == ("tests.test_cart::test_checkout: AssertionError: cart is empty",)


def test_exit_zero_with_a_green_junit_passes(ws: Path) -> None:
    m = CommandProvider().measure(writing(PASSING, ws))
    assert (m.value, m.passed, m.samples, m.detail) == (0, True, 1, ())


def test_a_missing_junit_is_noted_and_the_exit_code_decides(ws: Path) -> None:
    m = CommandProvider().measure(python("pass", ws, junit="report.xml"))
    assert (m.value, m.passed, m.samples, m.error) == (0, True, 0, "")
    assert m.detail == ("JUnit XML report.xml was not written; the verdict rests on the exit code",)


def test_a_junit_left_from_an_earlier_run_is_not_read(ws: Path) -> None:
    (ws / "report.xml").write_text(FAILING)
    m = CommandProvider().measure(python("pass", ws, junit="report.xml"))
    assert (m.passed, m.samples) == (True, 0)
    assert m.detail == (
        "JUnit XML report.xml was not rewritten by this run (left from an earlier one); "
        "ignored, the verdict rests on the exit code",
    )
    # rewritten by the run: read
    m = CommandProvider().measure(writing(FAILING, ws))
    assert (m.passed, m.samples) == (False, 2)


def test_a_signal_is_named(ws: Path) -> None:
    m = CommandProvider().measure(python("import os, signal; os.kill(os.getpid(), 9)", ws))
    assert m.value == -9 and m.passed is False
    assert m.detail == ("killed by signal SIGKILL",)


# ---------------------------------------------------------------------------- timeouts


def test_a_command_that_times_out_is_killed_with_its_children(ws: Path) -> None:
    code = f"""
        import pathlib, subprocess, sys, time
        child = subprocess.Popen([{PY!r}, "-c", "import time; time.sleep(60)"])
        pathlib.Path("child.pid").write_text(str(child.pid))
        print("started", flush=True)
        time.sleep(60)
    """
    started = time.monotonic()
    m = CommandProvider(kill_grace=10).measure(python(code, ws, timeout=3))
    elapsed = time.monotonic() - started
    assert m.error == "timed out after 3s"
    assert m.value is None and m.passed is False
    assert m.detail == ("output:", "started")
    assert 3 <= elapsed < 7  # not the 10s grace: the group was gone on SIGTERM
    assert gone(int(wait_for_file(ws / "child.pid")))


def test_a_command_that_ignores_sigterm_is_killed_after_the_grace(ws: Path) -> None:
    code = """
        import os, pathlib, signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        pathlib.Path("leader.pid").write_text(str(os.getpid()))
        time.sleep(60)
    """
    started = time.monotonic()
    m = CommandProvider(kill_grace=0.5).measure(python(code, ws, timeout=1.5))
    assert m.error == "timed out after 1.5s"
    assert time.monotonic() - started < 6
    assert gone(int(wait_for_file(ws / "leader.pid")), within=1)


def test_what_a_finished_command_left_running_does_not_hold_the_check(ws: Path) -> None:
    probe = CommandProbe(("sh", "-c", "sleep 60 & echo $! > stray.pid; echo done"), cwd=ws)
    started = time.monotonic()
    m = CommandProvider().measure(probe)
    assert time.monotonic() - started < 10
    assert (m.value, m.passed, m.error) == (0, True, "")
    assert m.detail == (
        "processes it left running, holding its output open, were killed",
        "output:",
        "done",
    )
    assert gone(int(wait_for_file(ws / "stray.pid")))


# ---------------------------------------------------------------------------- cannot run


def test_a_command_that_is_not_there(ws: Path) -> None:
    m = CommandProvider().measure(CommandProbe(("ci-deploy-no-such-command", "-x"), cwd=ws))
    assert m.error == "command not found: ci-deploy-no-such-command"
    assert m.value is None and m.passed is False


def test_a_working_directory_that_is_not_there(tmp_path: Path) -> None:
    m = CommandProvider().measure(CommandProbe(("true",), cwd=tmp_path / "nope"))
    assert m.error == f"working directory not found: {tmp_path / 'nope'}"


# ---------------------------------------------------------------------------- refused JUnit


@pytest.mark.parametrize(
    ("junit", "why"),
    [
        ("../report.xml", "leads out of the working directory (..)"),
        ("out/../../report.xml", "leads out of the working directory (..)"),
        ("{outside}/report.xml", "an absolute path; expected one relative to the working dir"),
    ],
)
def test_a_junit_path_outside_the_working_directory_is_refused_before_running(
    ws: Path, tmp_path: Path, junit: str, why: str
) -> None:
    junit = junit.format(outside=tmp_path)
    m = CommandProvider().measure(writing(PASSING, ws, junit=junit))
    assert m.error.startswith(f"junit {junit}: {why}")
    assert m.passed is False and m.value is None
    assert not (tmp_path / "report.xml").exists()  # the command never ran


def test_a_junit_symlink_leading_outside_is_refused(ws: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.xml"
    outside.write_text(PASSING)
    code = "import os; os.symlink(os.path.join('..', 'outside.xml'), 'report.xml')"
    m = CommandProvider().measure(python(code, ws, junit="report.xml"))
    assert m.error == "junit report.xml: a symbolic link leading out of the working directory"
    assert m.passed is False and m.samples == 0 and m.value == 0


def test_a_junit_symlink_inside_the_working_directory_is_read(ws: Path) -> None:
    (ws / "out").mkdir()
    code = f"""
        import os, pathlib
        pathlib.Path("out/real.xml").write_text({FAILING!r})
        os.symlink("out/real.xml", "report.xml")
    """
    m = CommandProvider().measure(python(code, ws, junit="report.xml"))
    assert (m.error, m.passed, m.samples) == ("", False, 2)


def test_a_junit_with_a_doctype_and_entities_is_refused(ws: Path) -> None:
    m = CommandProvider().measure(writing(LAUGHS, ws))
    assert m.error == "JUnit XML report.xml: has a DOCTYPE or an ENTITY declaration; refused"
    assert m.passed is False and m.value == 0


# ---------------------------------------------------------------------------- output


def test_only_the_last_lines_of_the_output_are_kept_each_inert(ws: Path) -> None:
    code = """
        import sys
        for n in range(1, 101):
            print(f"line {n}")
        sys.stdout.flush()  # stderr is not buffered: keep the order
        print("\\x1b[31m::error::injected\\rcarriage")
        print("x" * 1000, file=sys.stderr)
    """
    m = CommandProvider().measure(python(code, ws))
    assert m.detail[0] == "output (last 20 of 102 lines):"
    assert m.detail[1:19] == tuple(f"line {n}" for n in range(83, 101))
    assert m.detail[19] == "␛[31m::error::injected␍carriage"
    assert m.detail[20] == "x" * 299 + "…"
    assert len(m.detail) == 21


def test_env_additions_reach_the_command_and_never_its_detail(ws: Path) -> None:
    secret = "tok-3f9a1c77e0"
    probe = python(
        """
        import os, pathlib
        value = os.environ["API_TOKEN"]
        pathlib.Path("seen").write_text(value)
        print(f"token is {value}; home is {os.environ.get('HOME', '?')}")
        """,
        ws,
        env={"API_TOKEN": secret},
    )
    m = CommandProvider().measure(probe)
    assert (ws / "seen").read_text() == secret  # given to the command …
    assert m.passed is True
    assert m.detail[1].startswith("token is ***; home is ")  # … never printed
    assert secret not in repr(m) and secret not in repr(probe)


# ---------------------------------------------------------------------------- the probe


def test_a_probe_from_a_command_line() -> None:
    probe = CommandProbe.from_text(
        "pytest -q 'tests/smoke dir' --junitxml=out.xml", junit="out.xml", timeout=60
    )
    assert probe.argv == ("pytest", "-q", "tests/smoke dir", "--junitxml=out.xml")
    assert probe.command_line == "pytest -q 'tests/smoke dir' --junitxml=out.xml"
    assert (probe.junit, probe.timeout) == ("out.xml", 60)
    with pytest.raises(ValueError, match="No closing quotation"):
        CommandProbe.from_text("pytest 'unclosed")
    with pytest.raises(ValueError, match="empty"):
        CommandProbe.from_text("   ")
    with pytest.raises(TypeError, match="from_text"):
        CommandProbe("pytest -q")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        CommandProbe(("true",), timeout=0)
    with pytest.raises(ValueError, match="not a variable name"):
        CommandProbe(("true",), env={"A=B": "x"})


# ---------------------------------------------------------------------------- read_junit


def test_read_junit_a_single_testsuite_root_with_errors_and_skips(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(
        """<testsuite name="unit" tests="4">
        <testcase classname="A" name="one"/>
        <testcase classname="A" name="two"><error type="RuntimeError">
          RuntimeError: fixture broke
          more trace</error></testcase>
        <testcase name="three"><skipped message="not today"/></testcase>
        <testcase classname="B" name="four"><failure type="AssertionError"/></testcase>
        </testsuite>"""
    )
    assert read_junit(path) == JUnitSummary(
        tests=4,
        failures=1,
        errors=1,
        skipped=1,
        failed=("A::two: RuntimeError: fixture broke", "B::four: AssertionError"),
    )


def test_read_junit_suite_counts_are_not_understated(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(
        '<testsuites><testsuite tests="3" failures="2" errors="1">'
        '<testcase classname="A" name="one"/></testsuite></testsuites>'
    )
    summary = read_junit(path)
    assert (summary.tests, summary.failures, summary.errors, summary.ok) == (1, 2, 1, False)


@pytest.mark.parametrize(
    "xml",
    [
        LAUGHS.replace('<?xml version="1.0"?>', ""),
        '<!DOCTYPE testsuite SYSTEM "http://example.com/x.dtd"><testsuite tests="0"/>',
    ],
    ids=["entities", "external-dtd"],
)
def test_read_junit_refuses_a_doctype_in_any_encoding(tmp_path: Path, xml: str) -> None:
    path = tmp_path / "junit.xml"
    path.write_bytes(xml.encode("utf-16"))
    assert b"<!DOCTYPE" not in path.read_bytes()  # the byte search alone would miss it
    with pytest.raises(JUnitError, match="has a DOCTYPE or an ENTITY declaration; refused"):
        read_junit(path)


def test_read_junit_caps_the_size(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(PASSING)
    with pytest.raises(JUnitError) as caught:
        read_junit(path, max_bytes=100)
    assert caught.value.message == (
        f"JUnit XML {path}: over the 100 bytes limit; refused (it has {len(PASSING)} bytes)"
    )
    assert read_junit(path, max_bytes=len(PASSING)).tests == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("<testsuite><testcase></testsuite>", "not well-formed: mismatched tag"),
        ("<html><body/></html>", "the root is <html>, expected <testsuites> or <testsuite>"),
        ("", "not well-formed: no element found"),
    ],
)
def test_read_junit_refuses_what_is_not_a_junit_xml(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(content)
    with pytest.raises(JUnitError, match=message):
        read_junit(path)


def test_read_junit_refuses_a_fifo_and_a_symlink_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.xml"
    os.mkfifo(fifo)
    with pytest.raises(JUnitError, match="not a regular file; refused"):
        read_junit(fifo)
    (tmp_path / "real.xml").write_text(PASSING)
    (tmp_path / "link.xml").symlink_to(tmp_path / "real.xml")
    with pytest.raises(JUnitError, match="a symbolic link; refused"):
        read_junit(tmp_path / "link.xml")
    with pytest.raises(JUnitError, match="not found"):
        read_junit(tmp_path / "missing.xml")
