"""The weight arithmetic of the routers that weigh requests (pure)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from ci_deploy.rollout.traffic import (
    BASELINE_BELOW,
    MAX_WEIGHT_TOTAL,
    baseline_runs_at,
    integer_weights,
    weighted_split,
)
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


# -- with a baseline: the canary's share twice, the stable set the rest ------------------------
@pytest.mark.parametrize(
    ("weight", "stable", "pods", "share", "rest"),
    [
        (10, 4, 1, 16.7, 66.7),  # one pod each is the least: 1 / (4 + 2)
        (25, 4, 2, 25.0, 50.0),  # 2 / (4 + 4), exact
        (30, 4, 3, 30.0, 40.0),  # 3 / (4 + 6), exact
        (5, 10, 1, 8.3, 83.3),  # 1 / (10 + 2)
        (20, 3, 1, 20.0, 60.0),  # 1 / (3 + 2)
    ],
)
def test_the_replicas_baseline_has_the_canarys_pods_and_each_gets_k_over_n_plus_2k(
    weight: float, stable: int, pods: int, share: float, rest: float
) -> None:
    split = REPLICAS.split(weight, stable, baseline=True)
    assert (split.canary_pods, split.baseline_pods, split.stable_pods) == (pods, pods, stable)
    assert (split.actual, split.baseline_share, split.stable_share) == (share, share, rest)
    # the real shares of the pod ratio, to the rounding of the shown tenths
    assert abs(split.actual + split.baseline_share + split.stable_share - 100) <= 0.15


def test_the_replicas_plan_says_the_baseline_share_and_why_it_differs() -> None:
    text = REPLICAS.split(10, 4, baseline=True).describe()
    assert text == (
        "16.7% to the canary (1 canary pod), 16.7% to the baseline (1 baseline pod), 66.7% to "
        "the stable version (4 stable pods); 10% asked: with 4 stable pods and a baseline as "
        "large as the canary the nearest pod ratio is 16.7%"
    )


@pytest.mark.parametrize(
    ("weight", "weights"),
    [(10, (80, 10, 10)), (30, (40, 30, 30)), (16.7, (666, 167, 167)), (49, (2, 49, 49))],
)
def test_a_weighing_router_gives_the_baseline_the_canarys_weight_and_stable_the_rest(
    weight: float, weights: tuple[int, int, int]
) -> None:
    split = weighted_split(weight, 4, baseline=True)
    assert split.baseline_pods == split.canary_pods
    assert (split.actual, split.baseline_share) == (weight, weight)
    canary, total = integer_weights(split.actual)
    assert (total - 2 * canary, canary, canary) == weights
    assert split.stable_share == pytest.approx(100 - 2 * weight)


def test_without_a_baseline_the_split_is_as_before() -> None:
    assert weighted_split(10, 4).baseline_pods == 0
    assert weighted_split(10, 4).stable_share == 90
    assert REPLICAS.split(10, 4).describe() == (
        "20% to the canary (1 canary pod next to 4 stable); 10% asked: with 4 stable pods the "
        "nearest pod ratio is 20%"
    )


@pytest.mark.parametrize("weight", [50, 60, 75, 100])
def test_no_baseline_from_half_the_traffic_on(weight: float) -> None:
    # 75 % + 75 % is more than there is; at 50 % + 50 % the stable version would get nothing
    assert not baseline_runs_at(weight)
    with pytest.raises(ValueError, match="cannot take the canary's share"):
        weighted_split(weight, 4, baseline=True)
    if weight < 100:
        with pytest.raises(ValueError, match="cannot take the canary's share"):
            REPLICAS.split(weight, 4, baseline=True)


def test_a_baseline_runs_below_half_the_traffic() -> None:
    assert BASELINE_BELOW == 50
    assert baseline_runs_at(49.9) and baseline_runs_at(0.1) and not baseline_runs_at(0)
