"""The lexical part of a router: words and word pairs, weighted by TF-IDF, in a logistic model.

Embeddings say what a text is about; some of what makes a request hard for a small model is
in its words ("EXCEPT", "calculate", a unit, a statement pair) more than in its topic. The
words are hashed (no vocabulary to store: `word_counts` is the same function at training and
at routing time), counted sublinearly (1 + log count), weighted by the inverse document
frequency learned in training and scaled to unit length; one L2 logistic regression per tier
reads them. Scores in 0..1 (not just 0/1) are fitted as weighted 0 and 1 rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["HASH_FEATURES", "LexicalModel", "fit_lexical", "word_counts"]

HASH_FEATURES = 2**18
TOKENS = r"(?u)\b\w+\b"

Sparse = Any  # scipy.sparse.csr_matrix (scipy has no type stubs here)


def word_counts(texts: Sequence[str]) -> Sparse:
    """Hashed counts of each text's lower-cased words and word pairs (rows: texts)."""
    from sklearn.feature_extraction.text import HashingVectorizer  # lazy: heavy, ensemble only

    hasher = HashingVectorizer(
        n_features=HASH_FEATURES,
        ngram_range=(1, 2),
        token_pattern=TOKENS,
        alternate_sign=False,
        norm=None,
    )
    counts = hasher.transform(list(texts)).tocsr()
    counts.data = 1.0 + np.log(counts.data)
    return counts


def learn_idf(counts: Sparse) -> NDArray[np.float32]:
    """Smoothed inverse document frequency per hashed feature."""
    documents = np.bincount(counts.indices, minlength=counts.shape[1])
    rows = counts.shape[0]
    return np.asarray(np.log((1 + rows) / (1 + documents)) + 1.0, dtype=np.float32)


def weighted(counts: Sparse, idf: NDArray[np.float32]) -> Sparse:
    """TF-IDF rows of unit length."""
    out = counts.multiply(idf[None, :]).tocsr()
    norms = np.sqrt(np.asarray(out.multiply(out).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    out = out.multiply(1.0 / norms[:, None]).tocsr()
    return out


@dataclass(frozen=True)
class LexicalModel:
    """IDF weights and one logistic regression per tier over TF-IDF word features.

    Attributes:
        idf: Inverse document frequency per hashed feature.
        weights: Coefficients (rows: hashed features, columns: tiers).
        bias: Intercept per tier.
        c: Inverse L2 penalty the regressions were fitted with.
    """

    idf: NDArray[np.float32]
    weights: NDArray[np.float32]
    bias: NDArray[np.float64]
    c: float

    def predict(self, counts: Sparse) -> NDArray[np.float64]:
        """P(right) per text (rows) and tier (columns), from `word_counts`."""
        z = np.asarray(weighted(counts, self.idf) @ self.weights) + self.bias
        return np.asarray(1.0 / (1.0 + np.exp(-z)))


def fit_lexical(
    counts: Sparse,
    targets: NDArray[np.floating[Any]],
    c: float,
    start: LexicalModel | None = None,
) -> LexicalModel:
    """Fit the IDF and a logistic regression per tier (targets: 0/1 or scores in 0..1).

    `start`: a model fitted on similar rows, whose weights the solver starts from (the fit
    converges to the same optimum, in fewer steps).
    """
    idf = learn_idf(counts)
    x = weighted(counts, idf)
    columns = [
        _fit_tier(
            x, targets[:, t], c,
            None if start is None else (start.weights[:, t], float(start.bias[t])),
        )
        for t in range(targets.shape[1])
    ]  # fmt: skip
    weights = np.stack([w for w, _ in columns], axis=1).astype(np.float32)
    return LexicalModel(idf, weights, np.array([b for _, b in columns]), c)


def _fit_tier(
    x: Sparse,
    y: NDArray[np.floating[Any]],
    c: float,
    start: tuple[NDArray[np.floating[Any]], float] | None = None,
) -> tuple[NDArray[np.float64], float]:
    """Coefficients and intercept of one tier's regression; a constant target is its prior."""
    from scipy import sparse  # lazy: heavy, ensemble only
    from sklearn.linear_model import LogisticRegression  # lazy: heavy, ensemble only

    mean = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    if np.all(y == y[0]):
        return np.zeros(x.shape[1]), float(np.log(mean / (1 - mean)))
    used = np.unique(x.indices)  # fit on the hashed features these texts have, not all 2**18
    x = x[:, used]
    hard = np.isin(y, (0.0, 1.0)).all()
    rows, labels, weights = (
        (x, y.astype(int), None)
        if hard
        else (
            sparse.vstack([x, x]).tocsr(),
            np.r_[np.ones(len(y)), np.zeros(len(y))],
            np.r_[y, 1 - y],
        )
    )
    model = LogisticRegression(C=c, max_iter=1000, warm_start=start is not None)
    if start is not None:  # sklearn starts from coef_ and intercept_ when warm_start is on
        model.coef_ = np.asarray(start[0], np.float64)[used][None, :]
        model.intercept_ = np.array([start[1]])
    model.fit(rows, labels, sample_weight=weights)
    coefficients = np.zeros(HASH_FEATURES)
    coefficients[used] = model.coef_[0]
    return coefficients, float(model.intercept_[0])
