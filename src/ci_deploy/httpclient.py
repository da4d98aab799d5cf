"""THE HTTP client for everything ci-deploy calls besides the Kubernetes API.

Prometheus, smoke checks, and later GitHub, GitLab, Slack and PagerDuty go through
``HttpClient``: one ``requests`` session, a timeout on every request, TLS options, and the
project's retry helper (``ci_deploy.retry``) for what a later identical request may not hit:
connection failures, timeouts, 5xx and 429 (honouring ``Retry-After``). A 5xx or 429 that
outlasts the retries is returned, not raised: whether it is a failure is the caller's call
(a smoke check reports it, Prometheus's client turns it into an error). Only a request that
never got a response raises ``HttpError``.

Header values and credentials are secrets: they are sent, never printed; messages name the
URL without its query string or credentials. ``requests`` is imported on first use, so the
CLI's start-up does not pay for it.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ci_deploy.retry import RetryPolicy, call_with_retry
from ci_deploy.text import one_line

if TYPE_CHECKING:
    import requests

RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})


class HttpError(Exception):
    """No response: the host could not be reached, TLS failed, or the request timed out."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient


class _RetryableStatus(Exception):
    def __init__(self, response: requests.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


@dataclass(frozen=True)
class HttpOptions:
    """How to talk to one service: timeout, retries, TLS, headers and basic auth."""

    timeout: float = 10.0  # seconds, connect and read each
    retries: int = 2  # attempts after the first, for transient failures
    verify: bool | str = True  # False: skip TLS verification; a path: that CA bundle
    headers: Mapping[str, str] = field(default_factory=dict)  # secrets: never printed
    basic_auth: tuple[str, str] | None = None
    max_delay: float = 2.0


def safe_url(url: str) -> str:
    """``url`` without credentials, query or fragment, as one inert line (for messages)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return one_line(urlunsplit((parts.scheme, host, parts.path, "", "")))


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed is not None else None


def _classify(exc: Exception) -> tuple[bool, float | None] | None:
    if isinstance(exc, _RetryableStatus):
        return True, _retry_after(exc.response)
    if isinstance(exc, HttpError):
        return exc.transient, None
    return None


class HttpClient:
    """One session with its options; ``request`` retries what is transient."""

    def __init__(
        self,
        options: HttpOptions | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import requests

        self.options = options or HttpOptions()
        self._session = requests.Session()
        self._session.headers["User-Agent"] = "ci-deploy"
        self._session.headers.update(self.options.headers)
        if self.options.basic_auth is not None:
            self._session.auth = self.options.basic_auth
        self._session.verify = self.options.verify
        self._sleep = sleep
        self.attempts = 0  # requests sent, retries included (for tests and reports)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> requests.Response:
        """Send, retrying connection failures, timeouts, 5xx and 429; HttpError: no response."""
        policy = RetryPolicy(
            attempts=self.options.retries + 1,
            total_seconds=max(30.0, (timeout or self.options.timeout) * 3),
            base_delay=0.1,
            max_delay=self.options.max_delay,
        )

        def once() -> requests.Response:
            response = self._send(method, url, params, data, json, headers, timeout)
            if response.status_code in RETRIED_STATUSES:
                raise _RetryableStatus(response)
            return response

        try:
            return call_with_retry(once, classify=_classify, policy=policy, sleep=self._sleep)
        except _RetryableStatus as last:
            return last.response

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        data: Mapping[str, str] | None,
        json: Any,
        headers: Mapping[str, str] | None,
        timeout: float | None,
    ) -> requests.Response:
        import requests

        self.attempts += 1
        where = safe_url(url)
        try:
            return self._session.request(
                method,
                url,
                params=params,
                data=data,
                json=json,
                headers=dict(headers or {}),
                timeout=timeout or self.options.timeout,
                allow_redirects=False,
                # per request: requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override the
                # session's verify (False or a CA path) when a request does not name its own
                verify=self.options.verify,
            )
        except requests.exceptions.SSLError as exc:
            raise HttpError(f"{where}: TLS failed: {_reason(exc)}", transient=False) from exc
        except requests.exceptions.Timeout as exc:
            raise HttpError(
                f"{where}: no response within {timeout or self.options.timeout:g}s",
                transient=True,
            ) from exc
        except requests.exceptions.ConnectionError as exc:
            raise HttpError(f"{where}: cannot connect: {_reason(exc)}", transient=True) from exc
        except requests.exceptions.InvalidHeader as exc:
            # requests' message quotes the value: a secret (a token read with its newline)
            raise HttpError(
                f"{where}: a header name or value is not valid (values are not shown)",
                transient=False,
            ) from exc
        except requests.exceptions.RequestException as exc:
            raise HttpError(f"{where}: {_reason(exc)}", transient=False) from exc
        except OSError as exc:  # requests' own, not a RequestException: no such CA bundle
            raise HttpError(f"{where}: {one_line(str(exc))[:200]}", transient=False) from exc


def _reason(exc: BaseException) -> str:
    """The innermost cause's message, one line, without the URL requests repeats."""
    inner: BaseException = exc
    while inner.__cause__ is not None or inner.__context__ is not None:
        inner = inner.__cause__ or inner.__context__  # type: ignore[assignment]
    text = str(inner.args[-1] if inner.args else inner)
    if "Connection refused" in text or "ECONNREFUSED" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "host name not found"
    return one_line(text)[:200]
