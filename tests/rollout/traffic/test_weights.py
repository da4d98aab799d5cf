"""The weight arithmetic of the routers that weigh requests (pure)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from ci_deploy.rollout.traffic import MAX_WEIGHT_TOTAL, integer_weights, weighted_split
from ci_deploy.rollout.traffic.replicas import ROUTER as REPLICAS


@pytest.mark.parametrize(
    ("percent", "weights"),
    [
        (5, (5, 100)),
        (75, (75, 100)),
        (0, (0, 100)),
        (100, (100, 100)),
        (16.7, (167, 1000)),
        (12.5, (125, 1000)),
        (12.34, (1234, 10000)),
        (0.0001, (1, 1_000_000)),
    ],
)
def test_integer_weights_use_the_smallest_power_of_ten_total_that_is_exact(
    percent: float, weights: tuple[int, int]
) -> None:
    assert integer_weights(percent) == weights


@pytest.mark.parametrize("percent", [0.1, 1.5, 16.7, 33.3, 49.99, 66.6667, 99.9999])
def test_integer_weights_keep_the_ratio_exactly(percent: float) -> None:
    canary, total = integer_weights(percent)
    assert Fraction(canary, total) == Fraction(str(percent)) / 100
    assert total <= MAX_WEIGHT_TOTAL


def test_a_share_finer_than_gateway_api_allows_is_rounded_at_the_largest_total() -> None:
    canary, total = integer_weights(100 / 3)
    assert (canary, total) == (333_333, MAX_WEIGHT_TOTAL)
    assert abs(canary / total - 1 / 3) < 1e-6


def test_integer_weights_clamp_to_the_possible_shares() -> None:
    assert integer_weights(-3) == (0, 100)
    assert integer_weights(140) == (100, 100)


def test_the_replicas_share_is_expressed_exactly() -> None:
    split = REPLICAS.split(5, 5)  # one canary pod next to five stable: 16.7 %
    assert split.actual == 16.7
    assert integer_weights(split.actual) == (167, 1000)


def test_weighted_split_gives_the_share_asked_and_sizes_the_canary_pods() -> None:
    split = weighted_split(5, 10)
    assert (split.asked, split.actual, split.canary_pods, split.stable_pods) == (5, 5, 1, 10)
    assert weighted_split(75, 4).canary_pods == 3
