"""Embedding classifiers: the cheapest tier, decided by embeddings in milliseconds.

A trained classifier is a versioned folder under the project's state folder:

```
.stepladder/classifiers/<name>/v<N>/manifest.json   labels, fallback, embedding model,
                                                    threshold, calibration, metrics, created
.stepladder/classifiers/<name>/v<N>/weights.npz     landmark embeddings and dual weights
```

The weights are the same for an exact fit (every example a landmark) and a Nyström fit (a
sample of landmarks): fewer landmarks than training examples means a Nyström fit, so the
manifest format is unchanged and classifiers saved before load as they were.

`name` loads the newest version, `name@v2` a given one. A request the classifier does not
recognise gets the fallback label: its decision score, or its similarity to the nearest
training example, is under the threshold chosen on validation data.
Training is in `stepladder.predictors.classifier.train`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stepladder.errors import ConfigError
from stepladder.predictors.artifacts import ArtifactKind, check_embedder
from stepladder.predictors.classifier.fit import Floats, KernelModel, Platt
from stepladder.predictors.classifier.manifest import ClassifierManifest
from stepladder.retrieval.embeddings import EmbeddingFunction, shared_embedder

__all__ = [
    "CLASSIFIERS",
    "EmbeddingClassifier",
    "Prediction",
    "Predictions",
    "classifier_path",
    "classifiers_dir",
    "load_classifier",
    "read_manifest",
    "save_classifier",
]

WEIGHTS = "weights.npz"
CLASSIFIERS = ArtifactKind(
    what="classifier",
    folder="classifiers",
    manifest=ClassifierManifest,
    data_files=(WEIGHTS,),
    train_command="stepladder classifier train {name} DATA",
)


@dataclass(frozen=True)
class Prediction:
    """One decision.

    Attributes:
        label: The predicted label, or the fallback label.
        confidence: For a label, the calibrated probability that it is right; for the
            fallback, the probability that the best label would have been wrong.
        in_scope: False when the request went to the fallback label.
    """

    label: str
    confidence: float
    in_scope: bool


@dataclass(frozen=True)
class Predictions:
    """Decisions for a batch of texts and what they took.

    Attributes:
        items: One prediction per text.
        embed_seconds: Time spent embedding the texts.
        decide_seconds: Time spent scoring and thresholding.
    """

    items: list[Prediction]
    embed_seconds: float
    decide_seconds: float

    @property
    def pairs(self) -> list[tuple[str, float]]:
        """The decisions as (label, confidence) pairs."""
        return [(item.label, item.confidence) for item in self.items]


class EmbeddingClassifier:
    """A trained embedding classifier: embeds texts, scores labels, rejects the unfamiliar.

    Args:
        manifest: What the artifact says about itself.
        model: The fitted kernel model.
        embedder: The embedding function; by default the one in the manifest, made on first use.
        path: The folder it was loaded from or saved to.
    """

    def __init__(
        self,
        manifest: ClassifierManifest,
        model: KernelModel,
        embedder: EmbeddingFunction | None = None,
        path: Path | None = None,
    ) -> None:
        self.manifest = manifest
        self.model = model
        self.path = path
        self._embedder = embedder
        self._platt = Platt(manifest.calibration.slope, manifest.calibration.intercept)

    @property
    def labels(self) -> list[str]:
        """The in-scope labels, in output order."""
        return list(self.manifest.labels)

    @property
    def fallback(self) -> str:
        """The label given to requests the classifier does not recognise."""
        return self.manifest.fallback

    @property
    def embedder(self) -> EmbeddingFunction:
        """The embedding function the classifier was trained with (shared per process)."""
        if self._embedder is None:
            self._embedder = shared_embedder(self.manifest.embedding.settings)
        return self._embedder

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """Label each text: (label, confidence); unfamiliar texts get the fallback label."""
        return self.predict_timed(texts).pairs

    def predict_timed(self, texts: Sequence[str], fallback: str | None = None) -> Predictions:
        """Label each text and time the embedding and the decision separately."""
        started = time.perf_counter()
        vectors = np.asarray(self.embedder.embed(list(texts)), dtype=np.float32)
        embedded = time.perf_counter()
        items = self.decide(vectors, fallback) if len(texts) else []
        return Predictions(items, embedded - started, time.perf_counter() - embedded)

    def decide(self, vectors: Floats, fallback: str | None = None) -> list[Prediction]:
        """Decide for embeddings already made (rows: normalised vectors)."""
        decisions = self.model.decide(vectors)
        confidence = self._platt(decisions.score).tolist()
        threshold = self.manifest.threshold
        measure = decisions.score if threshold.on == "score" else decisions.similarity
        accepted = (measure >= threshold.value).tolist()
        other = fallback or self.fallback
        return [
            Prediction(self.labels[b], round(c, 4), True)
            if ok
            else Prediction(other, round(1.0 - c, 4), False)
            for b, c, ok in zip(decisions.best.tolist(), confidence, accepted, strict=True)
        ]


def classifiers_dir(state_dir: Path) -> Path:
    """Where a project keeps its classifiers (`<state_dir>/classifiers`)."""
    return CLASSIFIERS.home(state_dir)


def classifier_path(reference: str, state_dir: Path) -> Path:
    """The folder of a classifier: `name` (newest version), `name@vN`, or a folder path.

    Raises:
        ConfigError: If no such classifier exists, naming the ones that do.
    """
    return CLASSIFIERS.path(reference, state_dir)


def save_classifier(classifier: EmbeddingClassifier, state_dir: Path) -> Path:
    """Save as the next version of its name under the project's classifiers folder."""

    def write_weights(folder: Path) -> None:
        np.savez(
            folder / WEIGHTS, landmarks=classifier.model.landmarks, alpha=classifier.model.alpha
        )

    folder, classifier.manifest = CLASSIFIERS.save(classifier.manifest, state_dir, write_weights)
    classifier.path = folder
    return folder


def read_manifest(folder: Path) -> ClassifierManifest:
    """Read and check a classifier's manifest (no weights are loaded).

    Raises:
        ConfigError: If it is missing, unreadable or not a classifier manifest.
    """
    return CLASSIFIERS.read_manifest(folder)


def load_classifier(folder: Path, embedder: EmbeddingFunction | None = None) -> EmbeddingClassifier:
    """Load a classifier folder; cached per process while its files are unchanged.

    Args:
        folder: The classifier's version folder.
        embedder: An embedding function to predict with; it must be the classifier's model.

    Raises:
        ConfigError: If the manifest or weights are missing or inconsistent, or `embedder`
            is another model.
    """

    def build(manifest: ClassifierManifest) -> EmbeddingClassifier:
        check_embedder(manifest, embedder, "classifier")
        model = _load_model(folder / WEIGHTS, manifest)
        return EmbeddingClassifier(manifest, model, embedder, folder)

    return CLASSIFIERS.load(folder, build, cache=embedder is None)


def _load_model(file: Path, manifest: ClassifierManifest) -> KernelModel:
    try:
        with np.load(file, allow_pickle=False) as data:
            landmarks, alpha = data["landmarks"], data["alpha"]
    except (OSError, KeyError, ValueError) as error:
        raise ConfigError(f"{file}: cannot read the classifier weights: {error}.") from error
    outputs = len(manifest.labels) + int(manifest.model.oos_column)
    expected = (manifest.model.landmarks, manifest.embedding.dimension, outputs)
    if landmarks.shape != expected[:2] or alpha.shape != (expected[0], expected[2]):
        raise ConfigError(
            f"{file}: weights of shape {landmarks.shape} and {alpha.shape} do not match the "
            f"manifest ({expected[0]} landmarks, {expected[1]} dimensions, {outputs} outputs); "
            "retrain the classifier."
        )
    model = manifest.model
    exact = model.landmarks == manifest.training.examples  # else a sample: a Nyström fit
    return KernelModel(landmarks, alpha, model.gamma, model.oos_column, exact)
