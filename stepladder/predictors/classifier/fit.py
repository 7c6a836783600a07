"""The numerical core of embedding classifiers: kernel ridge regression, calibration, threshold.

The model is kernel ridge regression on one-hot label targets, with the kernel
`k(x, y) = exp(gamma * (cos(x, y) - 1))` between normalised embeddings. Its output for a label
is high only near that label's training examples, so the score of a decision (the best label's
output, minus the out-of-scope output when there are out-of-scope training examples) falls for
requests unlike anything seen in training: it measures both agreement and closeness.

Scores become confidences by Platt scaling on validation data (the probability that the
decision is right). With out-of-scope validation examples, the threshold on the score maximises
balanced accuracy; without them, requests less similar to every training example than nearly
all validation examples (`max_rejection` of them) are rejected.
The fit is exact for small sets and uses Nyström landmarks for large ones (`nystrom`).
"""

from __future__ import annotations

import contextlib
import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stepladder.predictors.classifier.nystrom import (
    Advance,
    exact_weights,
    nystrom_weights,
    stratified_sample,
)

__all__ = [
    "EXACT_LIMIT",
    "LANDMARKS",
    "Decisions",
    "KernelModel",
    "Platt",
    "balanced_threshold",
    "fit_kernel_ridge",
    "fit_platt",
    "rejection_threshold",
]

Floats = NDArray[np.floating[Any]]
Ints = NDArray[np.integer[Any]]
SMALL_BATCH = 16
# Exact up to 16,000 examples (a 1 GB kernel matrix); above, Nyström with 4,000 landmarks
# (about 0.5 GB, and time linear in the examples). On CLINC150 (15,100 examples) Nyström with
# 4,000 / 6,000 / 8,000 landmarks gave 0.935 / 0.941 / 0.943 in-scope accuracy, exact 0.947.
EXACT_LIMIT = 16_000
LANDMARKS = 4_000


@dataclass(frozen=True)
class KernelModel:
    """Kernel ridge regression over landmark embeddings.

    Attributes:
        landmarks: The training embeddings the kernel compares with (m x d, normalised).
        alpha: Dual weights (m x outputs).
        gamma: Kernel width: `exp(gamma * (cos - 1))`.
        oos_column: Whether the last output is the out-of-scope one.
        exact: Whether every training example is a landmark (else a Nyström fit).
    """

    landmarks: Floats
    alpha: Floats
    gamma: float
    oos_column: bool
    exact: bool = True

    @property
    def labels_count(self) -> int:
        """How many in-scope labels the model scores."""
        return int(self.alpha.shape[1]) - int(self.oos_column)

    def outputs(self, vectors: Floats) -> tuple[Floats, Floats]:
        """The model's output for every label, and each vector's nearest-landmark cosine."""
        rows = np.asarray(vectors, np.float32)
        with _few_blas_threads(len(rows)):
            cosine = rows @ self.landmarks.T
            kernel = np.exp(self.gamma * (cosine - 1.0))
            outputs = np.asarray(kernel @ self.alpha, dtype=np.float64)
        return outputs, np.asarray(cosine.max(axis=1), dtype=np.float64)

    def decide(self, vectors: Floats) -> Decisions:
        """The best in-scope label of each vector, the decision's score and the similarity."""
        outputs, similarity = self.outputs(vectors)
        inside = outputs[:, : self.labels_count]
        best = inside.argmax(axis=1)
        score = inside[np.arange(len(best)), best]
        if self.oos_column:
            score = score - outputs[:, -1]
        return Decisions(best, score, similarity)


@dataclass(frozen=True)
class Decisions:
    """What the model says about a batch of vectors.

    Attributes:
        best: The index of the best in-scope label.
        score: Its output, minus the out-of-scope output when there is one.
        similarity: Cosine similarity to the nearest training example (landmark).
    """

    best: Ints
    score: Floats
    similarity: Floats


_blas: list[Any] = []


def _few_blas_threads(rows: int) -> contextlib.AbstractContextManager[Any]:
    """One BLAS thread for a few rows.

    Idle BLAS threads spin for a while after each call; on two cores that made the embedding
    model's next forward pass take nearly twice as long (single-query p50 24 ms -> 13 ms).
    """
    if rows > SMALL_BATCH:
        return contextlib.nullcontext()
    if not _blas:
        try:  # comes with scikit-learn (a sentence-transformers dependency)
            controller = importlib.import_module("threadpoolctl").ThreadpoolController()
        except ImportError:  # pragma: no cover
            controller = None
        _blas.append(controller)
    controller = _blas[0]
    return (
        contextlib.nullcontext()
        if controller is None
        else controller.limit(limits=1, user_api="blas")
    )


def fit_kernel_ridge(
    vectors: Floats,
    targets: Ints,
    outputs: int,
    *,
    gamma: float = 2.0,
    ridge: float = 0.1,
    exact_limit: int = EXACT_LIMIT,
    landmarks: int = LANDMARKS,
    oos_column: bool = False,
    seed: int = 0,
    advance: Advance | None = None,
) -> KernelModel:
    """Fit kernel ridge regression to one-hot `targets` (0 .. outputs-1).

    Up to `exact_limit` examples the exact solution is computed (memory 4 n² bytes, time
    growing with n³); above it, ridge regression on Nyström features of `landmarks` examples
    (a seeded stratified sample), streamed in chunks (memory 8 m², time n m²).

    Args:
        vectors: Normalised embeddings (n x d).
        targets: Each example's output index.
        outputs: How many outputs.
        gamma: Kernel width.
        ridge: Ridge penalty.
        exact_limit: The most examples fitted exactly.
        landmarks: Landmarks of the Nyström fit.
        oos_column: Whether the last output is the out-of-scope one.
        seed: Seed for the landmark sample.
        advance: Called with (examples done, examples) as the Nyström fit streams them.
    """
    data = np.asarray(vectors, dtype=np.float32)
    exact = len(data) <= exact_limit
    if exact:
        onehot = np.zeros((len(targets), outputs))
        onehot[np.arange(len(targets)), targets] = 1.0
        alpha, marks = exact_weights(data, onehot, gamma, ridge), data
    else:
        marks = data[stratified_sample(targets, landmarks, seed)]
        alpha = nystrom_weights(data, targets, outputs, marks, gamma, ridge, advance)
    return KernelModel(marks, alpha.astype(np.float32), gamma, oos_column, exact)


@dataclass(frozen=True)
class Platt:
    """A logistic map from decision scores to the probability the decision is right."""

    slope: float
    intercept: float

    def __call__(self, scores: Floats) -> Floats:
        """Probabilities for `scores`."""
        return np.asarray(1.0 / (1.0 + np.exp(-(self.slope * np.asarray(scores) + self.intercept))))


PRIOR_MAP = Platt(8.0, -4.0)  # score 0.5 -> 0.5, score 1 -> 0.98, score 0 -> 0.02


def fit_platt(
    scores: Floats, right: NDArray[np.bool_], prior: float = 1.0, iterations: int = 50
) -> Platt:
    """Fit `P(right | score)` by Newton's method, with Platt's smoothed targets.

    A Gaussian prior of strength `prior` pulls the fit towards `PRIOR_MAP` (the kernel
    output read as a probability), so a small validation set with few or no wrong
    decisions still gives confidences that rise with the score.
    """
    x = np.asarray(scores, dtype=np.float64)
    positives, negatives = int(right.sum()), int((~right).sum())
    target = np.where(right, (positives + 1) / (positives + 2), 1 / (negatives + 2))
    centre = np.array([PRIOR_MAP.slope, PRIOR_MAP.intercept])
    weights = centre.copy()
    design = np.column_stack([x, np.ones_like(x)])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(design @ weights)))
        gradient = design.T @ (p - target) + prior * (weights - centre)
        hessian = (design * (p * (1 - p))[:, None]).T @ design + prior * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if np.abs(step).max() < 1e-9:
            break
    return Platt(float(weights[0]), float(weights[1]))


def balanced_threshold(in_scores: Floats, in_right: NDArray[np.bool_], oos_scores: Floats) -> float:
    """The score threshold that maximises balanced accuracy on validation examples.

    Balanced accuracy is (in-scope accuracy, a rejected request counting as wrong, plus
    out-of-scope recall) / 2. The threshold lies halfway between two neighbouring scores.
    """
    scores = np.concatenate([in_scores, oos_scores])
    candidates = np.unique(np.concatenate([scores, [scores.max() + 1.0]]))
    kept = np.sort(in_scores[in_right])
    accuracy = (len(kept) - np.searchsorted(kept, candidates, side="left")) / len(in_scores)
    recall = np.searchsorted(np.sort(oos_scores), candidates, side="left") / len(oos_scores)
    best = int(np.argmax(accuracy + recall))
    if best == 0:
        return float(candidates[0])
    return float((candidates[best] + candidates[best - 1]) / 2)


def rejection_threshold(similarities: Floats, share: float) -> float:
    """The similarity below which `share` of the (in-scope) validation examples fall."""
    return float(np.quantile(similarities, share)) if share > 0 else -1.0
