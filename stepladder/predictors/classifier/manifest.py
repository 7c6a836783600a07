"""The manifest of a saved embedding classifier (`manifest.json`), as pydantic models."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from stepladder.predictors.manifest import ArtifactManifest, EmbeddingInfo, ManifestPart

__all__ = [
    "FORMAT",
    "Calibration",
    "ClassifierManifest",
    "KernelInfo",
    "ThresholdInfo",
    "TrainingInfo",
]

FORMAT = "stepladder.embedding-classifier"


class KernelInfo(ManifestPart):
    """The fitted model: kernel ridge regression over landmark embeddings."""

    kind: Literal["kernel-ridge"] = "kernel-ridge"
    kernel: Literal["exp(gamma*(cos-1))"] = "exp(gamma*(cos-1))"
    gamma: float = Field(gt=0, description="Kernel width.")
    ridge: float = Field(gt=0, description="Ridge penalty.")
    landmarks: int = Field(ge=1, description="Landmark embeddings stored in the weights.")
    oos_column: bool = Field(description="Whether out-of-scope examples form an extra output.")


class Calibration(ManifestPart):
    """Platt scaling: confidence = 1 / (1 + exp(-(slope * score + intercept)))."""

    slope: float
    intercept: float


class ThresholdInfo(ManifestPart):
    """When a request gets the fallback label: its score or similarity is under `value`."""

    rule: Literal["balanced-accuracy", "max-rejection"] = Field(
        description="balanced-accuracy: chosen on out-of-scope validation examples; "
        "max-rejection: rejects a set share of the in-scope validation examples."
    )
    on: Literal["score", "similarity"] = Field(
        description="score: the decision score; similarity: the cosine similarity to the "
        "nearest training example."
    )
    value: float = Field(description="The threshold.")
    confidence: float | None = Field(
        default=None, description="A score threshold as a calibrated confidence."
    )
    max_rejection: float = Field(description="The share used by the max-rejection rule.")


class TrainingInfo(ManifestPart):
    """What the classifier was trained on, and how long it took."""

    source: str
    validation_source: str
    examples: int
    validation_examples: int
    per_label: dict[str, int]
    refit: bool = Field(description="Refitted on all examples after holding some out.")
    seconds: dict[str, float]


class ClassifierManifest(ArtifactManifest):
    """Everything about a saved classifier except its weights."""

    format: Literal["stepladder.embedding-classifier"] = "stepladder.embedding-classifier"
    format_version: Literal[1] = 1
    labels: list[str] = Field(min_length=2, description="The in-scope labels, in output order.")
    fallback: str = Field(description="Label for requests it does not recognise.")
    oos_label: str = Field(description="The label that marked out-of-scope training examples.")
    embedding: EmbeddingInfo
    model: KernelInfo
    calibration: Calibration
    threshold: ThresholdInfo
    metrics: dict[str, float | int | None] = Field(description="Validation metrics.")
    training: TrainingInfo
