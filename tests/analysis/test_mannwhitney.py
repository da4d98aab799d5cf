"""analysis.mannwhitney: the U test against SciPy's ``mannwhitneyu``, and canary comparisons."""

from __future__ import annotations

import math
import random

import pytest
from scipy import stats

from ci_deploy.analysis.mannwhitney import (
    ALTERNATIVES,
    Alternative,
    compare,
    mann_whitney_u,
)

REL = 1e-9

# name -> (x, y, the method SciPy's "auto" picks)
FIXED: dict[str, tuple[list[float], list[float], str]] = {
    "textbook (exact)": ([19, 22, 16, 29, 24], [20, 11, 17, 12], "exact"),
    "one point each": ([1.0], [2.0], "exact"),
    "one against many": ([5.5], [float(v) for v in range(20)], "exact"),
    "small, no ties": ([0.3, 1.2, 0.7], [0.5, 0.9, 1.1, 2.0], "exact"),
    "eight and eight": (
        [0.11, 0.42, 0.35, 0.9, 0.27, 0.61, 0.05, 0.77],
        [0.2, 0.5, 0.33, 0.81, 0.95, 0.66, 0.13, 0.44],
        "exact",
    ),
    "eight against fifty, no ties": (
        [float(v) + 0.5 for v in range(0, 40, 5)],
        [float(v) for v in range(50)],
        "exact",
    ),
    "nine and nine: asymptotic": (
        [1.1, 2.3, 0.4, 5.6, 3.2, 2.2, 4.8, 0.9, 3.3],
        [2.5, 3.7, 4.1, 6.2, 5.0, 4.4, 7.1, 2.8, 3.9],
        "asymptotic",
    ),
    "small with ties": ([1, 2, 2, 3], [2, 3, 3, 4, 5], "asymptotic"),
    "tie across samples only": ([0.5, 1.5, 2.5], [2.5, 3.5], "asymptotic"),
    "tie within one sample": ([1.0, 1.0, 4.0], [2.0, 3.0, 5.0], "asymptotic"),
    "signed zeros tie": ([-0.0, 1.0, 2.0], [0.0, 3.0, 4.0], "asymptotic"),
    "negative and infinite values": (
        [-math.inf, -3.0, -1.5, 0.25],
        [-2.0, 0.5, 7.0, math.inf],
        "exact",
    ),
    "many ties, large": (
        [float(v % 4) for v in range(30)],
        [float(v % 5) for v in range(40)],
        "asymptotic",
    ),
    "large, no ties": (
        [i * 0.37 % 11 + i / 1000 for i in range(60)],
        [i * 0.53 % 13 + i / 997 + 0.2 for i in range(45)],
        "asymptotic",
    ),
    "identical, small": ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], "asymptotic"),
    "identical, large": (list(map(float, range(25))), list(map(float, range(25))), "asymptotic"),
    "all values equal": ([7.0] * 5, [7.0] * 6, "asymptotic"),
    "disjoint, small": ([1.0, 2.0, 3.0], [10.0, 11.0, 12.0, 13.0], "exact"),
    "disjoint, reversed": ([10.0, 11.0, 12.0, 13.0], [1.0, 2.0, 3.0], "exact"),
    "disjoint, large": (list(map(float, range(40))), [v + 100.0 for v in range(50)], "asymptotic"),
    "disjoint, very large (tiny p)": (
        [float(v) for v in range(300)],
        [v + 1000.0 for v in range(300)],
        "asymptotic",
    ),
    "integers": ([3, 1, 4, 1, 5, 9, 2, 6], [2, 7, 1, 8, 2, 8, 1, 8, 2, 8], "asymptotic"),
}


def assert_matches_scipy(x: list[float], y: list[float], alternative: Alternative) -> str:
    """Our test and SciPy's agree on U and p; returns the method ours chose."""
    ours = mann_whitney_u(x, y, alternative)
    ref = stats.mannwhitneyu(x, y, alternative=alternative)
    assert ours.u == float(ref.statistic)
    assert math.isclose(ours.p_value, float(ref.pvalue), rel_tol=REL, abs_tol=0.0), (
        ours.p_value,
        float(ref.pvalue),
    )
    # the method it reports is the one SciPy's "auto" used
    forced = stats.mannwhitneyu(x, y, alternative=alternative, method=ours.method)
    assert math.isclose(ours.p_value, float(forced.pvalue), rel_tol=REL, abs_tol=0.0)
    assert (ours.n_x, ours.n_y, ours.alternative) == (len(x), len(y), alternative)
    assert ours.common_language_effect_size == ours.u / (len(x) * len(y))
    assert 0.0 <= ours.p_value <= 1.0
    return ours.method


@pytest.mark.parametrize("alternative", ALTERNATIVES)
@pytest.mark.parametrize("name", sorted(FIXED))
def test_fixed_samples_match_scipy(name: str, alternative: Alternative) -> None:
    x, y, method = FIXED[name]
    assert assert_matches_scipy(x, y, alternative) == method


def random_samples(seed: int) -> tuple[list[float], list[float]]:
    """Sizes 1..40 (often ≤ 8, so both methods), continuous or rounded (ties), shifted or not."""
    rng = random.Random(seed)
    n_x = rng.choice([rng.randint(1, 8), rng.randint(1, 40)])
    n_y = rng.choice([rng.randint(1, 8), rng.randint(1, 40)])
    shift = rng.choice([0.0, 0.3, 1.0, 3.0])
    x = [rng.lognormvariate(shift, 1.0) for _ in range(n_x)]
    y = [rng.lognormvariate(0.0, 1.0) for _ in range(n_y)]
    if rng.random() < 0.4:  # integer-valued metrics: plenty of ties
        x, y = [float(round(v)) for v in x], [float(round(v)) for v in y]
    return x, y


@pytest.mark.parametrize("seed", range(60))
def test_seeded_random_samples_match_scipy(seed: int) -> None:
    x, y = random_samples(seed)
    for alternative in ALTERNATIVES:
        assert_matches_scipy(x, y, alternative)


def test_random_samples_cover_both_methods() -> None:
    methods = {mann_whitney_u(*random_samples(seed)).method for seed in range(60)}
    assert methods == {"exact", "asymptotic"}


def test_exact_whenever_one_sample_has_at_most_eight_points_and_no_ties() -> None:
    # SciPy's "auto": asymptotic only when both samples exceed 8 points, or there are ties
    many = [v / 7 for v in range(200)]
    assert mann_whitney_u([0.01, 0.5, 3.3], many).method == "exact"
    assert mann_whitney_u(many, [0.01, 0.5, 3.3]).method == "exact"
    assert mann_whitney_u(many[:9], many[9:18]).method == "asymptotic"
    assert mann_whitney_u([0.5, 0.5], [1.0]).method == "asymptotic"
    assert_matches_scipy([0.01, 0.5, 3.3], many, "two-sided")


def test_textbook_values() -> None:
    # SciPy's documented example (Shier 2004): U_males = 17, exact two-sided p = 1/9
    res = mann_whitney_u([19, 22, 16, 29, 24], [20, 11, 17, 12])
    assert res.u == 17.0
    assert res.p_value == pytest.approx(1 / 9, rel=1e-12)
    assert res.common_language_effect_size == pytest.approx(17 / 20)
    less = mann_whitney_u([20, 11, 17, 12], [19, 22, 16, 29, 24], "less")
    assert (less.u, less.p_value) == (3.0, pytest.approx(1 / 18, rel=1e-12))


def test_effect_size_extremes() -> None:
    assert mann_whitney_u([5.0, 6.0], [1.0, 2.0, 3.0]).common_language_effect_size == 1.0
    assert mann_whitney_u([1.0, 2.0], [5.0, 6.0, 7.0]).common_language_effect_size == 0.0
    assert mann_whitney_u([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]).common_language_effect_size == 0.5


def test_identical_and_constant_samples_give_p_one() -> None:
    assert mann_whitney_u([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]).p_value == 1.0
    for alternative in ALTERNATIVES:
        assert mann_whitney_u([4.0] * 4, [4.0] * 9, alternative).p_value == 1.0


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        ([], [1.0], "x is empty"),
        ([1.0], [], "y is empty"),
        ([1.0, math.nan], [1.0], r"x\[1\] is NaN"),
        ([1.0], [2.0, 3.0, math.nan], r"y\[2\] is NaN"),
    ],
)
def test_refuses_empty_samples_and_nan(x: list[float], y: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mann_whitney_u(x, y)


def test_refuses_an_unknown_alternative() -> None:
    with pytest.raises(ValueError, match="alternative must be one of"):
        mann_whitney_u([1.0], [2.0], "bigger")  # type: ignore[arg-type]


# --- compare ---------------------------------------------------------------------------------

BASELINE = [0.10, 0.12, 0.11, 0.13, 0.12, 0.115, 0.125, 0.118, 0.122, 0.109]


def test_fail_when_significant_and_outside_the_band() -> None:
    canary = [0.80, 0.84, 0.90, 0.86, 0.83, 0.88, 0.79, 0.85, 0.81, 0.87]
    res = compare(canary, BASELINE)
    assert res.result == "fail"
    assert res.canary_median == pytest.approx(0.845)
    assert res.baseline_median == pytest.approx(0.119)
    assert res.test is not None
    assert res.test.alternative == "greater"
    ref = stats.mannwhitneyu(canary, BASELINE, alternative="greater")
    assert math.isclose(res.test.p_value, float(ref.pvalue), rel_tol=REL)
    assert res.reason == (
        f"canary median 0.845 vs baseline 0.119 (+610%, band +10%), p={res.test.p_value:.2g}: worse"
    )


def test_pass_within_the_band_significant() -> None:
    baseline = [float(v) for v in range(100, 120)]
    canary = [v + 5.0 for v in baseline]  # +5%, clearly shifted, within a 10% band
    res = compare(canary, baseline)
    assert res.test is not None and res.test.p_value < 0.05
    assert res.result == "pass"
    assert res.reason.endswith(": significant but within the band")


def test_pass_when_outside_the_band_but_not_significant() -> None:
    # medians 0.5 vs 0.3 (+67%), but exact one-sided p = 7/20
    res = compare([0.1, 0.5, 0.9], [0.2, 0.3, 0.4])
    assert res.test is not None
    assert res.test.method == "exact"
    assert res.test.p_value == pytest.approx(7 / 20, rel=1e-12)
    assert res.result == "pass"
    assert "outside the band but not significant" in res.reason
    assert "(+67%, band +10%)" in res.reason


def test_the_band_edge_is_inside() -> None:
    res = compare([1.5, 1.5, 1.5, 1.6], [1.0, 1.0, 1.0, 0.9], tolerance=0.5)
    assert res.canary_median == 1.5 and res.baseline_median == 1.0
    assert res.test is not None and res.test.p_value < 0.05
    assert res.result == "pass"
    assert compare([1.5, 1.5, 1.51, 1.6], [1.0, 1.0, 1.0, 0.9], tolerance=0.5).result == "fail"


def test_a_zero_baseline_leaves_no_band() -> None:
    res = compare([0.01, 0.02, 0.01, 0.03, 0.02], [0.0] * 5)
    assert res.result == "fail"
    assert "(baseline 0, band +10%)" in res.reason


@pytest.mark.parametrize(
    ("canary", "baseline", "points"),
    [
        ([1.0, 2.0], BASELINE, "canary 2 points, baseline 10 points"),
        (BASELINE, [5.0], "canary 10 points, baseline 1 point"),
        ([], BASELINE, "canary 0 points, baseline 10 points"),
    ],
)
def test_inconclusive_on_tiny_samples(
    canary: list[float], baseline: list[float], points: str
) -> None:
    res = compare(canary, baseline)
    assert res.result == "inconclusive"
    assert res.reason == f"{points} (need 3 each): inconclusive"
    assert (res.test is None) == (not canary)
    assert (res.canary_median is None) == (not canary)


def test_lower_is_worse() -> None:
    throughput = [100.0, 102.0, 98.0, 101.0, 99.0, 103.0, 97.0, 100.5]
    lower = [v * 0.7 for v in throughput]
    res = compare(lower, throughput, higher_is_worse=False)
    assert res.result == "fail"
    assert res.test is not None and res.test.alternative == "less"
    assert "(-30%, band -10%)" in res.reason
    # higher is better here: a much higher canary passes, and would fail the other way round
    higher = [v * 1.5 for v in throughput]
    assert compare(higher, throughput, higher_is_worse=False).result == "pass"
    assert compare(higher, throughput).result == "fail"
    assert compare(lower, throughput).result == "pass"


def test_alpha_decides_significance() -> None:
    canary, baseline = [0.3, 0.5, 0.9], [0.1, 0.2, 0.4]  # exact one-sided p = 0.1
    assert compare(canary, baseline).result == "pass"
    assert compare(canary, baseline, alpha=0.2).result == "fail"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tolerance": -0.1}, "tolerance must be"),
        ({"tolerance": math.inf}, "tolerance must be"),
        ({"alpha": 0.0}, "alpha must be"),
        ({"alpha": 1.0}, "alpha must be"),
    ],
)
def test_compare_refuses_bad_parameters(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compare(BASELINE, BASELINE, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_compare_refuses_values_that_are_not_finite(bad: float) -> None:
    with pytest.raises(ValueError, match=r"canary\[1\]"):
        compare([1.0, bad, 2.0], BASELINE)
    with pytest.raises(ValueError, match=r"baseline\[0\]"):
        compare(BASELINE, [bad, 1.0, 2.0])


def test_normal_cdf_matches_scipy_special_ndtr() -> None:
    from scipy import special

    from ci_deploy.analysis.mannwhitney import _ndtr

    for i in range(-4000, 1001):
        a = i / 100  # far into the lower tail, where Cephes' erfc underflows to 0 past -37.7
        ref = float(special.ndtr(a))
        assert math.isclose(_ndtr(a), ref, rel_tol=REL, abs_tol=0.0), (a, _ndtr(a), ref)
