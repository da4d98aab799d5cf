"""Smoke checks: one HTTP request whose status, body and latency are what a healthy version gives.

``HttpProbe`` says what to request and expect; ``HttpProvider.measure`` sends it through the
project's ``HttpClient`` and returns a ``Measurement``: the latency in ms of the last attempt,
``passed`` when every expectation held, one short line per expectation that did not.

Retries belong to the check, not to the transport. Right after a rollout a smoke check may
need a few tries (pods still starting: a refused connection, a 503, a slow first answer), and
each try is the whole check: a 503, a body that does not match and a latency over the limit
all count as a failed attempt, and the reader is told what each attempt met. So the client's
own retries are off (``HttpOptions(retries=0)``: a 5xx is returned, not retried behind our
back, and a latency is that of one request) and the attempts are made by the project's retry
helper (``ci_deploy.retry``) with the probe's fixed delay between them. A failure that a later
try cannot change (TLS verification) ends the check at once.

Header values are secrets: sent, never printed (not in ``repr``, not in any detail or error).
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import urlsplit

from ci_deploy.analysis.model import Measurement
from ci_deploy.httpclient import HttpClient, HttpError, HttpOptions, safe_url
from ci_deploy.retry import RetryPolicy, call_with_retry
from ci_deploy.text import one_line

BODY_EXCERPT = 80  # characters of a body that did not match, shown in the detail
_HISTORY_MAX = 300  # characters of the line summarising earlier attempts
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token: methods, header names
# A header value requests and http.client send as is: Latin-1, no control character but HTAB,
# no leading white space. Anything else they refuse with a message quoting the value.
_HEADER_VALUE = re.compile(r"(?:[\x21-\x7e\x80-\xff][\t\x20-\x7e\x80-\xff]*)?")


@dataclass(frozen=True)
class HttpProbe:
    """One smoke check: request ``url`` and expect a status, a body and a latency.

    ``expect_status``: the allowed codes. ``body``: a regular expression the body must contain
    a match of (``re.search``; checked when the status is an allowed one). ``max_latency_ms``:
    the slowest acceptable answer, body included. ``headers``: sent with the request; their
    values are secrets. ``retries``: attempts after the first when the check fails (no
    answer, wrong status, body mismatch, too slow), ``retry_delay`` seconds apart.
    ``timeout``: seconds to connect and seconds to read, each. ``verify``: TLS verification
    — True (the system's CAs), False (none), or the path of a CA bundle.
    """

    url: str
    method: str = "GET"
    expect_status: tuple[int, ...] = (200,)
    body: str | None = None
    max_latency_ms: float | None = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False, hash=False)
    retries: int = 0
    retry_delay: float = 2.0
    timeout: float = 10.0
    verify: bool | str = True

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url {safe_url(self.url)!r}: expected http(s)://HOST/…")
        method = self.method.upper()
        if not _TOKEN.fullmatch(method):
            raise ValueError(f"method {one_line(self.method)!r}: not an HTTP method")
        object.__setattr__(self, "method", method)
        statuses = tuple(self.expect_status)
        if not statuses or any(
            isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599
            for code in statuses
        ):
            raise ValueError(f"expect_status {statuses!r}: expected HTTP status codes (100-599)")
        object.__setattr__(self, "expect_status", statuses)
        if self.body is not None:
            try:
                re.compile(self.body)
            except re.error as exc:
                message = f"body /{one_line(self.body)}/: not a regular expression: {exc}"
                raise ValueError(message) from None
        if self.max_latency_ms is not None and not self.max_latency_ms > 0:
            raise ValueError(f"max_latency_ms {self.max_latency_ms!r}: expected a positive number")
        for name, value in self.headers.items():
            if not _TOKEN.fullmatch(name):
                raise ValueError(f"header {one_line(name)!r}: not a header name")
            if not isinstance(value, str) or not _HEADER_VALUE.fullmatch(value):
                # the value is a secret: say what is wrong with it, never what it is
                raise ValueError(
                    f"header {name}: its value has a line break, a control character, leading "
                    "white space or a character outside Latin-1"
                )
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise ValueError(f"retries {self.retries!r}: expected a whole number, 0 or more")
        if not self.retry_delay >= 0:
            raise ValueError(f"retry_delay {self.retry_delay!r}: expected seconds, 0 or more")
        if not self.timeout > 0:
            raise ValueError(f"timeout {self.timeout!r}: expected a positive number of seconds")
        if isinstance(self.verify, str) and not self.verify:
            raise ValueError("verify: expected true, false or the path of a CA bundle")

    @property
    def target(self) -> str:
        """``METHOD URL`` without credentials or query, for verdicts and logs."""
        return f"{self.method} {safe_url(self.url)}"


@dataclass(frozen=True)
class _Attempt:
    latency_ms: float | None  # None: no response
    error: str  # why there was no response; "" when there was one
    failures: tuple[str, ...]  # the expectations not met (the error, when there is one)
    retryable: bool  # could another try meet them (not so for a TLS failure)

    @property
    def passed(self) -> bool:
        return not self.error and not self.failures


class _FailedAttempt(Exception):
    def __init__(self, attempt: _Attempt) -> None:
        super().__init__(attempt.failures)
        self.attempt = attempt


class HttpProvider:
    """Measures ``HttpProbe``s; the check-level retries are its own (see the module doc).

    Without ``client``, each ``measure`` uses a client of its own with the probe's timeout and
    TLS settings. A given ``client`` is used for every probe: its TLS settings must be the
    probe's, and its transport retries must be off, so that no request is retried twice over.
    """

    name = "http"

    def __init__(
        self,
        client: HttpClient | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if client is not None and client.options.retries != 0:
            raise ValueError(
                "HttpProvider retries whole checks itself: give it a client made with "
                "HttpOptions(retries=0)"
            )
        self._client = client
        self._sleep = sleep

    def measure(self, probe: HttpProbe) -> Measurement:
        """Request ``probe.url`` up to ``probe.retries + 1`` times, until the check passes."""
        if self._client is not None:
            if self._client.options.verify != probe.verify:
                raise ValueError(
                    f"{probe.target}: the probe's TLS verification differs from the given "
                    "client's; give HttpProvider no client, or one made with the probe's"
                )
            return self._measure(self._client, probe)
        options = HttpOptions(timeout=probe.timeout, retries=0, verify=probe.verify)
        with HttpClient(options, sleep=self._sleep) as client:
            return self._measure(client, probe)

    def _measure(self, client: HttpClient, probe: HttpProbe) -> Measurement:
        pattern = re.compile(probe.body) if probe.body is not None else None
        attempts: list[_Attempt] = []

        def once() -> _Attempt:
            attempt = _attempt(client, probe, pattern)
            attempts.append(attempt)
            if not attempt.passed:
                raise _FailedAttempt(attempt)
            return attempt

        def classify(exc: Exception) -> tuple[bool, float | None] | None:
            if isinstance(exc, _FailedAttempt):
                return exc.attempt.retryable, probe.retry_delay
            return None

        policy = RetryPolicy(
            attempts=probe.retries + 1,
            total_seconds=math.inf,  # bounded by the attempts, each by the probe's timeout
            base_delay=probe.retry_delay,
            max_delay=probe.retry_delay,
        )
        try:
            last = call_with_retry(once, classify=classify, policy=policy, sleep=self._sleep)
        except _FailedAttempt as failed:
            last = failed.attempt
        detail = [] if last.error else list(last.failures)
        if len(attempts) > 1:
            detail.append(_history(attempts, probe))
        return Measurement(
            value=last.latency_ms,
            samples=len(attempts),
            error=last.error,
            passed=last.passed,
            detail=tuple(detail),
        )


def _attempt(client: HttpClient, probe: HttpProbe, pattern: re.Pattern[str] | None) -> _Attempt:
    started = time.perf_counter()
    try:
        response = client.request(
            probe.method, probe.url, headers=probe.headers, timeout=probe.timeout
        )
    except HttpError as exc:
        message = one_line(exc.message)
        return _Attempt(None, message, (message,), retryable=exc.transient)
    latency_ms = (time.perf_counter() - started) * 1000  # the body is read by now
    failures: list[str] = []
    status = response.status_code
    if status not in probe.expect_status:
        expected = " or ".join(str(code) for code in probe.expect_status)
        failures.append(f"status {status}, expected {expected}")
    elif pattern is not None:
        text = response.text
        if not pattern.search(text):
            failures.append(f"body did not match /{one_line(pattern.pattern)}/ ({_excerpt(text)})")
    if probe.max_latency_ms is not None and latency_ms > probe.max_latency_ms:
        failures.append(f"latency {latency_ms:.0f} ms over {probe.max_latency_ms:g} ms")
    return _Attempt(latency_ms, "", tuple(failures), retryable=True)


def _excerpt(text: str) -> str:
    if not text:
        return "empty body"
    more = "…" if len(text) > BODY_EXCERPT else ""
    return f"first {BODY_EXCERPT} chars: {one_line(text[:BODY_EXCERPT])}{more}"


def _history(attempts: list[_Attempt], probe: HttpProbe) -> str:
    """One line: how many attempts, and what the ones before the last met."""
    last = attempts[-1]
    total = probe.retries + 1
    if last.passed:
        head = f"passed on attempt {len(attempts)} of {total}"
    elif len(attempts) < total:
        head = f"gave up after attempt {len(attempts)} of {total} (a retry would not help)"
    else:
        head = f"all {total} attempts failed"
    prefix = safe_url(probe.url) + ": "
    seen = Counter(
        " + ".join(failure.removeprefix(prefix) for failure in attempt.failures)
        for attempt in attempts[:-1]
    )
    earlier = "; ".join(f"{what} (×{count})" if count > 1 else what for what, count in seen.items())
    line = f"{head}; before: {earlier}"
    return line if len(line) <= _HISTORY_MAX else line[: _HISTORY_MAX - 1] + "…"
