"""The statistics behind eval reports and comparisons: confidence intervals and paired tests.

Everything here is exact or seeded, so a report or a CI gate gives the same answer on every
machine: Wilson score intervals for pass/fail metrics, Student-t intervals for continuous ones
(clipped to the scores' bounds, so a [0, 1] score never gets an interval outside [0, 1]),
McNemar's exact test for paired pass/fail outcomes and a paired bootstrap for continuous scores.
The t quantiles come from the exact t distribution function for integer degrees of freedom
(Abramowitz & Stegun 26.7.3-4), so no SciPy is needed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

__all__ = [
    "Interval",
    "TestResult",
    "bootstrap_diff_ci",
    "mcnemar",
    "mean_ci",
    "paired_bootstrap",
    "percentile",
    "t_quantile",
]

Z_975 = 1.959963984540054
"""The 97.5% quantile of the standard normal: a two-sided 95% interval."""

LARGE_DF = 200
"""Above this many degrees of freedom the 95% t quantile comes from its series expansion."""

BOOTSTRAP_CHUNK = 4_000_000
"""At most this many resampled indices are held at once (about 32 MB)."""


@dataclass(frozen=True)
class Interval:
    """A mean and its 95% confidence interval.

    Attributes:
        mean: The sample mean (0 when there are no values).
        low: The interval's lower bound.
        high: The interval's upper bound.
        n: How many values it was computed from.
    """

    mean: float
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class TestResult:
    """The outcome of a two-sided test.

    Attributes:
        statistic: McNemar: the smaller count of discordant pairs; bootstrap: the observed
            mean difference (candidate minus baseline).
        p_value: The two-sided p-value.
        method: `mcnemar-exact` or `paired-bootstrap`.
    """

    __test__ = False  # not a pytest test class

    statistic: float
    p_value: float
    method: str


def mean_ci(
    values: Sequence[float], binary: bool, bounds: tuple[float, float] | None = None
) -> Interval:
    """The mean of `values` with a 95% confidence interval.

    Args:
        values: The scores.
        binary: Use the Wilson score interval (pass/fail scores); else Student-t.
        bounds: The least and greatest value a score can take (`(0, 1)` for metrics): the
            Student-t interval is clipped to them, as the mean cannot lie outside. Clipping
            never lowers the coverage, and with two or three cases the interval honestly
            spans most of the range. The Wilson interval is inside [0, 1] already.

    Returns:
        The interval; no values give `Interval(0, 0, 0, 0)`, one continuous value a zero-width
        interval (no spread can be estimated from one value).
    """
    n = len(values)
    if n == 0:
        return Interval(0.0, 0.0, 0.0, 0)
    mean = math.fsum(values) / n
    if binary:
        low, high = _wilson(mean, n)
        return Interval(mean, low, high, n)
    if n == 1:
        return Interval(mean, mean, mean, 1)
    variance = math.fsum((value - mean) ** 2 for value in values) / (n - 1)
    half = t_quantile(n - 1) * math.sqrt(variance / n)
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(bounds[0], low), min(bounds[1], high)
    return Interval(mean, low, high, n)


def _wilson(share: float, n: int) -> tuple[float, float]:
    z2 = Z_975 * Z_975
    denominator = 1 + z2 / n
    centre = (share + z2 / (2 * n)) / denominator
    half = Z_975 / denominator * math.sqrt(share * (1 - share) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


@lru_cache(maxsize=256)
def t_quantile(df: int, confidence: float = 0.95) -> float:
    """The two-sided Student-t critical value: `P(|T| <= t) = confidence` for `df` degrees."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1, not {df}")
    if confidence == 0.95 and df > LARGE_DF:
        return _cornish_fisher(df)
    low, high = 0.0, 1.0
    while _t_central(high, df) < confidence:
        high *= 2
    for _ in range(64):
        middle = (low + high) / 2
        if _t_central(middle, df) < confidence:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def _cornish_fisher(df: int) -> float:
    """The 97.5% t quantile for large `df` from its expansion around the normal (A&S 26.7.5)."""
    z = Z_975
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


def _t_central(t: float, df: int) -> float:
    """`P(|T| <= t)` for Student's t with integer `df` (Abramowitz & Stegun 26.7.3-4)."""
    theta = math.atan(t / math.sqrt(df))
    sin, cos2 = math.sin(theta), math.cos(theta) ** 2
    if df % 2 == 0:
        term, total = 1.0, 1.0
        for k in range(2, df - 1, 2):  # (1*3*...*(k-1)) / (2*4*...*k) * cos^k
            term *= (k - 1) / k * cos2
            total += term
        return sin * total
    if df == 1:
        return 2 * theta / math.pi
    term = math.sqrt(cos2)
    total = term
    for k in range(3, df - 1, 2):  # (2*4*...*(k-1)) / (1*3*...*k) * cos^k
        term *= (k - 1) / k * cos2
        total += term
    return 2 / math.pi * (theta + sin * total)


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0-100) with linear interpolation; 0 when there are no values."""
    if not values:
        return 0.0
    return float(np.percentile(np.asarray(values, dtype=float), q))


def mcnemar(pairs: Iterable[tuple[float, float]]) -> TestResult:
    """McNemar's exact test on paired pass/fail outcomes.

    Args:
        pairs: `(baseline, candidate)` scores of each case; a score of 0.5 or more passes.

    Returns:
        The smaller discordant count and the exact two-sided binomial p-value of the
        discordant pairs (1 when there are none).
    """
    fixed = broke = 0
    for base, cand in pairs:
        passed_before, passed_after = base >= 0.5, cand >= 0.5
        if passed_before and not passed_after:
            broke += 1
        elif passed_after and not passed_before:
            fixed += 1
    discordant, smaller = fixed + broke, min(fixed, broke)
    if discordant == 0:
        return TestResult(0.0, 1.0, "mcnemar-exact")
    tail = math.fsum(math.comb(discordant, i) for i in range(smaller + 1)) / 2.0**discordant
    return TestResult(float(smaller), min(1.0, 2 * tail), "mcnemar-exact")


def paired_bootstrap(
    base: Sequence[float], cand: Sequence[float], *, resamples: int = 10_000, seed: int = 0
) -> TestResult:
    """A two-sided paired bootstrap test of the mean difference `cand - base`.

    The p-value is the share of resampled mean differences, shifted to the null of no
    difference, at least as far from 0 as the observed one (with the usual +1 correction).

    Args:
        base: The baseline's scores.
        cand: The candidate's scores, case by case in the same order.
        resamples: How many bootstrap samples to draw.
        seed: The seed of the numpy generator (the same inputs give the same p-value).
    """
    diffs = _diffs(base, cand)
    if diffs.size == 0:
        return TestResult(0.0, 1.0, "paired-bootstrap")
    observed = float(diffs.mean())
    means = _resampled_means(diffs, resamples, seed)
    extreme = np.count_nonzero(np.abs(means - observed) >= abs(observed) - 1e-12)
    p_value = min(1.0, (int(extreme) + 1) / (resamples + 1))
    return TestResult(observed, p_value, "paired-bootstrap")


def bootstrap_diff_ci(
    base: Sequence[float], cand: Sequence[float], *, resamples: int = 10_000, seed: int = 0
) -> Interval:
    """The mean difference `cand - base` with a 95% paired bootstrap percentile interval."""
    diffs = _diffs(base, cand)
    if diffs.size == 0:
        return Interval(0.0, 0.0, 0.0, 0)
    means = _resampled_means(diffs, resamples, seed)
    low, high = np.percentile(means, [2.5, 97.5])
    return Interval(float(diffs.mean()), float(low), float(high), int(diffs.size))


def _diffs(base: Sequence[float], cand: Sequence[float]) -> npt.NDArray[np.float64]:
    if len(base) != len(cand):
        raise ValueError(f"paired samples differ in length ({len(base)} != {len(cand)})")
    difference: npt.NDArray[np.float64] = np.asarray(cand, dtype=np.float64) - np.asarray(
        base, dtype=np.float64
    )
    return difference


def _resampled_means(
    diffs: npt.NDArray[np.float64], resamples: int, seed: int
) -> npt.NDArray[np.float64]:
    """Means of `resamples` resamples of `diffs`, drawn in chunks to bound memory."""
    rng = np.random.default_rng(seed)
    n = diffs.size
    rows = max(1, BOOTSTRAP_CHUNK // n)
    chunks: list[npt.NDArray[np.float64]] = []
    for start in range(0, resamples, rows):
        count = min(rows, resamples - start)
        chunks.append(diffs[rng.integers(0, n, size=(count, n))].mean(axis=1))
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float64)
