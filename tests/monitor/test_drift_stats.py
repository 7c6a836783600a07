"""The statistics of drift on synthetic data: unit vectors around chosen directions."""

from __future__ import annotations

import numpy as np
import pytest

from stepladder.monitor import drift_stats as stats


def sphere(n: int, centre: np.ndarray, spread: float, seed: int) -> np.ndarray:
    """`n` unit vectors scattered around `centre`."""
    rng = np.random.default_rng(seed)
    rows = centre + spread * rng.standard_normal((n, len(centre)))
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def direction(dim: int, index: int) -> np.ndarray:
    vector = np.zeros(dim)
    vector[index] = 1.0
    return vector


DIM = 32
HOME = direction(DIM, 0)
AWAY = direction(DIM, 1)


def test_one_distribution_is_not_a_shift() -> None:
    a = sphere(200, HOME, 0.3, seed=1)
    b = sphere(150, HOME, 0.3, seed=2)
    test = stats.distribution_shift(a, b, permutations=300)
    assert test.p_value > 0.05
    assert abs(test.statistic) < 0.01
    assert test.coefficient < 0.005
    assert 0.4 < test.separability < 0.6
    assert (test.reference_n, test.sample_n, len(test.null)) == (200, 150, 300)


def test_another_direction_is_a_shift() -> None:
    a = sphere(200, HOME, 0.3, seed=1)
    b = sphere(100, AWAY, 0.3, seed=2)
    test = stats.distribution_shift(a, b, permutations=200)
    assert test.p_value == pytest.approx(1 / 201)
    assert test.separability > 0.99
    assert test.coefficient > 0.1
    assert test.statistic > max(test.null)


def test_a_tiny_shift_of_a_large_sample_is_significant_but_not_separable() -> None:
    near = HOME + 0.1 * AWAY
    a = sphere(1000, HOME, 0.3, seed=1)
    b = sphere(1000, near / np.linalg.norm(near), 0.3, seed=2)
    test = stats.distribution_shift(a, b, permutations=200)
    assert test.p_value < 0.01
    assert test.separability < 0.6


def test_the_test_is_seeded_and_subsamples() -> None:
    a = sphere(300, HOME, 0.3, seed=1)
    b = sphere(80, HOME + 0.5 * AWAY, 0.3, seed=2)
    first = stats.distribution_shift(a, b, permutations=100, seed=3, max_rows=50)
    again = stats.distribution_shift(a, b, permutations=100, seed=3, max_rows=50)
    assert first == again
    assert (first.reference_n, first.sample_n) == (50, 50)
    with pytest.raises(ValueError, match="at least 2 rows"):
        stats.distribution_shift(a, b[:1])


def test_energy_distance_matches_its_definition() -> None:
    a = sphere(7, HOME, 0.5, seed=4)
    b = sphere(5, AWAY, 0.5, seed=5)

    def mean_distance(x: np.ndarray, y: np.ndarray, same: bool) -> float:
        d = np.linalg.norm(x[:, None, :] - y[None, :, :], axis=2)
        return float(d.sum() / (len(x) * (len(y) - 1) if same else d.size))

    expected = (
        2 * mean_distance(a, b, False) - mean_distance(a, a, True) - mean_distance(b, b, True)
    )
    test = stats.distribution_shift(a, b, permutations=10)
    assert test.statistic == pytest.approx(expected, rel=1e-6)
    assert test.coefficient == pytest.approx(expected / (2 * mean_distance(a, b, False)), rel=1e-6)


def test_separability_of_disjoint_and_mixed_samples() -> None:
    rows = np.vstack([sphere(40, HOME, 0.1, seed=1), sphere(40, AWAY, 0.1, seed=2)])
    second = np.r_[np.zeros(40, bool), np.ones(40, bool)]
    assert stats.separability(rows @ rows.T, second) == 1.0
    shuffled = np.random.default_rng(0).permutation(second)
    assert abs(stats.separability(rows @ rows.T, shuffled) - 0.5) < 0.15


def test_novelty_threshold_and_far_rows() -> None:
    reference = sphere(100, HOME, 0.2, seed=1)
    sample = np.vstack([reference[:3], direction(DIM, 2)[None, :]])
    found = stats.novelty(reference, sample, quantile=0.95)
    assert found.threshold == pytest.approx(np.quantile(found.reference_distances, 0.95))
    assert found.far.tolist() == [False, False, False, True]
    assert found.nearest[:3].tolist() == [0, 1, 2]
    assert found.distances[:3] == pytest.approx(0.0, abs=1e-9)
    assert found.distances[3] == pytest.approx(1 - reference[:, 2].max())
    with pytest.raises(ValueError, match="at least 2 reference rows"):
        stats.novelty(reference[:1], sample)


def test_far_share_p_value() -> None:
    assert stats.far_share_p_value(0, 100, 0.99) == 1.0
    assert stats.far_share_p_value(1, 100, 0.99) > 0.5
    assert stats.far_share_p_value(20, 100, 0.99) < 1e-10
    assert stats.far_share_p_value(0, 0, 0.99) == 1.0


def test_clusters_group_similar_rows_largest_first() -> None:
    rows = np.vstack(
        [
            sphere(5, AWAY, 0.05, seed=1),
            sphere(8, HOME, 0.05, seed=2),
            direction(DIM, 3)[None, :],
        ]
    )
    groups = stats.cluster_rows(rows, distance=0.5)
    assert [len(group) for group in groups] == [8, 5, 1]
    assert set(groups[0]) == set(range(5, 13))
    centre = rows[list(groups[0])].mean(axis=0)
    closeness = [rows[i] @ centre for i in groups[0]]
    assert closeness == sorted(closeness, reverse=True)
    assert stats.cluster_rows(rows[:0]) == ()
    assert stats.cluster_rows(rows[:1]) == ((0,),)


def test_rates_with_fishers_exact_test() -> None:
    same = stats.compare_rates(10, 100, 10, 100)
    assert same.p_value == 1.0
    higher = stats.compare_rates(4, 200, 40, 200)
    assert higher.p_value < 1e-6
    assert (higher.reference_rate, higher.sample_rate) == (0.02, 0.2)
    assert stats.compare_rates(0, 0, 3, 10).p_value == 1.0


def test_scores_with_mann_whitney() -> None:
    low = [0.2 + i / 100 for i in range(30)]
    high = [0.6 + i / 100 for i in range(30)]
    assert stats.compare_scores(low, high).p_value < 1e-6
    assert stats.compare_scores(low, low).p_value > 0.9
    assert stats.compare_scores([0.5, 0.5], [0.5]).p_value == 1.0
    empty = stats.compare_scores([], high)
    assert (empty.p_value, empty.reference_mean, empty.sample_n) == (1.0, 0.0, 30)


def test_format_p() -> None:
    assert stats.format_p(0.3217) == "0.32"
    assert stats.format_p(0.002) == "0.002"
    assert stats.format_p(0.00004) == "4.0e-05"
