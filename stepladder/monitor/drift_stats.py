"""The statistics of drift, on plain numpy arrays (rows are L2-normalised embeddings).

- Distribution shift: the energy distance between two samples (U-statistics, so it is about 0
  when they come from one distribution, whatever their sizes) with a permutation-test p-value,
  its coefficient `H = E / (2 E|X-Y|)` in [0, 1], and, as the effect size, the
  *separability*: the AUC with which each row's k nearest neighbours tell which sample it came
  from (0.5: indistinguishable; it grows about as 0.5 + half the share of rows that differ).
- Novelty: a sample row is *far* when its cosine distance to the nearest reference row exceeds
  a high quantile of the reference rows' own leave-one-out nearest-neighbour distances; far rows
  are grouped by average-linkage agglomerative clustering on cosine distance.
- Rates: Fisher's exact test on two proportions; scores: the Mann-Whitney U test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "Novelty",
    "RateTest",
    "ScoreTest",
    "ShiftTest",
    "cluster_rows",
    "compare_rates",
    "compare_scores",
    "distribution_shift",
    "far_share_p_value",
    "format_p",
    "novelty",
    "separability",
]

Matrix = NDArray[np.float64]
BATCH = 100


@dataclass(frozen=True)
class ShiftTest:
    """An energy-distance permutation test of two samples.

    Attributes:
        statistic: The energy distance (U-statistic; about 0 under no shift, may dip below).
        coefficient: The energy coefficient `statistic / (2 E|X-Y|)`, floored at 0.
        separability: The k-nearest-neighbour AUC of telling the samples apart (0.5: not).
        p_value: `(1 + #null >= statistic) / (1 + permutations)`.
        null: The statistic under each permutation (for the report's plot).
        reference_n: Reference rows used (after subsampling).
        sample_n: Sample rows used (after subsampling).
    """

    statistic: float
    coefficient: float
    separability: float
    p_value: float
    null: tuple[float, ...]
    reference_n: int
    sample_n: int

    @property
    def permutations(self) -> int:
        """Permutations drawn."""
        return len(self.null)


@dataclass(frozen=True)
class Novelty:
    """How far each sample row lies from the reference.

    Attributes:
        threshold: The cosine distance beyond which a row is far.
        quantile: The quantile of the reference's leave-one-out distances that set it.
        reference_distances: Each reference row's distance to its nearest other reference row.
        distances: Each sample row's distance to its nearest reference row.
        nearest: The index of that nearest reference row.
    """

    threshold: float
    quantile: float
    reference_distances: NDArray[np.float64]
    distances: NDArray[np.float64]
    nearest: NDArray[np.int64]

    @property
    def far(self) -> NDArray[np.bool_]:
        """Which sample rows are far."""
        return np.asarray(self.distances > self.threshold)


@dataclass(frozen=True)
class RateTest:
    """Two proportions compared with Fisher's exact test."""

    reference_hits: int
    reference_n: int
    sample_hits: int
    sample_n: int
    p_value: float

    @property
    def reference_rate(self) -> float:
        """The reference proportion."""
        return self.reference_hits / self.reference_n if self.reference_n else 0.0

    @property
    def sample_rate(self) -> float:
        """The sample proportion."""
        return self.sample_hits / self.sample_n if self.sample_n else 0.0


@dataclass(frozen=True)
class ScoreTest:
    """Two sets of scores compared with the two-sided Mann-Whitney U test."""

    reference_mean: float
    reference_n: int
    sample_mean: float
    sample_n: int
    p_value: float


def distribution_shift(
    reference: Matrix,
    sample: Matrix,
    *,
    permutations: int = 500,
    seed: int = 0,
    max_rows: int = 1000,
) -> ShiftTest:
    """Test whether `sample` comes from the distribution of `reference` (energy distance).

    Args:
        reference: Reference rows.
        sample: Sample rows.
        permutations: Label permutations drawn for the null distribution.
        seed: The seed of the subsampling and the permutations.
        max_rows: Each side is subsampled to at most this many rows.

    Raises:
        ValueError: If either side has fewer than 2 rows.
    """
    if len(reference) < 2 or len(sample) < 2:
        raise ValueError("the energy distance needs at least 2 rows on each side")
    rng = np.random.default_rng(seed)
    ref, smp = _subsample(reference, max_rows, rng), _subsample(sample, max_rows, rng)
    pooled = np.vstack([ref, smp]).astype(np.float64)
    similarity = pooled @ pooled.T
    distances = np.sqrt(np.clip(2.0 - 2.0 * similarity, 0.0, None))
    np.fill_diagonal(distances, 0.0)
    first = np.zeros(len(pooled), dtype=bool)
    first[: len(ref)] = True
    statistic, cross = _energy(distances, first[:, None])
    null = _null(distances, len(ref), permutations, rng)
    p_value = (1 + int(np.sum(null >= statistic[0]))) / (1 + permutations)
    coefficient = max(0.0, float(statistic[0] / (2 * cross[0]))) if cross[0] > 0 else 0.0
    return ShiftTest(
        statistic=float(statistic[0]),
        coefficient=coefficient,
        separability=separability(similarity, ~first),
        p_value=p_value,
        null=tuple(float(v) for v in null),
        reference_n=len(ref),
        sample_n=len(smp),
    )


def _subsample(rows: Matrix, cap: int, rng: np.random.Generator) -> Matrix:
    if len(rows) <= cap:
        return rows
    return rows[np.sort(rng.choice(len(rows), size=cap, replace=False))]


def _null(distances: Matrix, first_n: int, permutations: int, rng: np.random.Generator) -> Matrix:
    """The statistic under `permutations` random splits of the pooled rows."""
    total = len(distances)
    values: list[Matrix] = []
    for start in range(0, permutations, BATCH):
        count = min(BATCH, permutations - start)
        order = np.argsort(rng.random((count, total)), axis=1)
        masks = np.zeros((total, count), dtype=bool)
        masks[order[:, :first_n].T, np.arange(count)] = True
        values.append(_energy(distances, masks)[0])
    return np.concatenate(values) if values else np.zeros(0)


def _energy(distances: Matrix, masks: NDArray[np.bool_]) -> tuple[Matrix, Matrix]:
    """Energy distance (U-statistics) and mean cross distance for each column of `masks`.

    `masks[:, k]` marks the rows of the first sample in split `k`.
    """
    first = masks.astype(np.float64)
    n1 = first.sum(axis=0)
    n2 = len(distances) - n1
    row_sums = distances.sum(axis=1)
    total = row_sums.sum()
    within_first = np.einsum("ik,ik->k", first, distances @ first)
    first_to_all = row_sums @ first
    cross = first_to_all - within_first
    within_second = total - within_first - 2 * cross
    mean_cross = cross / (n1 * n2)
    energy = 2 * mean_cross - within_first / (n1 * (n1 - 1)) - within_second / (n2 * (n2 - 1))
    return energy, mean_cross


def separability(similarity: Matrix, second: NDArray[np.bool_], k: int = 10) -> float:
    """AUC of telling the second sample from the first by each row's k nearest neighbours.

    Each row is scored by the share of its k most similar other rows that belong to the
    second sample; the AUC of that score is 0.5 when the samples cannot be told apart (a
    little under, by the leave-one-out), 1 when they are disjoint.

    Args:
        similarity: Pooled row-by-row similarities (cosine, for normalised rows).
        second: Which rows belong to the second sample.
        k: Neighbours per row (fewer when the pool is small).
    """
    # Lazy: SciPy is slow to import; only a drift check's tests need it.
    from scipy.stats import rankdata

    total = len(similarity)
    k = max(1, min(k, total - 1))
    ranked = similarity.copy()
    np.fill_diagonal(ranked, -np.inf)
    neighbours = np.argpartition(-ranked, k - 1, axis=1)[:, :k]
    scores = second[neighbours].mean(axis=1)
    ranks = rankdata(scores)
    positives, negatives = int(second.sum()), int((~second).sum())
    if not positives or not negatives:
        return 0.5
    wins = ranks[second].sum() - positives * (positives + 1) / 2
    return float(wins / (positives * negatives))


def novelty(reference: Matrix, sample: Matrix, *, quantile: float = 0.99) -> Novelty:
    """Nearest-reference cosine distances, and the threshold that makes a sample row far.

    Raises:
        ValueError: If the reference has fewer than 2 rows.
    """
    if len(reference) < 2:
        raise ValueError("novelty needs at least 2 reference rows")
    ref = reference.astype(np.float64)
    own = 1.0 - ref @ ref.T
    np.fill_diagonal(own, np.inf)
    loo = np.clip(own.min(axis=1), 0.0, 2.0)
    threshold = float(np.quantile(loo, quantile))
    distances = np.zeros(len(sample))
    nearest = np.zeros(len(sample), dtype=np.int64)
    for start in range(0, len(sample), 1024):
        block = 1.0 - sample[start : start + 1024].astype(np.float64) @ ref.T
        nearest[start : start + len(block)] = block.argmin(axis=1)
        distances[start : start + len(block)] = np.clip(block.min(axis=1), 0.0, 2.0)
    return Novelty(threshold, quantile, loo, distances, nearest)


def far_share_p_value(far: int, total: int, quantile: float) -> float:
    """P(at least `far` of `total` rows far) when each is far with chance `1 - quantile`."""
    # Lazy: SciPy is slow to import; only a drift check's tests need it.
    from scipy.stats import binomtest

    if total == 0:
        return 1.0
    return float(binomtest(far, total, 1.0 - quantile, alternative="greater").pvalue)


def cluster_rows(rows: Matrix, *, distance: float = 0.6) -> tuple[tuple[int, ...], ...]:
    """Average-linkage clusters on cosine distance, cut at `distance`: row indices per group.

    Groups come largest first; each lists its rows from the one nearest its centre outwards.
    """
    if len(rows) < 2:
        return tuple((i,) for i in range(len(rows)))
    # Lazy: scikit-learn is slow to import; only clustering new inputs needs it.
    from sklearn.cluster import AgglomerativeClustering

    model = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=distance
    )
    labels = np.asarray(model.fit_predict(rows), dtype=np.int64)
    groups = [_centred(rows, np.flatnonzero(labels == label)) for label in np.unique(labels)]
    groups.sort(key=lambda group: (-len(group), group[0]))
    return tuple(groups)


def _centred(rows: Matrix, members: NDArray[np.int64]) -> tuple[int, ...]:
    """`members` ordered by cosine similarity to their mean, highest first."""
    centre = rows[members].mean(axis=0)
    order = np.argsort(-(rows[members] @ centre), kind="stable")
    return tuple(int(i) for i in members[order])


def compare_rates(
    reference_hits: int, reference_n: int, sample_hits: int, sample_n: int
) -> RateTest:
    """Fisher's exact test (two-sided) of two proportions."""
    # Lazy: SciPy is slow to import; only a drift check's tests need it.
    from scipy.stats import fisher_exact

    table = [[sample_hits, sample_n - sample_hits], [reference_hits, reference_n - reference_hits]]
    p_value = 1.0 if not (reference_n and sample_n) else float(fisher_exact(table)[1])
    return RateTest(reference_hits, reference_n, sample_hits, sample_n, min(1.0, p_value))


def compare_scores(reference: Sequence[float], sample: Sequence[float]) -> ScoreTest:
    """The two-sided Mann-Whitney U test of two sets of scores (p = 1 when one is empty)."""
    # Lazy: SciPy is slow to import; only a drift check's tests need it.
    from scipy.stats import mannwhitneyu

    p_value = 1.0
    if reference and sample and len(set(reference) | set(sample)) > 1:
        p_value = float(mannwhitneyu(sample, reference, alternative="two-sided").pvalue)
    return ScoreTest(
        reference_mean=_mean(reference),
        reference_n=len(reference),
        sample_mean=_mean(sample),
        sample_n=len(sample),
        p_value=p_value if math.isfinite(p_value) else 1.0,
    )


def format_p(value: float) -> str:
    """A p-value with two significant digits (`0.0021`, `0.32`, `3.1e-05`)."""
    return f"{value:.2g}" if value >= 0.001 else f"{value:.1e}"


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else 0.0
