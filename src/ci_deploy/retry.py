"""THE retry helper: bounded retries with exponential backoff and full jitter.

One helper for every remote call ci-deploy makes (the Kubernetes API, Prometheus, smoke
requests, later GitHub and Slack). What is transient is the caller's to say: ``classify``
returns, for an exception, whether a later identical request may not hit it and how long
the server asked us to wait (``Retry-After``). Nothing is retried forever: both the number
of attempts and the total time are bounded.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

Classify = Callable[[Exception], "tuple[bool, float | None] | None"]
"""``exc`` → (transient, retry_after seconds), or None for an exception this caller does not
handle (re-raised at once, like a permanent failure)."""


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


def call_with_retry(
    fn: Callable[[], T],
    *,
    classify: Classify,
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
        except Exception as exc:
            verdict = classify(exc)
            if verdict is None or not verdict[0] or attempt >= policy.attempts:
                raise
            delay = policy.delay(attempt, verdict[1])
            if clock() - started + delay > policy.total_seconds:
                raise
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            sleep(delay)
