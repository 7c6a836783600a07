import math

import numpy as np
import pytest

from stepladder.evalsets.stats import (
    Interval,
    bootstrap_diff_ci,
    mcnemar,
    mean_ci,
    paired_bootstrap,
    percentile,
    t_quantile,
)


def test_wilson_interval_for_8_of_10_by_hand() -> None:
    # p = 0.8, z = 1.96: centre (0.8 + z²/20) / (1 + z²/10), half-width
    # z / (1 + z²/10) * sqrt(0.8 * 0.2 / 10 + z²/400)
    z = 1.959963984540054
    centre = (0.8 + z * z / 20) / (1 + z * z / 10)
    half = z / (1 + z * z / 10) * math.sqrt(0.016 + z * z / 400)
    interval = mean_ci([1.0] * 8 + [0.0] * 2, binary=True)
    assert interval.mean == pytest.approx(0.8)
    assert interval.low == pytest.approx(centre - half) == pytest.approx(0.4902, abs=1e-4)
    assert interval.high == pytest.approx(centre + half) == pytest.approx(0.9433, abs=1e-4)
    assert interval.n == 10


def test_wilson_stays_inside_0_1_at_the_extremes() -> None:
    all_pass = mean_ci([1.0] * 5, binary=True)
    assert all_pass.high == 1.0 and 0.5 < all_pass.low < 1.0
    all_fail = mean_ci([0.0] * 5, binary=True)
    assert all_fail.low == 0.0 and 0.0 < all_fail.high < 0.5


def test_student_t_interval_by_hand() -> None:
    values = [0.2, 0.4, 0.6, 0.8]  # mean 0.5, sd sqrt(0.2/3), t(3) = 3.182446
    interval = mean_ci(values, binary=False)
    half = 3.182446305284263 * math.sqrt(0.2 / 3 / 4)
    assert interval.mean == pytest.approx(0.5)
    assert interval.low == pytest.approx(0.5 - half)
    assert interval.high == pytest.approx(0.5 + half)


def test_bounded_scores_keep_their_t_interval_inside_the_bounds() -> None:
    values = [0.1, 0.75, 0.75]  # token F1 of three cases: t(2) spreads it over [-0.40, 1.47]
    free = mean_ci(values, binary=False)
    assert free.low < 0.0 and free.high > 1.0
    bounded = mean_ci(values, binary=False, bounds=(0.0, 1.0))
    assert (bounded.mean, bounded.low, bounded.high) == (free.mean, 0.0, 1.0)
    narrow = mean_ci([0.5, 0.55, 0.6, 0.5, 0.55], binary=False, bounds=(0.0, 1.0))
    assert narrow == mean_ci([0.5, 0.55, 0.6, 0.5, 0.55], binary=False)  # nothing to clip
    near_one = mean_ci([1.0, 1.0, 0.9], binary=False, bounds=(0.0, 1.0))
    assert near_one.high == 1.0 and 0.0 < near_one.low < near_one.mean


def test_empty_and_single_value_intervals_are_finite() -> None:
    for binary in (True, False):
        assert mean_ci([], binary) == Interval(0.0, 0.0, 0.0, 0)
    assert mean_ci([0.7], binary=False) == Interval(0.7, 0.7, 0.7, 1)
    assert all(math.isfinite(x) for x in (mean_ci([1.0], True).low, mean_ci([1.0], True).high))


@pytest.mark.parametrize(
    ("df", "expected"),
    [
        (1, 12.706205),
        (2, 4.302653),
        (5, 2.570582),
        (10, 2.228139),
        (30, 2.042272),
        (120, 1.979930),
        (1000, 1.962339),
        (100_000, 1.959988),
    ],
)
def test_t_quantiles_match_the_tables(df: int, expected: float) -> None:
    assert t_quantile(df) == pytest.approx(expected, abs=2e-6)


def test_t_quantiles_match_scipy_when_present() -> None:
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 3, 7, 50, 199, 201, 999):
        assert t_quantile(df) == pytest.approx(stats.t.ppf(0.975, df), abs=1e-7)


def test_percentile_interpolates_linearly() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([0.0, 10.0], 95) == pytest.approx(9.5)
    assert percentile([], 50) == 0.0


def test_mcnemar_exact_for_1_against_9() -> None:
    pairs = [(1.0, 0.0)] + [(0.0, 1.0)] * 9 + [(1.0, 1.0)] * 20 + [(0.0, 0.0)] * 5
    result = mcnemar(pairs)
    assert result.p_value == pytest.approx(2 * 11 / 1024)  # 0.0215
    assert round(result.p_value, 4) == 0.0215
    assert result.statistic == 1 and result.method == "mcnemar-exact"


def test_mcnemar_without_discordant_pairs_and_symmetric() -> None:
    assert mcnemar([(1.0, 1.0), (0.0, 0.0)]).p_value == 1.0
    assert mcnemar([]).p_value == 1.0
    assert mcnemar([(1.0, 0.0), (0.0, 1.0)]).p_value == 1.0  # capped at 1


def test_bootstrap_is_deterministic_and_signed() -> None:
    rng = np.random.default_rng(7)
    base = rng.uniform(0.4, 0.6, 60).tolist()
    worse = [b - 0.1 + d for b, d in zip(base, rng.normal(0, 0.02, 60), strict=True)]
    first = paired_bootstrap(base, worse, resamples=2000, seed=3)
    assert first == paired_bootstrap(base, worse, resamples=2000, seed=3)
    assert first.statistic == pytest.approx(np.mean(worse) - np.mean(base))
    assert first.statistic < 0 and first.p_value < 0.001
    better = paired_bootstrap(worse, base, resamples=2000, seed=3)
    assert better.statistic == pytest.approx(-first.statistic) and better.p_value < 0.001
    assert first.method == "paired-bootstrap"


def test_bootstrap_of_equal_runs_is_not_significant() -> None:
    values = [0.1, 0.5, 0.9, 0.3]
    assert paired_bootstrap(values, values).p_value == 1.0
    noisy = paired_bootstrap([0.5] * 20, [0.5 + (-1) ** i * 0.1 for i in range(20)], seed=1)
    assert noisy.p_value > 0.5


def test_bootstrap_ci_brackets_the_difference() -> None:
    base = [0.5] * 30
    cand = [0.6 + 0.01 * (i % 5) for i in range(30)]
    interval = bootstrap_diff_ci(base, cand, resamples=3000)
    assert interval.low <= interval.mean <= interval.high
    assert interval.low >= 0.1 and interval.high <= 0.14
    assert bootstrap_diff_ci([], []) == Interval(0.0, 0.0, 0.0, 0)
    with pytest.raises(ValueError, match="length"):
        paired_bootstrap([1.0], [1.0, 0.0])
