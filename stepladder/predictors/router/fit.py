"""The numerical core of routers: cosine kNN, L2 logistic regression, and their ensemble.

Each model predicts, for each text, the probability that each tier gets it right (targets
are 0/1 correctness or scores in 0..1). Hyper-parameters (k, the L2 penalty, the ensemble
weights) are chosen by cross-validation inside the training data only: exact leave-one-out
for kNN, `inner_folds`-fold cross-validation for the logistic regressions. An ensemble
given the texts' word counts (`stepladder.predictors.router.lexical`) also blends in a logistic
regression on TF-IDF word features.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from stepladder.predictors.router.lexical import LexicalModel, Sparse, fit_lexical

__all__ = [
    "FitOptions",
    "KnnModel",
    "LogisticModel",
    "RouterModel",
    "fit_router_model",
    "folds_of",
    "gain_area",
    "refit_router_model",
]

Floats = NDArray[np.floating[Any]]
Kind = Literal["logistic", "knn", "ensemble"]
CHUNK = 2048
CHUNK_CELLS = 8_000_000  # similarities per kNN block (32 MB of float32)


@dataclass(frozen=True)
class FitOptions:
    """How to fit and select a router model.

    Attributes:
        k_grid: Neighbour counts tried (those under the training size).
        l2_grid: L2 penalties tried for logistic regression (on standardised features).
        smoothing: kNN pseudo-count: predictions are (sum of k labels + m * prior) / (k + m).
        weights_grid: kNN weights tried in the ensemble (the rest goes to logistic).
        inner_folds: Folds of the inner cross-validation for logistic regression.
        select_by: `brier`: mean squared error over tiers; `gain`: the area under the
            routing curve of the first tier (cheapest) against the last (most capable),
            scored by P(last right) - P(first right).
        text_features: Whether logistic regression also sees the cheap text features.
        lexical: Whether an ensemble blends in the word model when given word counts.
        c_grid: Inverse L2 penalties tried for the word model.
        lexical_grid: Word-model weights tried in the ensemble (the rest is kNN + logistic).
        seed: Seed of the inner folds (and of the selection subset).
        select_limit: The most examples hyper-parameters are chosen on by a cross-fitted
            router; above, a seeded random subset of that many (the fold models are still
            fitted on all examples).
    """

    k_grid: tuple[int, ...] = (10, 25, 50, 100, 200, 400)
    l2_grid: tuple[float, ...] = (30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0)
    smoothing: float = 5.0
    weights_grid: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    inner_folds: int = 3
    select_by: Literal["brier", "gain"] = "brier"
    text_features: bool = True
    lexical: bool = True
    c_grid: tuple[float, ...] = (0.3, 1.0, 3.0)
    lexical_grid: tuple[float, ...] = (0.0, 0.2, 0.35, 0.5, 0.65)
    seed: int = 0
    select_limit: int = 20_000


@dataclass(frozen=True)
class KnnModel:
    """Mean correctness of the k most cosine-similar training texts, smoothed to the prior.

    `allowed` marks the rows of `vectors` it reads (None: all): the fold models of a
    cross-fitted router share one array of every row, each reading the rows outside its fold.
    """

    vectors: NDArray[np.float32]
    targets: NDArray[np.float32]
    k: int
    smoothing: float
    allowed: NDArray[np.bool_] | None = None

    def predict(self, vectors: Floats) -> NDArray[np.float64]:
        """Probabilities (rows: texts, columns: tiers)."""
        return _knn_predict(
            self.vectors, self.targets, vectors, [self.k], self.smoothing, allowed=self.allowed
        )[0]


def _knn_predict(
    train: Floats,
    targets: Floats,
    query: Floats,
    ks: list[int],
    m: float,
    skip_self: bool = False,
    allowed: NDArray[np.bool_] | None = None,
) -> list[NDArray[np.float64]]:
    """Predictions of kNN for each k in `ks` (neighbours found once, for the largest k)."""
    if allowed is not None:  # a copy for this call only: the model keeps the shared array
        train, targets = train[allowed], targets[allowed]
    top = min(max(ks), len(train) - int(skip_self))
    prior = targets.mean(axis=0)
    out = [np.zeros((len(query), targets.shape[1])) for _ in ks]
    chunk = max(1, min(CHUNK, CHUNK_CELLS // max(len(train), 1)))
    for start in range(0, len(query), chunk):
        sims = np.asarray(query[start : start + chunk], np.float32) @ train.T
        if skip_self:
            rows = np.arange(len(sims))
            sims[rows, rows + start] = -np.inf
        near = np.argpartition(-sims, top - 1, axis=1)[:, :top]
        order = np.argsort(-np.take_along_axis(sims, near, axis=1), axis=1)
        ranked = targets[np.take_along_axis(near, order, axis=1)].cumsum(axis=1)
        for result, k in zip(out, ks, strict=True):
            kk = min(k, top)
            result[start : start + chunk] = (ranked[:, kk - 1] + m * prior) / (kk + m)
    return out


@dataclass(frozen=True)
class LogisticModel:
    """One L2-regularised logistic regression per tier over standardised features."""

    mean: NDArray[np.float64]
    scale: NDArray[np.float64]
    weights: NDArray[np.float64]
    bias: NDArray[np.float64]
    l2: float

    def predict(self, design: Floats) -> NDArray[np.float64]:
        """Probabilities (rows: texts, columns: tiers) from the design matrix."""
        z = ((design - self.mean) / self.scale) @ self.weights + self.bias
        return np.asarray(1.0 / (1.0 + np.exp(-z)))


def _fit_logistic(x: Floats, y: Floats, l2: float, start: Floats | None = None) -> Floats:
    """Newton's method on the penalised cross-entropy (bias unpenalised); soft targets ok.

    Returns the weights, then the bias. The Hessian is summed over row blocks, so no copy
    of `x` is made.
    """
    d = x.shape[1]
    w = np.zeros(d + 1) if start is None else start.copy()
    for _ in range(30):
        p = 1.0 / (1.0 + np.exp(-(x @ w[:-1] + w[-1])))
        residual, v = p - y, p * (1 - p)
        gradient = np.r_[x.T @ residual + l2 * w[:-1], residual.sum()]
        hessian = np.empty((d + 1, d + 1))
        hessian[:d, :d] = _weighted_gram(x, v)
        hessian[:d, d] = hessian[d, :d] = x.T @ v
        hessian[d, d] = v.sum()
        hessian[np.diag_indices(d)] += l2
        hessian[np.diag_indices(d + 1)] += 1e-9
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-5:
            break
    return w


def _weighted_gram(x: Floats, v: Floats) -> NDArray[np.float64]:
    """x.T @ diag(v) @ x, in row blocks of `CHUNK`."""
    out = np.zeros((x.shape[1], x.shape[1]))
    for start in range(0, len(x), CHUNK):
        block = x[start : start + CHUNK]
        out += (block * v[start : start + CHUNK, None]).T @ block
    return out


def _standardised(
    x: Floats, in_place: bool = False
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """`x` centred and scaled per column (in place if asked), the means and the scales."""
    mean = x.mean(axis=0)
    z = np.asarray(x, np.float64) if in_place else np.array(x, np.float64)
    z -= mean
    std = np.sqrt(np.einsum("ij,ij->j", z, z) / max(len(z), 1))
    scale = np.where(std > 1e-9, std, 1.0)
    z /= scale
    return z, mean, scale


def _logistic(x: Floats, targets: Floats, l2: float, in_place: bool = False) -> LogisticModel:
    """Fit one regression per tier; `in_place` lets it standardise `x` where it lies."""
    z, mean, scale = _standardised(x, in_place)
    fitted = [_fit_logistic(z, targets[:, t], l2) for t in range(targets.shape[1])]
    weights = np.asarray(np.stack([f[:-1] for f in fitted], axis=1), dtype=np.float64)
    return LogisticModel(mean, scale, weights, np.array([f[-1] for f in fitted]), l2)


@dataclass(frozen=True)
class RouterModel:
    """A fitted router model and what was chosen for it.

    Attributes:
        kind: `logistic`, `knn`, or `ensemble` (a weighted mean of both).
        knn: The kNN model (knn, ensemble).
        logistic: The logistic model (logistic, ensemble).
        knn_weight: The kNN share of the embedding models' prediction (1 for knn, 0 for
            logistic).
        selection: The inner cross-validation's scores by candidate, for the record.
        lexical: The word model (an ensemble given word counts), if it got any weight.
        lexical_weight: The word model's share of the prediction.
    """

    kind: Kind
    knn: KnnModel | None
    logistic: LogisticModel | None
    knn_weight: float
    selection: dict[str, float] = field(default_factory=dict)
    lexical: LexicalModel | None = None
    lexical_weight: float = 0.0

    def predict(
        self, vectors: Floats, features: Floats, words: Sparse | None = None
    ) -> NDArray[np.float64]:
        """P(right) per text (rows) and tier (columns); `words` from `word_counts`.

        Raises:
            ValueError: If the model has a word part and `words` is None.
        """
        parts = []
        if self.knn is not None and self.knn_weight > 0:
            parts.append(self.knn_weight * self.knn.predict(vectors))
        if self.logistic is not None and self.knn_weight < 1:
            design = design_matrix(vectors, features, self.logistic.mean.shape[0])
            parts.append((1 - self.knn_weight) * self.logistic.predict(design))
        mixed = sum(parts)
        if self.lexical is not None and self.lexical_weight > 0:
            if words is None:
                raise ValueError("this router also reads the words: pass word_counts(texts)")
            w = self.lexical_weight
            mixed = (1 - w) * mixed + w * self.lexical.predict(words)
        return np.asarray(np.clip(mixed, 0.0, 1.0))


def design_matrix(vectors: Floats, features: Floats, width: int | None = None) -> Floats:
    """The logistic model's inputs: the embedding, then the text features if it uses them."""
    full = np.c_[np.asarray(vectors, np.float64), features]
    return np.asarray(full if width is None or width == full.shape[1] else full[:, :width])


def folds_of(count: int, folds: int, seed: int) -> NDArray[np.int64]:
    """A seeded assignment of `count` rows to `folds` folds of near-equal size."""
    return np.asarray(np.random.default_rng(seed).permutation(count) % folds)


def gain_area(scores: Floats, first: Floats, last: Floats) -> float:
    """Mean quality over all shares when routing the top-scored rows to the last tier."""
    order = np.argsort(-scores, kind="stable")
    curve = first.mean() + np.r_[0.0, np.cumsum((last - first)[order])] / len(scores)
    return float(np.trapezoid(curve, dx=1.0 / len(scores)))


def _criterion(options: FitOptions, targets: Floats) -> Callable[[Floats], float]:
    """Higher is better."""
    if options.select_by == "gain" and targets.shape[1] >= 2:
        first, last = targets[:, 0], targets[:, -1]
        return lambda p: gain_area(p[:, -1] - p[:, 0], first, last)
    return lambda p: -float(np.mean((p - targets) ** 2))


def fit_router_model(
    vectors: Floats,
    features: Floats,
    targets: Floats,
    kind: Kind,
    options: FitOptions,
    words: Sparse | None = None,
) -> RouterModel:
    """Fit a model of `kind`, its hyper-parameters chosen inside these rows only.

    An `ensemble` given `words` (`word_counts` of the texts, and `options.lexical`) also
    weighs in the word model, its weight chosen with the others.
    """
    targets = np.asarray(targets, np.float64)
    score = _criterion(options, targets)
    selection: dict[str, float] = {}
    knn = knn_oof = logistic = logistic_oof = None
    if kind in ("knn", "ensemble"):
        knn, knn_oof = _select_knn(vectors, targets, options, score, selection)
    if kind in ("logistic", "ensemble"):
        x = design_matrix(vectors, features) if options.text_features else np.asarray(vectors)
        logistic, logistic_oof = _select_logistic(x, targets, options, score, selection)
    weight = 1.0 if kind == "knn" else 0.0
    if kind != "ensemble":
        return RouterModel(kind, knn, logistic, weight, selection)
    assert knn_oof is not None and logistic_oof is not None
    lexical_oof, c = None, None
    if words is not None and options.lexical and words.shape[0] >= 2 * options.inner_folds:
        c, lexical_oof = _select_lexical(words, targets, options, score, selection)
    oof = (knn_oof, logistic_oof, lexical_oof)
    candidates = _blends(oof, options, score, selection)
    weight, lexical_weight = max(candidates, key=lambda pair: candidates[pair])
    lexical = None
    if lexical_weight > 0:  # only possible when the word model was scored, so c is set
        assert c is not None and words is not None
        lexical = fit_lexical(words, targets, c)
    return RouterModel(kind, knn, logistic, weight, selection, lexical, lexical_weight)


def _blends(
    oof: tuple[Floats, Floats, Floats | None],
    options: FitOptions,
    score: Callable[[Floats], float],
    selection: dict[str, float],
) -> dict[tuple[float, float], float]:
    """Inner scores of each (kNN weight, word-model weight) blend of out-of-fold predictions."""
    knn_oof, logistic_oof, lexical_oof = oof
    grid = [0.0] if lexical_oof is None else sorted(set(options.lexical_grid) | {0.0})
    candidates: dict[tuple[float, float], float] = {}
    for lw in grid:
        for w in options.weights_grid:
            mixed = w * knn_oof + (1 - w) * logistic_oof
            if lexical_oof is not None:
                mixed = (1 - lw) * mixed + lw * lexical_oof
            candidates[(w, lw)] = score(mixed)
            key = f"knn_weight={w:g}" + ("" if lexical_oof is None else f",lexical_weight={lw:g}")
            selection[key] = round(candidates[(w, lw)], 6)
    return candidates


def _select_knn(
    vectors: Floats,
    targets: Floats,
    options: FitOptions,
    score: Callable[[Floats], float],
    selection: dict[str, float],
) -> tuple[KnnModel, Floats]:
    train = np.asarray(vectors, np.float32)
    ks = sorted({k for k in options.k_grid if k < len(train)} or {max(len(train) - 1, 1)})
    loo = _knn_predict(train, targets, train, ks, options.smoothing, skip_self=True)
    scores = {k: score(p) for k, p in zip(ks, loo, strict=True)}
    selection.update({f"k={k}": round(v, 6) for k, v in scores.items()})
    best = max(scores, key=lambda k: scores[k])
    model = KnnModel(train, targets.astype(np.float32), best, options.smoothing)
    return model, loo[ks.index(best)]


def _select_lexical(
    words: Sparse,
    targets: Floats,
    options: FitOptions,
    score: Callable[[Floats], float],
    selection: dict[str, float],
) -> tuple[float, Floats]:
    """The word model's C by inner cross-validation, and its out-of-fold predictions."""
    folds = folds_of(words.shape[0], options.inner_folds, options.seed)
    oof = {c: np.zeros_like(targets) for c in options.c_grid}
    for fold in np.unique(folds):
        train, test = folds != fold, folds == fold
        for c in options.c_grid:
            oof[c][test] = fit_lexical(words[train], targets[train], c).predict(words[test])
    scores = {c: score(p) for c, p in oof.items()}
    selection.update({f"lexical_c={c:g}": round(v, 6) for c, v in scores.items()})
    best = max(scores, key=lambda c: scores[c])
    return best, oof[best]


def _select_logistic(
    x: Floats,
    targets: Floats,
    options: FitOptions,
    score: Callable[[Floats], float],
    selection: dict[str, float],
) -> tuple[LogisticModel, Floats]:
    folds = folds_of(len(x), min(options.inner_folds, len(x)), options.seed)
    grid = sorted(options.l2_grid, reverse=True)
    oof = {l2: np.zeros_like(targets) for l2 in grid}
    for fold in np.unique(folds):
        train, test = folds != fold, folds == fold
        z_train, mean, scale = _standardised(x[train], in_place=True)
        z_test = (x[test] - mean) / scale
        for t in range(targets.shape[1]):
            start = None
            for l2 in grid:  # strongest penalty first, each fit warm-starting the next
                start = _fit_logistic(z_train, targets[train, t], l2, start)
                logits = z_test @ start[:-1] + start[-1]
                oof[l2][test, t] = 1.0 / (1.0 + np.exp(-logits))
    scores = {l2: score(p) for l2, p in oof.items()}
    selection.update({f"l2={l2:g}": round(v, 6) for l2, v in scores.items()})
    best = max(scores, key=lambda l2: scores[l2])
    return _logistic(x, targets, best), oof[best]


def refit_router_model(
    chosen: RouterModel,
    vectors: Floats,
    features: Floats,
    targets: Floats,
    words: Sparse | None = None,
    rows: NDArray[np.bool_] | None = None,
) -> RouterModel:
    """`chosen`'s kind and hyper-parameters (k, L2, weights, C) fitted on other rows.

    Args:
        chosen: The model whose kind and hyper-parameters to reuse.
        vectors: Embeddings of the rows (all of them when `rows` is given).
        features: Their text features.
        targets: Their correctness per tier.
        words: Their word counts (needed when `chosen` has a word part).
        rows: Fit on these rows only (None: all). The kNN keeps all of `vectors` and reads
            these rows through a mask, so fold models given float32 vectors share one array.

    Raises:
        ValueError: If `chosen` has a word part and `words` is None.
    """
    targets = np.asarray(targets, np.float64)
    picked = slice(None) if rows is None else rows
    knn = logistic = lexical = None
    if chosen.knn is not None:
        count = len(vectors) if rows is None else int(rows.sum())
        k = min(chosen.knn.k, max(count - 1, 1))
        knn = KnnModel(np.asarray(vectors, np.float32), targets.astype(np.float32), k,
                       chosen.knn.smoothing, rows)  # fmt: skip
    if chosen.logistic is not None:
        design = design_matrix(vectors[picked], features[picked], chosen.logistic.mean.shape[0])
        logistic = _logistic(design, targets[picked], chosen.logistic.l2, in_place=True)
    if chosen.lexical is not None:
        if words is None:
            raise ValueError("this router also reads the words: pass word_counts(texts)")
        lexical = fit_lexical(words[picked], targets[picked], chosen.lexical.c, chosen.lexical)
    return RouterModel(
        chosen.kind, knn, logistic, chosen.knn_weight, chosen.selection, lexical,
        chosen.lexical_weight,
    )  # fmt: skip
