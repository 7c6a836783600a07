"""Routers: from a text, the probability that each model tier gets it right.

A router embeds whole texts with the project's embedding function (long texts in pooled
windows, `stepladder.predictors.router.features`), adds cheap text features, and predicts
P(right) per tier with a small learned model: `logistic` (one L2 logistic regression per
tier), `knn` (mean correctness of the k most similar training texts, smoothed) or
`ensemble` (a weighted mean of both, and of a logistic regression on the texts' TF-IDF
words, `stepladder.predictors.router.lexical`). Hyper-parameters and weights are chosen by
cross-validation inside the training data (`stepladder.predictors.router.fit`).

The router is cross-fitted (`stepladder.predictors.router.crossfit`): the examples are split
into `held_out_folds` folds by a hash of their texts, one model per fold is fitted on the
other folds, and each example's held-out prediction comes from the model that did not see
it (nor any copy of its text). Calibration (`stepladder.predictors.router.calibrate`)
picks thresholds on those predictions, and a new text is scored by the fold model a hash
of the text names, so its score has the distribution calibration saw.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray
from rich.console import Console

from stepladder.config.retrieval import EmbeddingSettings
from stepladder.errors import ConfigError
from stepladder.predictors.manifest import EmbeddingInfo, created_now
from stepladder.predictors.router.crossfit import CrossFittedModel, fit_cross_fitted, hash_folds
from stepladder.predictors.router.features import (
    LONG_TEXTS,
    TEXT_FEATURES,
    embed_texts,
    text_features,
)
from stepladder.predictors.router.fit import FitOptions, Kind
from stepladder.predictors.router.lexical import Sparse, word_counts
from stepladder.predictors.router.manifest import (
    ModelInfo,
    RouterManifest,
    RouterTraining,
    TierRecord,
)
from stepladder.retrieval.embedding_cache import progress_on
from stepladder.retrieval.embeddings import EmbeddingFunction, shared_embedder

__all__ = ["HeldOut", "Router", "choose_tiers", "hash_folds"]

MIN_EXAMPLES = 10


@dataclass(frozen=True)
class HeldOut:
    """Cross-fitted predictions on the training examples, for calibration.

    Attributes:
        ids: The examples' ids.
        probabilities: P(right) per example (rows) and tier (columns), each row predicted
            by a router that did not train on it.
        targets: The examples' correctness per tier.
    """

    ids: NDArray[np.str_]
    probabilities: NDArray[np.float64]
    targets: NDArray[np.float64]


class Router:
    """A trained router: embeds texts and predicts each tier's probability of being right.

    Args:
        manifest: What the artifact says about itself.
        model: The fitted fold models.
        held_out: Cross-fitted predictions on the training examples (for calibration).
        embedder: The embedding function; by default the manifest's, made on first use.
        path: The folder it was loaded from or saved to.
    """

    def __init__(
        self,
        manifest: RouterManifest,
        model: CrossFittedModel,
        held_out: HeldOut | None = None,
        embedder: EmbeddingFunction | None = None,
        path: Path | None = None,
    ) -> None:
        self.manifest = manifest
        self.model = model
        self.held_out = held_out
        self.path = path
        self._embedder = embedder

    @property
    def tiers(self) -> list[str]:
        """The tiers, cheapest first."""
        return list(self.manifest.tiers)

    @property
    def embedder(self) -> EmbeddingFunction:
        """The embedding function the router was trained with (shared per process)."""
        if self._embedder is None:
            self._embedder = shared_embedder(self.manifest.embedding.settings)
        return self._embedder

    @classmethod
    def train(
        cls,
        texts: Sequence[str],
        correct: Mapping[str, ArrayLike],
        kind: Kind = "logistic",
        *,
        name: str = "router",
        ids: Sequence[str] | None = None,
        settings: EmbeddingSettings | None = None,
        embedder: EmbeddingFunction | None = None,
        options: FitOptions | None = None,
        held_out_folds: int = 5,
        training: RouterTraining | None = None,
        cache_dir: Path | None = None,
        console: Console | None = None,
    ) -> Router:
        """Train on `texts` and each tier's correctness (0/1 or scores in 0..1).

        Args:
            texts: The inputs.
            correct: Per tier (cheapest first), one correctness value per text.
            kind: `logistic`, `knn` or `ensemble`.
            name: The router's name.
            ids: An id per text, kept with the held-out predictions (default: the text).
            settings: The embedding model (default: the packaged one).
            embedder: The embedding function, if already made for `settings`.
            options: Fitting and selection options.
            held_out_folds: Folds of the cross-fitting (at least 2): one model per fold.
            training: What to record about the training data (default: a summary).
            cache_dir: A folder to cache embeddings in.
            console: Where to show progress.

        Raises:
            ConfigError: For fewer than two tiers, mismatched lengths, values outside 0..1,
                fewer than `MIN_EXAMPLES` texts, or fewer than 2 folds.
        """
        targets = _targets(texts, correct)
        if held_out_folds < 2:
            raise ConfigError(f"held_out_folds must be at least 2; got {held_out_folds}.")
        settings = settings or EmbeddingSettings()
        embedder = embedder or shared_embedder(settings)
        started = time.perf_counter()
        vectors = embed_texts(texts, embedder, settings, cache_dir, progress_on(console, "router"))
        features = text_features(texts)
        embedded = time.perf_counter()
        options = options or FitOptions()
        words = word_counts(texts) if kind == "ensemble" and options.lexical else None
        keys = [str(i) for i in ids] if ids is not None else list(texts)
        inputs = (vectors, features, words)
        rows = hash_folds(list(texts), held_out_folds)  # as new texts are: by the text
        model, held_out = fit_cross_fitted(inputs, targets, kind, options, rows, held_out_folds)
        seconds = {"embed": embedded - started, "fit": time.perf_counter() - embedded}
        tiers = list(correct)
        record = training or _default_training(tiers, targets, held_out_folds)
        record = record.model_copy(update={"seconds": {k: round(v, 3) for k, v in seconds.items()}})
        manifest = RouterManifest(
            name=name,
            created=created_now(),
            tiers=tiers,
            embedding=EmbeddingInfo(
                name=embedder.name, dimension=int(vectors.shape[1]), settings=settings
            ),
            model=_model_info(model, options),
            training=record,
        )
        held = HeldOut(np.array(keys), held_out, targets)
        return cls(manifest, model, held, embedder)

    def predict(self, texts: Sequence[str]) -> dict[str, NDArray[np.float64]]:
        """P(right) of each tier for each text."""
        table = self.probabilities(texts)
        return {tier: table[:, i] for i, tier in enumerate(self.tiers)}

    def probabilities(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """P(right) as a matrix: rows are texts, columns are tiers (cheapest first)."""
        if not texts:
            return np.zeros((0, len(self.tiers)))
        if self.manifest.model.long_texts == LONG_TEXTS:
            vectors = embed_texts(texts, self.embedder, self.manifest.embedding.settings)
        else:  # routers trained before whole-text embeddings saw the first window only
            vectors = np.asarray(self.embedder.embed(list(texts)), dtype=np.float32)
        words = word_counts(texts) if self.model.reads_words else None
        return self.predict_vectors(vectors, text_features(texts), texts, words)

    def predict_vectors(
        self,
        vectors: ArrayLike,
        features: ArrayLike,
        texts: Sequence[str],
        words: Sparse | None = None,
    ) -> NDArray[np.float64]:
        """P(right) for embeddings already made (and their text features and word counts).

        `texts` name the fold model that scores each row (a hash of the text).

        Raises:
            ConfigError: If the vectors' length is not the router's embedding dimension, or
                the router reads words and `words` (`word_counts(texts)`) is missing.
        """
        rows = np.asarray(vectors, dtype=np.float32)
        expected = self.manifest.embedding.dimension
        if rows.ndim != 2 or rows.shape[1] != expected:
            raise ConfigError(
                f"router '{self.manifest.name}' was trained on {expected}-dimensional "
                f"embeddings from '{self.manifest.embedding.name}', got vectors of shape "
                f"{rows.shape}; embed with the router's model."
            )
        if self.model.reads_words and words is None:
            raise ConfigError(
                f"router '{self.manifest.name}' also reads the texts' words: pass "
                "word_counts(texts), or call probabilities(texts)."
            )
        folds = self.model.folds_of(texts)
        return self.model.predict(rows, np.asarray(features, dtype=np.float64), folds, words)

    def route(self, texts: Sequence[str]) -> list[str]:
        """The calibrated tier for each text.

        Raises:
            ConfigError: If the router is not calibrated.
        """
        return [self.tiers[i] for i in self.choose(self.probabilities(texts))]

    def choose(self, probabilities: NDArray[np.float64]) -> NDArray[np.int64]:
        """Tier indices for P(right) rows, by the calibrated thresholds."""
        calibration = self.manifest.calibration
        if calibration is None:
            reference = f"{self.manifest.name}@v{self.manifest.version}"
            raise ConfigError(
                f"router '{reference}' is not calibrated: run `stepladder router calibrate "
                f"{self.manifest.name} --target-quality 0.95` first."
            )
        thresholds = np.array([calibration.thresholds.get(t, np.inf) for t in self.tiers])
        return choose_tiers(probabilities, thresholds)


def choose_tiers(probabilities: NDArray[np.float64], thresholds: ArrayLike) -> NDArray[np.int64]:
    """The cheapest tier whose P(right) >= its threshold; the last tier otherwise."""
    limits = np.asarray(thresholds, dtype=np.float64)
    passes = probabilities[:, :-1] >= limits[None, : probabilities.shape[1] - 1]
    passes = np.c_[passes, np.ones(len(probabilities), dtype=bool)]
    return np.asarray(passes.argmax(axis=1))


def _targets(texts: Sequence[str], correct: Mapping[str, ArrayLike]) -> NDArray[np.float64]:
    if len(correct) < 2:
        raise ConfigError(
            f"a router needs at least two tiers to choose between; got {', '.join(correct)}."
        )
    columns = []
    for tier, values in correct.items():
        column = np.asarray(values, dtype=np.float64)
        if column.shape != (len(texts),):
            raise ConfigError(
                f"tier '{tier}': {column.size} correctness values for {len(texts)} texts."
            )
        if np.isnan(column).any() or column.min() < 0 or column.max() > 1:
            raise ConfigError(
                f"tier '{tier}': correctness must be 0/1 or scores in 0..1; rescale the metric."
            )
        columns.append(column)
    if len(texts) < MIN_EXAMPLES:
        raise ConfigError(
            f"a router needs at least {MIN_EXAMPLES} examples; got {len(texts)}. Run the eval "
            "on more cases."
        )
    return np.stack(columns, axis=1)


def _default_training(tiers: list[str], targets: NDArray[np.float64], folds: int) -> RouterTraining:
    return RouterTraining(
        source="examples",
        examples=len(targets),
        tiers={t: TierRecord(quality=float(targets[:, i].mean())) for i, t in enumerate(tiers)},
        held_out=held_out_text(folds),
        seconds={},
    )


def held_out_text(folds: int) -> str:
    """How held-out predictions are made, for the manifest."""
    return (
        f"{folds}-fold cross-fitting, fold = sha256(text) mod {folds}, for training texts "
        "and new texts alike"
    )


def _model_info(folded: CrossFittedModel, options: FitOptions) -> ModelInfo:
    model = folded.chosen
    knn, logistic = model.knn, model.logistic
    return ModelInfo(
        kind=model.kind,
        k=knn.k if knn is not None else None,
        smoothing=knn.smoothing if knn is not None else None,
        l2=logistic.l2 if logistic is not None else None,
        knn_weight=model.knn_weight,
        lexical_weight=model.lexical_weight,
        lexical_c=model.lexical.c if model.lexical is not None else None,
        text_features=list(TEXT_FEATURES) if options.text_features and logistic else [],
        select_by=options.select_by,
        selection=model.selection,
        folds=len(folded.models),
        long_texts=LONG_TEXTS,
    )
