"""Training embedding classifiers: embed labelled examples, fit, calibrate, choose a threshold.

Examples whose label is the out-of-scope label (`oos` by default) are requests the classifier
should not recognise: they train an extra output and, in validation data, choose the
threshold. Without validation data, a stratified share of the examples is held out for it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray
from rich.console import Console

from stepladder.config.retrieval import EmbeddingSettings
from stepladder.errors import ConfigError
from stepladder.predictors.classifier.data import LabelledTexts, label_summary, split_validation
from stepladder.predictors.classifier.fit import (
    EXACT_LIMIT,
    LANDMARKS,
    Floats,
    KernelModel,
    Platt,
    balanced_threshold,
    fit_kernel_ridge,
    fit_platt,
    rejection_threshold,
)
from stepladder.predictors.classifier.manifest import (
    Calibration,
    ClassifierManifest,
    KernelInfo,
    ThresholdInfo,
    TrainingInfo,
)
from stepladder.predictors.classifier.model import EmbeddingClassifier
from stepladder.predictors.classifier.progress import embed_blocks, fit_progress
from stepladder.predictors.manifest import EmbeddingInfo, created_now
from stepladder.retrieval.embeddings import EmbeddingFunction, shared_embedder

__all__ = ["TrainOptions", "TrainingReport", "train_classifier"]


@dataclass(frozen=True)
class TrainOptions:
    """How to train.

    Attributes:
        oos_label: The label marking out-of-scope examples.
        fallback: The label for unrecognised requests (default: `oos_label`).
        gamma: Kernel width (`exp(gamma * (cos - 1))`).
        ridge: Ridge penalty.
        max_rejection: Without out-of-scope validation examples, the share of in-scope
            validation examples the threshold may reject.
        validation_share: Share held out for validation when none is given.
        exact_limit: The most examples fitted exactly; above, a Nyström fit.
        landmarks: Landmarks of a Nyström fit (a stratified sample of the examples).
        seed: Seed for the validation split and landmark sampling.
    """

    oos_label: str = "oos"
    fallback: str | None = None
    gamma: float = 2.0
    ridge: float = 0.1
    max_rejection: float = 0.005
    validation_share: float = 0.1
    exact_limit: int = EXACT_LIMIT
    landmarks: int = LANDMARKS
    seed: int = 0


@dataclass(frozen=True)
class TrainingReport:
    """A trained classifier, its validation metrics and the time each step took."""

    classifier: EmbeddingClassifier
    metrics: dict[str, float | int | None]
    seconds: dict[str, float] = field(default_factory=dict)


def train_classifier(
    name: str,
    examples: LabelledTexts,
    settings: EmbeddingSettings | None = None,
    *,
    validation: LabelledTexts | None = None,
    options: TrainOptions | None = None,
    embedder: EmbeddingFunction | None = None,
    cache_dir: Path | None = None,
    console: Console | None = None,
) -> TrainingReport:
    """Train a classifier on `examples`, calibrated and thresholded on `validation`.

    Args:
        name: The classifier's name.
        examples: Labelled training texts (out-of-scope ones labelled `options.oos_label`).
        settings: The embedding model (default: the packaged one).
        validation: Labelled validation texts; by default a stratified share of `examples`.
        options: Training options.
        embedder: The embedding function, if already made for `settings`.
        cache_dir: A folder to cache embeddings in (by model and texts).
        console: Where to show progress and timings.

    Raises:
        ConfigError: If there are fewer than two labels, or validation has unknown labels.
    """
    settings = settings or EmbeddingSettings()
    options = options or TrainOptions()
    embedder = embedder or shared_embedder(settings)
    started = time.perf_counter()
    refit = validation is None
    if validation is None:
        examples, validation = split_validation(examples, options.validation_share, options.seed)
    labels = _check_labels(examples, validation, options.oos_label)
    key = settings.model_dump_json()
    train_x = embed_blocks(examples.texts, embedder, key, cache_dir, console, "training")
    val_x = embed_blocks(validation.texts, embedder, key, cache_dir, console, "validation")
    seconds = {"embed": time.perf_counter() - started}
    fit = _fitter(labels, options, console)
    model = _timed(seconds, "fit", lambda: fit(train_x, examples.labels))
    _say(console, f"fitted {_what(model)} on {len(examples):,} examples in {seconds['fit']:.2f} s")
    platt, threshold, metrics = _timed(
        seconds, "calibrate", lambda: _calibrate(model, val_x, validation.labels, labels, options)
    )
    _say(console, f"calibrated on {len(validation):,} examples in {seconds['calibrate']:.2f} s")
    if refit:
        vectors, all_labels = np.concatenate([train_x, val_x]), examples.labels + validation.labels
        model = _timed(seconds, "refit", lambda: fit(vectors, all_labels))
        _say(console, f"refitted on all {len(vectors):,} examples in {seconds['refit']:.2f} s")
    seconds["total"] = time.perf_counter() - started
    info = EmbeddingInfo(name=embedder.name, dimension=train_x.shape[1], settings=settings)
    parts = _Parts(model, platt, threshold, metrics)
    training = _training_info(examples, validation, refit, seconds)
    manifest = _manifest(name, labels, options, info, parts, training)
    return TrainingReport(EmbeddingClassifier(manifest, model, embedder), metrics, seconds)


@dataclass(frozen=True)
class _Parts:
    model: KernelModel
    platt: Platt
    threshold: ThresholdInfo
    metrics: dict[str, float | int | None]


def _manifest(
    name: str,
    labels: list[str],
    options: TrainOptions,
    embedding: EmbeddingInfo,
    parts: _Parts,
    training: TrainingInfo,
) -> ClassifierManifest:
    return ClassifierManifest(
        name=name,
        created=created_now(),
        labels=labels,
        fallback=options.fallback or options.oos_label,
        oos_label=options.oos_label,
        embedding=embedding,
        model=KernelInfo(
            gamma=options.gamma,
            ridge=options.ridge,
            landmarks=int(parts.model.landmarks.shape[0]),
            oos_column=parts.model.oos_column,
        ),
        calibration=Calibration(slope=parts.platt.slope, intercept=parts.platt.intercept),
        threshold=parts.threshold,
        metrics=parts.metrics,
        training=training,
    )


T = TypeVar("T")


def _timed(seconds: dict[str, float], step: str, work: Callable[[], T]) -> T:
    started = time.perf_counter()
    result = work()
    seconds[step] = time.perf_counter() - started
    return result


def _training_info(
    examples: LabelledTexts, validation: LabelledTexts, refit: bool, seconds: dict[str, float]
) -> TrainingInfo:
    counts = examples.counts() + (validation.counts() if refit else Counter())
    return TrainingInfo(
        source=examples.source,
        validation_source=validation.source,
        examples=len(examples) + (len(validation) if refit else 0),
        validation_examples=len(validation),
        per_label=dict(sorted(counts.items())),
        refit=refit,
        seconds={k: round(v, 3) for k, v in seconds.items()},
    )


def _check_labels(train: LabelledTexts, validation: LabelledTexts, oos: str) -> list[str]:
    labels = sorted(set(train.labels) - {oos})
    if len(labels) < 2:
        raise ConfigError(
            f"{train.source}: a classifier needs at least two labels besides '{oos}'; "
            f"found: {label_summary(train.labels) or '(none)'}."
        )
    if all(label == oos for label in validation.labels):
        raise ConfigError(
            f"{validation.source}: no in-scope validation examples to calibrate on; give more "
            "examples per label (at least two), or validation data."
        )
    unknown = sorted(set(validation.labels) - set(labels) - {oos})
    if unknown:
        raise ConfigError(
            f"{validation.source}: label(s) {', '.join(unknown[:8])} are not in the training "
            f"data ({train.source}); training labels: {label_summary(labels)}."
        )
    return labels


def _fitter(
    names: list[str], options: TrainOptions, console: Console | None
) -> Callable[[Floats, Sequence[str]], KernelModel]:
    """A function fitting the model to embeddings and their labels, with a progress bar."""
    index = {label: i for i, label in enumerate(names)}

    def fit(vectors: Floats, labels: Sequence[str]) -> KernelModel:
        has_oos = options.oos_label in labels
        targets = np.array([index.get(label, len(names)) for label in labels])
        with fit_progress(console, len(vectors) > options.exact_limit) as advance:
            return fit_kernel_ridge(
                vectors,
                targets,
                len(names) + int(has_oos),
                gamma=options.gamma,
                ridge=options.ridge,
                exact_limit=options.exact_limit,
                landmarks=options.landmarks,
                oos_column=has_oos,
                seed=options.seed,
                advance=advance,
            )

    return fit


def _what(model: KernelModel) -> str:
    if model.exact:
        return "kernel ridge (exact)"
    return f"kernel ridge (Nyström, {len(model.landmarks):,} landmarks)"


def _calibrate(
    model: KernelModel,
    vectors: Floats,
    labels: Sequence[str],
    names: list[str],
    options: TrainOptions,
) -> tuple[Platt, ThresholdInfo, dict[str, float | int | None]]:
    truth = np.array(labels)
    oos = truth == options.oos_label
    decisions = model.decide(vectors)
    right = ~oos & (np.array(names)[decisions.best] == truth)
    platt = fit_platt(decisions.score, right)
    if oos.any():
        value = balanced_threshold(decisions.score[~oos], right[~oos], decisions.score[oos])
        confidence: float | None = round(float(platt(np.array([value]))[0]), 4)
        threshold = ThresholdInfo(
            rule="balanced-accuracy",
            on="score",
            value=value,
            confidence=confidence,
            max_rejection=options.max_rejection,
        )
        accepted = decisions.score >= value
    else:
        value = rejection_threshold(decisions.similarity, options.max_rejection)
        threshold = ThresholdInfo(
            rule="max-rejection",
            on="similarity",
            value=value,
            max_rejection=options.max_rejection,
        )
        accepted = decisions.similarity >= value
    return platt, threshold, _metrics(truth, oos, right, accepted)


def _metrics(
    truth: NDArray[np.str_],
    oos: NDArray[np.bool_],
    right: NDArray[np.bool_],
    accepted: NDArray[np.bool_],
) -> dict[str, float | int | None]:
    inside = max(int((~oos).sum()), 1)
    return {
        "accuracy": round(float((right & accepted).sum() / inside), 4),
        "accuracy_without_rejection": round(float(right.sum() / inside), 4),
        "rejected": round(float((~oos & ~accepted).sum() / inside), 4),
        "oos_recall": round(float((~accepted[oos]).mean()), 4) if oos.any() else None,
        "validation_examples": len(truth),
        "oos_examples": int(oos.sum()),
    }


def _say(console: Console | None, text: str) -> None:
    if console is not None:
        console.print(text)
