"""The user's test command: run without a shell, judged by its exit code and its JUnit XML.

``CommandProbe`` says what to run (argv, working directory, environment additions, timeout)
and where the command writes its JUnit XML; ``CommandProvider.measure`` runs it and returns a
``Measurement``: the exit code as the value, the number of tests in the JUnit XML as samples,
and a detail that names the failed tests first, then the last lines of the output.

The command runs in a session (and so a process group) of its own, stdin closed, stdout and
stderr read together; only the last ``TAIL_LINES`` lines are kept, each one inert line
(``one_line``), with the values of the environment additions masked. On timeout the whole
group is stopped (SIGTERM, then SIGKILL after a grace period), children included; the group
never outlives the check, and a process the command left behind holding its output open does
not keep the check waiting.

The JUnit XML is workspace input, so it is data and nothing more: a path outside the working
directory (absolute, ``..``, or a symbolic link leading out) is refused, and so are a
DOCTYPE or entity declaration (billion laughs), a file over ``MAX_JUNIT_BYTES`` and anything
but a regular file.
"""

from __future__ import annotations

import errno
import os
import selectors
import shlex
import signal
import stat
import subprocess
import time
import xml.etree.ElementTree as ElementTree
import xml.parsers.expat
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from types import MappingProxyType

from ci_deploy.analysis.model import Measurement
from ci_deploy.text import one_line

TAIL_LINES = 20  # lines of output kept for the detail
LINE_MAX = 300  # characters of one output line shown
FAILED_SHOWN = 10  # failed tests named in the detail; the rest are counted
MESSAGE_MAX = 200  # characters of a failure's first line
MAX_JUNIT_BYTES = 10_000_000
MASK_MIN = 6  # environment additions at least this long are masked in the output
MASK = "***"
DRAIN_SECONDS = 2.0  # how long output may stay open after the command exited
_BUFFER_MAX = 65536  # bytes of one output line buffered (more than LINE_MAX characters)


class JUnitError(Exception):
    """A JUnit XML that cannot be read or is refused; ``message`` says why, in one line."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class JUnitSummary:
    """What a JUnit XML says: counts, and ``failed``: "classname::name: first line" each."""

    tests: int
    failures: int
    errors: int
    skipped: int
    failed: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.failures == 0 and self.errors == 0


@dataclass(frozen=True)
class CommandProbe:
    """One test command: ``argv`` run in ``cwd`` with ``env`` added to the environment.

    ``timeout``: seconds before the command and all its children are stopped. ``junit``: the
    JUnit XML the command writes, relative to ``cwd``. ``env`` values may be secrets: they
    are never printed (not in ``repr``, masked in the output tail).
    """

    argv: tuple[str, ...]
    cwd: Path = Path(".")
    env: Mapping[str, str] = field(default_factory=dict, repr=False, hash=False)
    timeout: float = 300.0
    junit: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.argv, (str, bytes)):
            raise TypeError("argv: a sequence of arguments (for a command line: from_text)")
        argv = tuple(self.argv)
        if not argv or not all(isinstance(arg, str) and "\0" not in arg for arg in argv):
            raise ValueError("argv: expected a command and its arguments, as strings")
        object.__setattr__(self, "argv", argv)
        object.__setattr__(self, "cwd", Path(self.cwd))
        for name, value in self.env.items():
            if not name or "=" in name or "\0" in name:
                raise ValueError(f"env {one_line(name)!r}: not a variable name")
            if not isinstance(value, str) or "\0" in value:
                raise ValueError(f"env {one_line(name)}: expected a string without NUL")
        object.__setattr__(self, "env", MappingProxyType(dict(self.env)))
        if not self.timeout > 0:
            raise ValueError(f"timeout {self.timeout!r}: expected a positive number of seconds")
        if self.junit is not None:
            junit = os.fspath(self.junit)
            if not junit:
                raise ValueError("junit: expected a path relative to the working directory")
            object.__setattr__(self, "junit", junit)

    @classmethod
    def from_text(
        cls,
        command: str,
        *,
        cwd: Path = Path("."),
        env: Mapping[str, str] | None = None,
        timeout: float = 300.0,
        junit: str | None = None,
    ) -> CommandProbe:
        """A probe from a shell-like command line, split as a POSIX shell would (``shlex``);
        it is still run without a shell: no pipes, globs, variables or ``&&``."""
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise ValueError(f"command {one_line(command)!r}: {exc}") from None
        if not argv:
            raise ValueError("command: empty")
        return cls(tuple(argv), cwd=cwd, env=env or {}, timeout=timeout, junit=junit)

    @property
    def command_line(self) -> str:
        """The command as one inert shell-quoted line, for verdicts and logs."""
        return one_line(shlex.join(self.argv))


class CommandProvider:
    """Runs ``CommandProbe``s; ``kill_grace``: seconds between SIGTERM and SIGKILL on timeout."""

    def __init__(self, name: str = "command", *, kill_grace: float = 5.0) -> None:
        self.name = name
        self.kill_grace = kill_grace

    def measure(self, probe: CommandProbe) -> Measurement:
        """Run ``probe`` once: value = exit code, passed = exit 0 and no failed test."""
        if not probe.cwd.is_dir():
            return _failure(f"working directory not found: {one_line(str(probe.cwd))}")
        if probe.junit is not None:
            refusal = _lexical_refusal(probe.junit)
            if refusal:
                return _failure(f"junit {one_line(probe.junit)}: {refusal}")
        before = _identity(probe.cwd / probe.junit) if probe.junit is not None else None
        run = _run(probe, self.kill_grace)
        if run.error:
            return Measurement(value=None, error=run.error, passed=False, detail=run.detail)
        assert run.exit_code is not None
        notes: list[str] = []
        if run.exit_code < 0:
            notes.append(f"killed by signal {_signal_name(-run.exit_code)}")
        if run.strays:
            notes.append("processes it left running, holding its output open, were killed")
        summary: JUnitSummary | None = None
        if probe.junit is not None:
            try:
                summary, note = _read_workspace_junit(probe, before)
            except JUnitError as exc:
                return Measurement(
                    value=run.exit_code,
                    error=exc.message,
                    passed=False,
                    detail=(*notes, *run.detail),
                )
            if note:
                notes.append(note)
        failed: list[str] = []
        if summary is not None:
            failed = list(summary.failed[:FAILED_SHOWN])
            if len(summary.failed) > FAILED_SHOWN:
                failed.append(f"… and {len(summary.failed) - FAILED_SHOWN} more failed tests")
        return Measurement(
            value=run.exit_code,
            samples=summary.tests if summary is not None else 0,
            passed=run.exit_code == 0 and (summary is None or summary.ok),
            detail=(*failed, *notes, *run.detail),
        )


def _failure(error: str) -> Measurement:
    return Measurement(value=None, error=error, passed=False)


# ---------------------------------------------------------------------------- running


@dataclass(frozen=True)
class _Run:
    exit_code: int | None  # None: not run, or timed out
    error: str
    detail: tuple[str, ...]  # the output tail
    strays: bool = False  # the command exited, something it started kept its output open


def _run(probe: CommandProbe, kill_grace: float) -> _Run:
    program = one_line(probe.argv[0])
    try:
        process = subprocess.Popen(
            probe.argv,
            cwd=probe.cwd,
            env={**os.environ, **probe.env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, to be stopped as a whole
        )
    except FileNotFoundError:
        return _Run(None, f"command not found: {program}", ())
    except PermissionError:
        return _Run(None, f"cannot run {program}: permission denied", ())
    except OSError as exc:
        return _Run(None, f"cannot run {program}: {one_line(exc.strerror or str(exc))}", ())
    assert process.stdout is not None
    tail = _Tail(TAIL_LINES, _secrets(probe.env))
    with process.stdout as stdout:
        try:
            timed_out, strays = _pump(process, stdout.fileno(), tail, probe.timeout)
        except BaseException:  # we are interrupted (cancelled job): the command goes too
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()
            raise
        if timed_out:
            _stop_group(process, stdout.fileno(), tail, kill_grace)
        else:
            _signal_group(process.pid, signal.SIGKILL)  # what it left behind goes with it
            process.wait()
        _drain(stdout.fileno(), tail)
    detail = tail.lines()
    if timed_out:
        return _Run(None, f"timed out after {probe.timeout:g}s", detail)
    return _Run(process.returncode, "", detail, strays)


def _pump(
    process: subprocess.Popen[bytes], fd: int, tail: _Tail, timeout: float
) -> tuple[bool, bool]:
    """Read output until EOF and exit; (timed out, a stray kept the output open)."""
    deadline = time.monotonic() + timeout
    exited_at: float | None = None
    eof = False
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            now = time.monotonic()
            if exited_at is None and process.poll() is not None:
                exited_at = now
            if exited_at is not None and (eof or now >= exited_at + DRAIN_SECONDS):
                return False, not eof
            if exited_at is None and now >= deadline:
                return True, False
            if eof:
                time.sleep(min(0.05, deadline - now))  # output closed, the command still runs
                continue
            end = deadline if exited_at is None else exited_at + DRAIN_SECONDS
            if selector.select(max(0.0, min(end - now, 0.2))):
                chunk = os.read(fd, 65536)
                if chunk:
                    tail.feed(chunk)
                else:
                    eof = True


def _drain(fd: int, tail: _Tail) -> None:
    """What is left in the pipe once the group is gone (a second at most: a process that
    escaped the group, in a session of its own, may hold it open)."""
    deadline = time.monotonic() + 1.0
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while time.monotonic() < deadline and selector.select(0.2):
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            tail.feed(chunk)
    tail.close()


def _signal_group(pgid: int, sig: int) -> bool:
    """Signal every process of the group; False when none is left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:  # macOS: a group of zombies only
        return False
    return True


def _stop_group(process: subprocess.Popen[bytes], fd: int, tail: _Tail, grace: float) -> None:
    """SIGTERM to the group, SIGKILL to what is left after ``grace`` seconds.

    The group is taken to be gone when the command has exited and its output is closed (every
    process that inherited it has exited): zombies, which an init may be slow to reap, would
    keep ``killpg(pgid, 0)`` answering for the whole grace period.
    """
    _signal_group(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    eof = False
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while time.monotonic() < deadline and not (eof and process.poll() is not None):
            if eof:
                time.sleep(0.05)
            elif selector.select(max(0.0, min(deadline - time.monotonic(), 0.2))):
                chunk = os.read(fd, 65536)
                if chunk:
                    tail.feed(chunk)
                else:
                    eof = True
    _signal_group(process.pid, signal.SIGKILL)
    process.wait()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _secrets(env: Mapping[str, str]) -> tuple[str, ...]:
    pieces = {piece for value in env.values() for piece in value.splitlines()}
    return tuple(sorted((p for p in pieces if len(p) >= MASK_MIN), key=len, reverse=True))


class _Tail:
    """The last ``keep`` non-blank lines of a byte stream, each inert and short, secrets masked."""

    def __init__(self, keep: int, secrets: Sequence[str]) -> None:
        self._lines: deque[str] = deque(maxlen=keep)
        self._partial = bytearray()
        self._secrets = secrets
        self.total = 0

    def feed(self, data: bytes) -> None:
        *complete, rest = data.split(b"\n")
        for piece in complete:
            self._add(piece)
            self._push()
        self._add(rest)

    def close(self) -> None:
        if self._partial:
            self._push()

    def _add(self, piece: bytes) -> None:
        room = _BUFFER_MAX - len(self._partial)
        if room > 0:
            self._partial += piece[:room]

    def _push(self) -> None:
        text = self._partial.decode("utf-8", "replace").rstrip("\r")
        self._partial.clear()
        if not text.strip():
            return
        self.total += 1
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        if len(text) > LINE_MAX:
            text = text[: LINE_MAX - 1] + "…"
        self._lines.append(one_line(text))

    def lines(self) -> tuple[str, ...]:
        if not self._lines:
            return ()
        shown = len(self._lines)
        head = f"output (last {shown} of {self.total} lines):" if self.total > shown else "output:"
        return (head, *self._lines)


# ---------------------------------------------------------------------------- JUnit XML


def _lexical_refusal(junit: str) -> str:
    path = PurePath(junit)
    if path.is_absolute() or path.drive:
        return "an absolute path; expected one relative to the working directory"
    if ".." in path.parts:
        return "leads out of the working directory (..)"
    return ""


def _identity(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size


def _read_workspace_junit(
    probe: CommandProbe, before: tuple[int, int, int, int] | None
) -> tuple[JUnitSummary | None, str]:
    """The probe's JUnit XML once the command ran: (summary, note); JUnitError: refused."""
    assert probe.junit is not None
    name = one_line(probe.junit)
    root = Path(os.path.realpath(probe.cwd))
    target = Path(os.path.realpath(root / probe.junit))
    if not target.is_relative_to(root):
        raise JUnitError(f"junit {name}: a symbolic link leading out of the working directory")
    if not os.path.lexists(target):
        return None, f"JUnit XML {name} was not written; the verdict rests on the exit code"
    if before is not None and _identity(target) == before:
        return None, (
            f"JUnit XML {name} was not rewritten by this run (left from an earlier one); "
            "ignored, the verdict rests on the exit code"
        )
    return read_junit(target, name=name), ""


def read_junit(
    path: Path, *, max_bytes: int = MAX_JUNIT_BYTES, name: str | None = None
) -> JUnitSummary:
    """Summarise a JUnit XML (a ``<testsuites>`` or a single ``<testsuite>`` root).

    Refused, with ``JUnitError``: a symbolic link (resolve it first), anything but a regular
    file, more than ``max_bytes``, a DOCTYPE or entity declaration, XML that is not
    well-formed. ``name``: how messages call the file (default: ``path``).
    """
    label = name if name is not None else one_line(str(path))
    data = _read_capped(path, max_bytes, label)
    _refuse_declarations(data, label)
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise JUnitError(f"JUnit XML {label}: not well-formed: {exc}") from None
    if root.tag == "testsuites":
        suites = root.findall("testsuite")
    elif root.tag == "testsuite":
        suites = [root]
    else:
        raise JUnitError(
            f"JUnit XML {label}: the root is <{one_line(root.tag)[:40]}>, "
            "expected <testsuites> or <testsuite>"
        )
    tests = failures = errors = skipped = 0
    failed: list[str] = []
    for case in root.iter("testcase"):
        tests += 1
        failure, error = case.find("failure"), case.find("error")
        failures += failure is not None
        errors += error is not None
        skipped += case.find("skipped") is not None
        problem = failure if failure is not None else error
        if problem is not None:
            failed.append(_failed_line(case, problem))
    # a tool that reports failures only on its suites (no failing testcase) is not read as green
    failures = max(failures, sum(_count(suite, "failures") for suite in suites))
    errors = max(errors, sum(_count(suite, "errors") for suite in suites))
    return JUnitSummary(tests, failures, errors, skipped, tuple(failed))


def _read_capped(path: Path, max_bytes: int, label: str) -> bytes:
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)  # non-blocking: a FIFO must not hang the check
    except FileNotFoundError:
        raise JUnitError(f"JUnit XML {label}: not found") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise JUnitError(f"JUnit XML {label}: a symbolic link; refused") from None
        raise JUnitError(f"JUnit XML {label}: cannot read: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise JUnitError(f"JUnit XML {label}: not a regular file; refused")
        too_large = f"JUnit XML {label}: over the {_size(max_bytes)} limit; refused"
        if info.st_size > max_bytes:
            raise JUnitError(f"{too_large} (it has {_size(info.st_size)})")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise JUnitError(too_large)
    return data


class _Declaration(Exception):
    pass


def _refuse_declarations(data: bytes, label: str) -> None:
    """A DOCTYPE or an entity declaration, in any encoding expat reads, is refused.

    A JUnit XML needs neither, and they are how billion laughs and external entities get in.
    The byte search catches the plain case with a clear message; expat's own handlers catch
    the rest (UTF-16, …) before any entity is expanded.
    """
    refused = f"JUnit XML {label}: has a DOCTYPE or an ENTITY declaration; refused"
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise JUnitError(refused)

    def declaration(*_: object) -> None:
        raise _Declaration

    parser = xml.parsers.expat.ParserCreate()
    parser.StartDoctypeDeclHandler = declaration
    parser.EntityDeclHandler = declaration
    parser.UnparsedEntityDeclHandler = declaration
    parser.NotationDeclHandler = declaration
    try:
        parser.Parse(data, True)
    except _Declaration:
        raise JUnitError(refused) from None
    except xml.parsers.expat.ExpatError as exc:
        raise JUnitError(f"JUnit XML {label}: not well-formed: {exc}") from None


def _failed_line(case: ElementTree.Element, problem: ElementTree.Element) -> str:
    classname, test = case.get("classname", ""), case.get("name", "?")
    label = f"{classname}::{test}" if classname else test
    text = problem.get("message") or (problem.text or "").strip() or problem.get("type") or ""
    message = text.strip().splitlines()[0].strip() if text.strip() else ""
    if len(message) > MESSAGE_MAX:
        message = message[: MESSAGE_MAX - 1] + "…"
    line = f"{label}: {message}" if message else label
    return one_line(line if len(line) <= LINE_MAX else line[: LINE_MAX - 1] + "…")


def _count(suite: ElementTree.Element, attribute: str) -> int:
    try:
        return max(0, int(float(suite.get(attribute, "0"))))
    except (ValueError, OverflowError):  # not a number, NaN, inf
        return 0


def _size(count: int) -> str:
    if count >= 1_000_000:
        return f"{count / 1_000_000:g} MB"
    if count >= 1_000:
        return f"{count / 1_000:g} kB"
    return f"{count} bytes"
