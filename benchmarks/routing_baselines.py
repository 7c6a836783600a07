"""Plain routers on the same folds as stepladder's, and the evidence of the difference.

Each baseline is trained on the same four folds and scores the same held-out fold as the
router in `routing.py`; every score is a predicted gain (higher: send to the strong model):

- `50-NN`: mean gain of the 50 most cosine-similar training prompts (embeddings only).
- `logistic (embedding)`: logistic regression per model on the embedding alone, its L2
  penalty chosen by inner cross-validation.
- `TF-IDF logistic`: logistic regression per model on TF-IDF words and word pairs (C = 1).
- `prompt length`: the longer the prompt, the likelier the strong model.
- `random`, `oracle`: as in `routing.py` (no training).

The difference in APGR between the router and the best of the trained baselines (and
prompt length) gets a paired bootstrap: rows are resampled together for both, the scores
held fixed, and the 5th and 95th percentiles of the difference form the 90% interval.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stepladder.predictors.router.fit import FitOptions, KnnModel, fit_router_model
from stepladder.predictors.router.lexical import fit_lexical
from stepladder.predictors.router.metrics import evaluate_router

Floats = NDArray[np.float64]
Scorer = Callable[[Any, NDArray[np.bool_], NDArray[np.bool_]], Floats]


def _knn50(bench: Any, train: NDArray[np.bool_], test: NDArray[np.bool_]) -> Floats:
    model = KnnModel(bench.vectors[train], bench.targets[train].astype(np.float32), 50, 5.0)
    p = model.predict(bench.vectors[test])
    return p[:, 1] - p[:, 0]


def _logistic(bench: Any, train: NDArray[np.bool_], test: NDArray[np.bool_]) -> Floats:
    options = FitOptions(select_by="gain", text_features=False)
    model = fit_router_model(
        bench.vectors[train], bench.features[train], bench.targets[train], "logistic", options
    )
    p = model.predict(bench.vectors[test], bench.features[test])
    return p[:, 1] - p[:, 0]


def _tfidf(bench: Any, train: NDArray[np.bool_], test: NDArray[np.bool_]) -> Floats:
    p = fit_lexical(bench.words[train], bench.targets[train], 1.0).predict(bench.words[test])
    return p[:, 1] - p[:, 0]


def _length(bench: Any, train: NDArray[np.bool_], test: NDArray[np.bool_]) -> Floats:
    return np.array([len(bench.texts[i]) for i in np.flatnonzero(test)], dtype=np.float64)


TRAINED: dict[str, Scorer] = {
    "50-NN": _knn50,
    "logistic (embedding)": _logistic,
    "TF-IDF logistic": _tfidf,
    "prompt length": _length,
}


def baseline_scores(bench: Any, assignment: NDArray[np.int64]) -> dict[str, Floats]:
    """Each plain baseline's held-out scores on the folds of `assignment`."""
    out = {name: np.zeros(len(bench.texts)) for name in TRAINED}
    for fold in np.unique(assignment):
        test = assignment == fold
        for name, scorer in TRAINED.items():
            out[name][test] = scorer(bench, ~test, test)
    return out


def apgr_of(scores: Floats, weak: Floats, strong: Floats) -> float:
    """RouteLLM's APGR of a score."""
    return evaluate_router(scores, weak, strong).apgr


def paired_difference(
    ours: Floats,
    theirs: Floats,
    weak: Floats,
    strong: Floats,
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """APGR(ours) - APGR(theirs), and its 90% paired-bootstrap interval."""
    rng = np.random.default_rng(seed)
    n = len(weak)
    differences = []
    for _ in range(resamples):
        rows = rng.integers(0, n, n)
        w, s = weak[rows], strong[rows]
        differences.append(apgr_of(ours[rows], w, s) - apgr_of(theirs[rows], w, s))
    low, high = np.quantile(differences, [0.05, 0.95])
    return apgr_of(ours, weak, strong) - apgr_of(theirs, weak, strong), float(low), float(high)
