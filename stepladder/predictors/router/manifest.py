"""The manifest of a saved router (`manifest.json`), as pydantic models."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from stepladder.predictors.manifest import ArtifactManifest, EmbeddingInfo, ManifestPart

__all__ = [
    "FORMAT",
    "CalibrationRecord",
    "ModelInfo",
    "OperatingPoint",
    "RouterManifest",
    "RouterTraining",
    "TierRecord",
]

FORMAT = "stepladder.router"


class ModelInfo(ManifestPart):
    """The fitted model and its chosen hyper-parameters."""

    kind: Literal["logistic", "knn", "ensemble"]
    k: int | None = Field(default=None, description="kNN: neighbours averaged.")
    smoothing: float | None = Field(default=None, description="kNN: prior pseudo-count.")
    l2: float | None = Field(default=None, description="Logistic: L2 penalty.")
    knn_weight: float = Field(description="kNN share of the embedding models' prediction.")
    lexical_weight: float = Field(
        default=0.0, description="Share of the TF-IDF word model in the prediction (ensemble)."
    )
    lexical_c: float | None = Field(
        default=None, description="Word model: inverse L2 penalty of its regressions."
    )
    text_features: list[str] = Field(description="Cheap text features the model sees.")
    select_by: Literal["brier", "gain"] = Field(description="Inner cross-validation criterion.")
    selection: dict[str, float] = Field(description="Inner cross-validation scores.")
    folds: int = Field(
        default=1,
        ge=1,
        description="Fold models (each fitted without one fold; a new text is scored by the "
        "one sha256(text) names); 1: one model fitted on all examples (older routers).",
    )
    long_texts: Literal["first-window", "pooled-windows"] = Field(
        default="first-window",
        description="How texts longer than the embedding model's window are embedded: "
        "the first window only (older routers), or pooled windows with the end weighted.",
    )


class TierRecord(ManifestPart):
    """One tier's training data: its eval run and what its calls cost there."""

    run_id: str | None = None
    quality: float = Field(description="Mean correctness on the training cases.")
    cost_usd_per_call: float = Field(default=0.0, description="Mean recorded cost per case.")
    input_tokens: float = Field(default=0.0, description="Mean input tokens per case.")
    output_tokens: float = Field(default=0.0, description="Mean output tokens per case.")


class RouterTraining(ManifestPart):
    """What the router was trained on."""

    source: str = Field(description="Where the examples came from (eval name, file, ...).")
    metric: str | None = Field(default=None, description="The metric read as correctness.")
    examples: int
    tiers: dict[str, TierRecord]
    held_out: str = Field(description="How held-out predictions for calibration were made.")
    seconds: dict[str, float]


class OperatingPoint(ManifestPart):
    """A threshold and what routing with it gave on held-out predictions."""

    threshold: float
    shares: dict[str, float] = Field(description="Share of inputs routed to each tier.")
    quality: float = Field(description="Mean correctness of the routed mix.")
    quality_ratio: float = Field(description="Mix quality / the best single tier's quality.")
    ratio_lower_bound: float = Field(description="One-sided 95% lower bound of the ratio.")
    cost_usd_per_call: float


class CalibrationRecord(ManifestPart):
    """The thresholds chosen for a quality target, and the evidence."""

    created: str
    rule: Literal["shared-threshold"] = Field(
        default="shared-threshold",
        description="Each input goes to the cheapest tier whose P(right) >= the threshold "
        "(one threshold shared by all tiers but the last), else to the last tier.",
    )
    target_quality: float = Field(description="Target for the lower bound of the ratio.")
    met: bool = Field(description="Whether some operating point met the target.")
    thresholds: dict[str, float] = Field(description="P(right) threshold per tier.")
    chosen: OperatingPoint
    prices: dict[str, float] = Field(description="USD per call of each tier.")
    best_tier: str = Field(description="The tier of the highest single-tier quality.")
    held_out_examples: int
    bootstrap: int = Field(description="Paired bootstrap resamples.")
    horizon: int | None = Field(
        default=None,
        description="The bound covers each batch of this many future requests (None: all).",
    )
    tier_quality: dict[str, float] = Field(
        default_factory=dict, description="Each tier's quality alone on the held-out cases."
    )
    curve: list[OperatingPoint]


class RouterManifest(ArtifactManifest):
    """Everything about a saved router except its arrays."""

    format: Literal["stepladder.router"] = "stepladder.router"
    format_version: Literal[1] = 1
    tiers: list[str] = Field(min_length=2, description="Tiers, cheapest first.")
    embedding: EmbeddingInfo
    model: ModelInfo
    training: RouterTraining
    calibration: CalibrationRecord | None = None
