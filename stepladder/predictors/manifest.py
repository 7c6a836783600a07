"""What every saved predictor's `manifest.json` says, as pydantic models.

Each kind of artifact has its own manifest model (`ClassifierManifest`, `RouterManifest`),
built on `ArtifactManifest`: a format name and version, then the artifact's name, version
and creation time, in that order in the file. Predictors over embeddings also record the
embedding model they were trained with (`EmbeddingInfo`), and must predict with it.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from stepladder.config.retrieval import EmbeddingSettings

__all__ = ["ArtifactManifest", "EmbeddingInfo", "ManifestPart", "created_now"]


class ManifestPart(BaseModel):
    """A part of a manifest: unknown keys refused, frozen once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ArtifactManifest(ManifestPart):
    """The fields every saved artifact's manifest starts with.

    A kind narrows `format` and `format_version` to its own literals, with defaults.
    """

    format: str = Field(description="What kind of artifact this is.")
    format_version: int = Field(description="The layout of this manifest and its files.")
    name: str = Field(description="The artifact's name.")
    version: int = Field(default=1, ge=1, description="Increases each time it is retrained.")
    created: str = Field(description="When it was trained (ISO 8601, UTC).")


class EmbeddingInfo(ManifestPart):
    """The embedding model a predictor was trained with (and must predict with)."""

    name: str = Field(description="The embedding model's name.")
    dimension: int = Field(ge=1, description="Length of its vectors.")
    settings: EmbeddingSettings = Field(description="How to make the embedding function.")


def created_now() -> str:
    """The time now as manifests record it: ISO 8601 in UTC, to the second."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
