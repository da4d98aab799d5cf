"""Which Kubernetes API failures are retried (the helper itself is ``ci_deploy.retry``).

Transient failures are retried: HTTP 5xx, 429 (honouring Retry-After), connection refused or
reset, timeouts. Permanent ones fail at once: 400, 401, 403, 404, 409, 422 and every other 4xx
(with the API's own message), and the network failures that would only repeat (a certificate
the kubeconfig does not trust, a host name that does not exist: ``NetworkError.transient``).
A 409 Conflict is not retried here because only the caller can re-read and re-decide (see
``kube.state``). Nothing is retried forever: both the number of attempts and the total time are
bounded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from ci_deploy.kube.errors import ApiError, NetworkError
from ci_deploy.retry import DEFAULT_POLICY, RetryPolicy
from ci_deploy.retry import call_with_retry as _call_with_retry

T = TypeVar("T")

__all__ = ["DEFAULT_POLICY", "RetryPolicy", "call_with_retry", "is_transient"]


def is_transient(exc: BaseException) -> bool:
    """True for failures that a later identical request may not hit."""
    if isinstance(exc, NetworkError):
        return exc.transient
    if isinstance(exc, ApiError):
        return exc.status >= 500 or exc.status == 429
    return False


def classify(exc: Exception) -> tuple[bool, float | None] | None:
    """The Kubernetes API's failures for the retry helper (None: not an API failure)."""
    if not isinstance(exc, (ApiError, NetworkError)):
        return None
    return is_transient(exc), exc.retry_after if isinstance(exc, ApiError) else None


def call_with_retry(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy = DEFAULT_POLICY,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Call ``fn`` with the retry helper, retrying the API's transient failures.

    ``on_retry(attempt, error, delay)`` is told about every retry (for logging).
    The last transient error is re-raised when the bounds are exhausted.
    """
    return _call_with_retry(
        fn, classify=classify, policy=policy, on_retry=on_retry, sleep=sleep, clock=clock
    )
