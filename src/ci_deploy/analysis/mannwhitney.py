"""Canary against baseline: a Mann–Whitney U test and a tolerance band (Kayenta's approach).

The baseline is the stable version at the canary's size, observed over the same window; the
canary's metric series is compared with the baseline's, not with a fixed number. The canary
fails a metric only when it is *significantly* worse (one-sided Mann–Whitney U, ``p < alpha``)
*and* its median is outside the tolerance band around the baseline's median: a significant
but tiny difference is not a reason to roll back, nor is a large difference seen in noise.

``mann_whitney_u`` reproduces ``scipy.stats.mannwhitneyu(x, y, alternative=...)`` with its
defaults (``use_continuity=True``, ``method="auto"``) in pure Python:

- the statistic ``u`` is the one for ``x``: ``R_x - n_x (n_x + 1) / 2``, with midranks for
  ties (``U_y = n_x n_y - u``);
- the p-value is *exact* (the null distribution of U, counted with integers) when at least one
  sample has 8 points or fewer and no value occurs twice in the pooled samples — SciPy's
  ``_mwu_choose_method``: asymptotic if both sizes exceed 8, else asymptotic if there are
  ties, else exact (its documentation says "one of the samples ≤ 8", and so does the code);
- otherwise the normal approximation, with the tie correction of the variance and the
  continuity correction (½ towards the mean), as ``method="asymptotic", use_continuity=True``;
- one-sided p-values for ``"greater"`` / ``"less"``, twice the one-sided tail for
  ``"two-sided"``, clipped to [0, 1]. All values equal (zero variance): p = 1.

Effect size: the *common-language effect size* ``U_x / (n_x n_y)`` — the probability that a
point drawn from ``x`` is greater than one drawn from ``y``, ties counting one half (Vargha
and Delaney's A). 0.5 is no effect, 1.0 is every ``x`` above every ``y``. It reads directly
in a report ("the canary is higher in 97% of pairs"); the rank-biserial correlation is the
same information, ``2 × cles - 1``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ci_deploy.analysis.model import Result

Alternative = Literal["two-sided", "less", "greater"]
Method = Literal["exact", "asymptotic"]
ALTERNATIVES: tuple[Alternative, ...] = ("two-sided", "less", "greater")

EXACT_MAX_SIZE = 8
"""The exact distribution is used when the smaller sample has at most this many points (and
there are no ties), as SciPy's ``method="auto"``."""

MIN_POINTS = 3
"""``compare`` is inconclusive when either sample has fewer points than this."""


@dataclass(frozen=True)
class MannWhitney:
    """A Mann–Whitney U test of ``x`` against ``y``.

    ``u``: the statistic for ``x`` (SciPy's ``mannwhitneyu(x, y).statistic``); ``p_value``:
    for the ``alternative`` asked (``"greater"``: ``x`` tends to be greater than ``y``);
    ``common_language_effect_size``: ``u / (n_x n_y)``, P(x > y) + ½ P(x = y);
    ``method``: which p-value ``"auto"`` chose (``"exact"`` or ``"asymptotic"``).
    """

    u: float
    p_value: float
    common_language_effect_size: float
    n_x: int
    n_y: int
    alternative: Alternative = "two-sided"
    method: Method = "asymptotic"


@dataclass(frozen=True)
class Comparison:
    """The canary's series against the baseline's, for one metric.

    ``result``: ``"fail"`` when the canary is significantly worse (one-sided ``p < alpha``)
    and its median is outside the tolerance band; ``"inconclusive"`` when a sample has fewer
    than ``MIN_POINTS`` points; ``"pass"`` otherwise. ``test``: the one-sided test in the worse
    direction (canary as ``x``), None only when a sample is empty; ``canary_median`` /
    ``baseline_median``: None only for an empty sample. ``reason``: one line for a human.
    """

    result: Result
    reason: str
    test: MannWhitney | None
    canary_median: float | None
    baseline_median: float | None


def mann_whitney_u(
    x: Sequence[float], y: Sequence[float], alternative: Alternative = "two-sided"
) -> MannWhitney:
    """The Mann–Whitney U test of ``x`` against ``y``, as ``scipy.stats.mannwhitneyu``.

    Raises ValueError for an empty sample, a NaN, or an unknown ``alternative``.
    """
    if alternative not in ALTERNATIVES:
        raise ValueError(
            f"alternative must be one of {', '.join(ALTERNATIVES)}, not {alternative!r}"
        )
    xs = _checked("x", x)
    ys = _checked("y", y)
    n_x, n_y = len(xs), len(ys)

    ranks, tie_sizes = _midranks(xs + ys)
    r_x = sum(ranks[:n_x])
    u_x = r_x - n_x * (n_x + 1) / 2
    u_y = n_x * n_y - u_x
    if alternative == "greater":
        u, factor = u_x, 1
    elif alternative == "less":
        u, factor = u_y, 1  # by symmetry, the upper tail of U_y is the lower tail of U_x
    else:
        u, factor = max(u_x, u_y), 2

    ties = any(t > 1 for t in tie_sizes)
    if min(n_x, n_y) <= EXACT_MAX_SIZE and not ties:
        method: Method = "exact"
        p = factor * _exact_sf(round(u), n_x, n_y)
    else:
        method = "asymptotic"
        p = factor * _asymptotic_sf(u, n_x, n_y, tie_sizes)
    return MannWhitney(
        u=u_x,
        p_value=min(max(p, 0.0), 1.0),
        common_language_effect_size=u_x / (n_x * n_y),
        n_x=n_x,
        n_y=n_y,
        alternative=alternative,
        method=method,
    )


def compare(
    canary: Sequence[float],
    baseline: Sequence[float],
    *,
    higher_is_worse: bool = True,
    tolerance: float = 0.1,
    alpha: float = 0.05,
) -> Comparison:
    """Judge the canary's series against the baseline's.

    ``tolerance``: the relative band — with ``higher_is_worse`` the canary's median may exceed
    the baseline's by up to ``tolerance × |baseline median|`` (0.1: 10%) before it counts (a
    baseline median of 0 leaves no band: any increase counts); without, it may fall short by as
    much. ``alpha``: the significance level of the one-sided test in the worse direction.

    Raises ValueError for a value that is not finite (NaN, ±inf: drop no-data points first), a
    negative or non-finite ``tolerance``, or an ``alpha`` outside (0, 1).
    """
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be a finite number ≥ 0, not {tolerance!r}")
    if not (0 < alpha < 1):
        raise ValueError(f"alpha must be between 0 and 1 (exclusive), not {alpha!r}")
    cs = _checked("canary", canary, allow_empty=True, finite=True)
    bs = _checked("baseline", baseline, allow_empty=True, finite=True)
    c_med = statistics.median(cs) if cs else None
    b_med = statistics.median(bs) if bs else None
    test = (
        mann_whitney_u(cs, bs, alternative="greater" if higher_is_worse else "less")
        if cs and bs
        else None
    )

    if test is None or c_med is None or b_med is None or min(len(cs), len(bs)) < MIN_POINTS:
        points = f"canary {_points(len(cs))}, baseline {_points(len(bs))}"
        return Comparison(
            result="inconclusive",
            reason=f"{points} (need {MIN_POINTS} each): inconclusive",
            test=test,
            canary_median=c_med,
            baseline_median=b_med,
        )

    margin = tolerance * abs(b_med)
    outside = c_med > b_med + margin if higher_is_worse else c_med < b_med - margin
    significant = test.p_value < alpha
    if significant and outside:
        result: Result = "fail"
        verdict = "worse"
    elif outside:
        result, verdict = "pass", f"outside the band but not significant (alpha {alpha:g})"
    elif significant:
        result, verdict = "pass", "significant but within the band"
    else:
        result, verdict = "pass", "within the band"
    band = f"band {'+' if higher_is_worse else '-'}{_num(tolerance * 100)}%"
    reason = (
        f"canary median {_num(c_med)} vs baseline {_num(b_med)} "
        f"({_change(c_med, b_med)}, {band}), p={_num(test.p_value, 2)}: {verdict}"
    )
    return Comparison(
        result=result,
        reason=reason,
        test=test,
        canary_median=c_med,
        baseline_median=b_med,
    )


# --- helpers ---------------------------------------------------------------------------------


def _checked(
    name: str, values: Sequence[float], *, allow_empty: bool = False, finite: bool = False
) -> list[float]:
    """``values`` as floats; ValueError for an empty sample (unless allowed) or a NaN."""
    out = [float(v) for v in values]
    if not out and not allow_empty:
        raise ValueError(f"{name} is empty: a Mann–Whitney U test needs at least one value each")
    for i, v in enumerate(out):
        if math.isnan(v):
            raise ValueError(f"{name}[{i}] is NaN: drop no-data points before testing")
        if finite and math.isinf(v):
            raise ValueError(f"{name}[{i}] is {v}: only finite values can be compared")
    return out


def _midranks(values: Sequence[float]) -> tuple[list[float], list[int]]:
    """1-based ranks of ``values``, tied values sharing the mean of their ranks; and the size
    of every group of equal values (1 for a value that occurs once)."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    sizes: list[int] = []
    start = 0
    while start < len(order):
        end = start + 1
        while end < len(order) and values[order[end]] == values[order[start]]:
            end += 1
        rank = (start + 1 + end) / 2  # mean of the ranks start+1 .. end
        for k in range(start, end):
            ranks[order[k]] = rank
        sizes.append(end - start)
        start = end
    return ranks, sizes


def _exact_sf(u: int, n_x: int, n_y: int) -> float:
    """P(U ≥ u) under the null hypothesis, for samples without ties, counted exactly.

    The number of arrangements with U = k is the coefficient of q^k in the Gaussian binomial
    coefficient [m+n choose m]_q = ∏_{i=1..m} (1 - q^(n+i)) / (1 - q^i); the distribution is
    symmetric about mn/2, so only the shorter tail is counted.
    """
    m, n = min(n_x, n_y), max(n_x, n_y)
    total = math.comb(m + n, m)
    upper = u > m * n - u
    k_max = m * n - u if upper else u - 1  # P(U ≥ u) = P(U ≤ mn-u) = 1 - P(U ≤ u-1)
    if k_max < 0:
        return 0.0 if upper else 1.0
    counts = _u_counts(m, n, k_max)
    below = sum(counts)
    return below / total if upper else (total - below) / total


def _u_counts(m: int, n: int, k_max: int) -> list[int]:
    """How many of the C(m+n, m) arrangements have U = k, for k = 0 .. k_max."""
    c = [1] + [0] * k_max  # power series truncated after q^k_max
    for i in range(1, m + 1):
        for k in range(k_max, n + i - 1, -1):  # × (1 - q^(n+i))
            c[k] -= c[k - n - i]
        for k in range(i, k_max + 1):  # ÷ (1 - q^i)
            c[k] += c[k - i]
    return c


def _asymptotic_sf(u: float, n_x: int, n_y: int, tie_sizes: Sequence[int]) -> float:
    """P(U ≥ u) by the normal approximation, tie- and continuity-corrected (SciPy's
    ``_get_mwu_z``, in the same order of operations)."""
    mu = n_x * n_y / 2
    n = n_x + n_y
    tie_term = float(sum(t**3 - t for t in tie_sizes))
    var = n_x * n_y / 12 * ((n + 1) - tie_term / (n * (n - 1)))
    if var <= 0:  # every value equal: U = mu whatever the samples, no evidence either way
        return 1.0
    z = (u - mu - 0.5) / math.sqrt(var)
    return _ndtr(-z)


_MAXLOG = 1024 * math.log(2)  # Cephes' MAXLOG, ln(2^1024): beyond it its erfc returns 0


def _ndtr(a: float) -> float:
    """The standard normal CDF, as Cephes' ``ndtr`` (SciPy's ``special.ndtr``): erf near 0,
    erfc in the tails so that small probabilities keep their relative precision."""
    x = a * math.sqrt(0.5)
    z = abs(x)
    if z < math.sqrt(0.5):
        return 0.5 + 0.5 * math.erf(x)
    y = 0.0 if z * z > _MAXLOG else 0.5 * math.erfc(z)
    return 1.0 - y if x > 0 else y


def _num(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}g}"


def _change(canary: float, baseline: float) -> str:
    """The canary's median relative to the baseline's, as a signed percentage."""
    if baseline == 0:
        return "no change" if canary == 0 else "baseline 0"
    pct = (canary - baseline) / abs(baseline) * 100
    return f"{pct:+.0f}%" if abs(pct) >= 10 else f"{pct:+.1f}%"


def _points(count: int) -> str:
    return f"{count} point" if count == 1 else f"{count} points"
