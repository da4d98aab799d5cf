"""THE retry helper: bounded retries with exponential backoff and full jitter.

Transient failures are retried: HTTP 5xx, 429 (honouring Retry-After), connection refused or
reset, timeouts. Permanent ones fail at once: 400, 401, 403, 404, 409, 422 and every other 4xx
(with the API's own message), and the network failures that would only repeat (a certificate
the kubeconfig does not trust, a host name that does not exist: ``NetworkError.transient``).
A 409 Conflict is not retried here because only the caller can re-read and re-decide (see
``kube.state``). Nothing is retried forever: both the number of attempts and the total time are
bounded.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from ci_deploy.kube.errors import ApiError, NetworkError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts, total time, and the backoff curve."""

    attempts: int = 8
    total_seconds: float = 60.0
    base_delay: float = 0.05
    max_delay: float = 5.0
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay * 4)
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return self.rng.uniform(ceiling / 2, ceiling)  # jitter: spread concurrent clients


DEFAULT_POLICY = RetryPolicy()


def is_transient(exc: BaseException) -> bool:
    """True for failures that a later identical request may not hit."""
    if isinstance(exc, NetworkError):
        return exc.transient
    if isinstance(exc, ApiError):
        return exc.status >= 500 or exc.status == 429
    return False


def call_with_retry(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy = DEFAULT_POLICY,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Call ``fn`` until it succeeds, fails permanently, or the policy's bounds are reached.

    ``on_retry(attempt, error, delay)`` is told about every retry (for logging).
    The last transient error is re-raised when the bounds are exhausted.
    """
    started = clock()
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except (ApiError, NetworkError) as exc:
            if not is_transient(exc) or attempt >= policy.attempts:
                raise
            retry_after = exc.retry_after if isinstance(exc, ApiError) else None
            delay = policy.delay(attempt, retry_after)
            if clock() - started + delay > policy.total_seconds:
                raise
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            sleep(delay)
