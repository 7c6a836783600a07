"""A router made of fold models, so that calibration sees the very scores it routes with.

Training splits the examples into folds by a hash of their texts and fits one model per fold
on the other folds (hyper-parameters chosen once, by inner cross-validation on all the
examples, or on a seeded subset of `FitOptions.select_limit` of them above that). Each
example's held-out prediction comes from the model that did not train on it; copies of one
text share a fold. Calibration picks its thresholds on those predictions.

A new text is scored by one fold model too, the one a hash of the text names: like every
held-out example, it is scored by a model trained on the other folds' share of the data,
which never saw it. Its score therefore comes from the same distribution as the held-out
scores, and a threshold calibrated on them sends the same share of new texts to each tier
(up to sampling noise). A single model refitted on all examples would not: its scores have
another scale, and the calibrated share would move.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stepladder.predictors.router.fit import (
    FitOptions,
    Kind,
    RouterModel,
    fit_router_model,
    refit_router_model,
)
from stepladder.predictors.router.lexical import Sparse

__all__ = ["CrossFittedModel", "fit_cross_fitted", "hash_folds"]

Floats = NDArray[np.floating[Any]]


def hash_folds(keys: Sequence[str], folds: int) -> NDArray[np.int64]:
    """A fixed fold per key: sha256(key) modulo `folds` (stable across runs and machines)."""
    return np.array(
        [int(hashlib.sha256(k.encode()).hexdigest()[:8], 16) % folds for k in keys],
        dtype=np.int64,
    )


@dataclass(frozen=True)
class CrossFittedModel:
    """One router model per fold; model i was fitted without the examples of fold i.

    Attributes:
        models: The fold models (one model: an older router refitted on all its examples).
        rows: The training examples' folds (empty for a one-model router).
    """

    models: tuple[RouterModel, ...]
    rows: NDArray[np.int64]

    @property
    def chosen(self) -> RouterModel:
        """The first fold model: the kind and hyper-parameters all of them share."""
        return self.models[0]

    @property
    def reads_words(self) -> bool:
        """Whether predictions need the texts' word counts."""
        return self.chosen.lexical is not None

    def folds_of(self, keys: Sequence[str]) -> NDArray[np.int64]:
        """The fold model that scores each text (by a hash of the text)."""
        return hash_folds(keys, len(self.models))

    def predict(
        self,
        vectors: Floats,
        features: Floats,
        folds: NDArray[np.int64],
        words: Sparse | None = None,
    ) -> NDArray[np.float64]:
        """P(right) per text (rows) and tier (columns), each row by its fold's model."""
        out = np.zeros((len(vectors), self.tiers_count))
        for fold in np.unique(folds):
            rows = folds == fold
            part = None if words is None else words[rows]
            out[rows] = self.models[int(fold)].predict(vectors[rows], features[rows], part)
        return out

    @property
    def tiers_count(self) -> int:
        """How many tiers the models score."""
        model = self.chosen
        if model.knn is not None:
            return int(model.knn.targets.shape[1])
        if model.logistic is not None:
            return int(model.logistic.weights.shape[1])
        raise ValueError("a router model needs a kNN or a logistic part")


def fit_cross_fitted(
    inputs: tuple[Floats, Floats, Sparse | None],
    targets: Floats,
    kind: Kind,
    options: FitOptions,
    rows: NDArray[np.int64],
    folds: int,
) -> tuple[CrossFittedModel, NDArray[np.float64]]:
    """Fold models and the held-out P(right) of every example.

    Args:
        inputs: The examples' embeddings, text features and word counts (or None).
        targets: Their correctness per tier.
        kind: The model kind.
        options: Fitting and selection options.
        rows: Each example's fold (`hash_folds` of the ids).
        folds: How many folds (at least 2).
    """
    vectors, features, words = inputs
    chosen = _choose(inputs, np.asarray(targets), kind, options)
    models = []
    held_out = np.zeros(np.shape(targets))
    vectors = np.asarray(vectors, np.float32)  # once: the fold models' kNN share it
    for fold in range(folds):
        test = rows == fold
        train = ~test if (~test).any() else test
        model = refit_router_model(chosen, vectors, features, targets, words, train)
        if test.any():
            held_out[test] = model.predict(
                vectors[test], features[test], None if words is None else words[test]
            )
        models.append(model)
    return CrossFittedModel(tuple(models), rows), held_out


def _choose(
    inputs: tuple[Floats, Floats, Sparse | None], targets: Floats, kind: Kind, options: FitOptions
) -> RouterModel:
    """The hyper-parameters the fold models share, chosen on <= `select_limit` examples."""
    vectors, features, words = inputs
    if len(vectors) <= options.select_limit:
        return fit_router_model(vectors, features, targets, kind, options, words)
    rng = np.random.default_rng(options.seed)
    rows = np.sort(rng.choice(len(vectors), options.select_limit, replace=False))
    part = None if words is None else words[rows]
    return fit_router_model(vectors[rows], features[rows], targets[rows], kind, options, part)
