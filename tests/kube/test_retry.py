"""The retry helper: what is retried, how long we wait, and that nothing is retried forever."""

from __future__ import annotations

import random

import pytest

from ci_deploy.kube.errors import ApiError, NetworkError
from ci_deploy.kube.retry import RetryPolicy, call_with_retry


class Flaky:
    """Fails with the given errors in order, then returns "ok"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def run(fn: Flaky, policy: RetryPolicy | None = None) -> tuple[str, list[float]]:
    slept: list[float] = []
    result = call_with_retry(
        fn, policy=policy or RetryPolicy(rng=random.Random(1)), sleep=slept.append
    )
    return result, slept


def test_retries_5xx_429_and_resets_then_succeeds() -> None:
    fn = Flaky(
        ApiError(503, "ServiceUnavailable", "busy"),
        ApiError(429, "TooManyRequests", "slow down"),
        NetworkError("connection reset by peer"),
        ApiError(500, "InternalError", "etcd"),
    )
    result, slept = run(fn)
    assert result == "ok"
    assert fn.calls == 5
    assert len(slept) == 4


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_permanent_errors_fail_at_once_with_the_api_message(status: int) -> None:
    fn = Flaky(ApiError(status, "Invalid", f"the message of {status}"))
    with pytest.raises(ApiError) as caught:
        run(fn)
    assert fn.calls == 1
    assert caught.value.message == f"the message of {status}"


def test_retry_after_header_is_honoured() -> None:
    fn = Flaky(ApiError(429, "TooManyRequests", "wait", retry_after=2.5))
    _, slept = run(fn)
    assert slept == [2.5]


def test_attempts_are_bounded() -> None:
    fn = Flaky(*[ApiError(500, "InternalError", "down")] * 20)
    with pytest.raises(ApiError):
        run(fn, RetryPolicy(attempts=4, rng=random.Random(1)))
    assert fn.calls == 4


def test_total_time_is_bounded() -> None:
    fn = Flaky(*[ApiError(429, "TooManyRequests", "wait", retry_after=3.0)] * 20)
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(ApiError):
        call_with_retry(
            fn,
            policy=RetryPolicy(attempts=100, total_seconds=10.0),
            sleep=sleep,
            clock=lambda: now[0],
        )
    # 3 waits of 3 s fit in 10 s; the 4th would not: 4 calls in all.
    assert fn.calls == 4


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=1.0, rng=random.Random(7))
    delays = [policy.delay(n, None) for n in range(1, 8)]
    assert 0.05 <= delays[0] <= 0.1
    assert 0.1 <= delays[1] <= 0.2
    assert all(0.5 <= d <= 1.0 for d in delays[4:])
