"""Retrieval settings: the embedding model and where the Chroma store lives.

```yaml
embeddings: {provider: packaged}                       # all-MiniLM-L6-v2, offline (default)
# embeddings: {provider: packaged, backend: torch}     # sentence-transformers instead of ONNX
# embeddings: {provider: sentence-transformers, model: BAAI/bge-small-en-v1.5}
# embeddings: {provider: openai-compatible, base_url: "http://127.0.0.1:30000/v1", model: m}
chroma: {path: .stepladder/chroma}                     # or {host: 127.0.0.1, port: 8000}
```
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stepladder.config.tiers import VariableName

__all__ = ["ChromaSettings", "EmbeddingSettings"]


class EmbeddingSettings(BaseModel):
    """Which embedding model turns text into vectors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: Literal["packaged", "sentence-transformers", "openai-compatible"] = Field(
        default="packaged",
        description="packaged: all-MiniLM-L6-v2 shipped in a wheel (offline); or another source.",
    )
    model: str | None = Field(default=None, description="Model name (not for `packaged`).")
    base_url: str | None = Field(default=None, description="Endpoint for openai-compatible.")
    api_key_env: VariableName | None = Field(
        default=None, description="Variable holding its API key."
    )
    batch_size: int = Field(default=64, ge=1, description="Texts embedded per batch.")
    backend: Literal["auto", "onnx", "torch"] = Field(
        default="auto",
        description=(
            "How local models run: onnx (ONNX Runtime, ~3x faster per query), torch "
            "(sentence-transformers), or auto (onnx for local folders it supports, else torch)."
        ),
    )

    @model_validator(mode="after")
    def _complete(self) -> EmbeddingSettings:
        if self.provider != "packaged" and not self.model:
            raise ValueError(f"embeddings provider '{self.provider}' needs `model`")
        if self.provider == "openai-compatible" and not self.base_url:
            raise ValueError("embeddings provider 'openai-compatible' needs `base_url`")
        return self


class ChromaSettings(BaseModel):
    """Where collections are stored: a folder (default) or a Chroma server."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(default=".stepladder/chroma", description="Store folder, project-relative.")
    host: str | None = Field(default=None, description="A Chroma server's host (HttpClient).")
    port: int = Field(default=8000, description="The Chroma server's port.")
