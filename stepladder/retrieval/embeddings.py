"""Embedding functions: packaged MiniLM (default), sentence-transformers, or an endpoint.

The packaged all-MiniLM-L6-v2 works offline; any sentence-transformers model works by name;
an OpenAI-compatible `/embeddings` endpoint (SGLang serves one) works by URL. All return
L2-normalised vectors, embedded in batches.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import httpx

from stepladder.config.retrieval import EmbeddingSettings
from stepladder.errors import ConfigError, ModelError
from stepladder.retrieval.local_models import (
    INSTALL_HINT,
    PACKAGED_NAME,
    packaged_model_path,
    quiet_transformers,
)
from stepladder.retrieval.onnx_embeddings import OnnxEmbeddings, onnx_available, onnx_pooling
from stepladder.runtimes.base import read_api_key

__all__ = [
    "PACKAGED_NAME",
    "EmbeddingFunction",
    "OpenAICompatibleEmbeddings",
    "SentenceTransformerEmbeddings",
    "embedding_function",
    "normalise",
    "quiet_transformers",
    "shared_embedder",
]


class EmbeddingFunction(Protocol):
    """Turns texts into normalised vectors."""

    name: str

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed texts (in batches); each vector has length 1."""
        ...


def normalise(vector: Sequence[float]) -> list[float]:
    """Scale a vector to length 1 (a zero vector stays zero)."""
    norm = math.sqrt(sum(v * v for v in vector))
    return [float(v) / norm for v in vector] if norm else [float(v) for v in vector]


class SentenceTransformerEmbeddings:
    """A sentence-transformers model: a name, a local folder, or the packaged MiniLM."""

    def __init__(self, model: str | None = None, batch_size: int = 64) -> None:
        self.model_name = model
        self.batch_size = batch_size
        self.name = model or PACKAGED_NAME
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            try:
                from sentence_transformers import SentenceTransformer  # lazy: optional, heavy
            except ImportError as error:
                raise ConfigError(
                    f"embeddings need sentence-transformers: {INSTALL_HINT}."
                ) from error
            quiet_transformers()
            source = self.model_name or str(packaged_model_path())
            try:
                self._model = SentenceTransformer(source, device="cpu")
            except Exception as error:
                raise ModelError(f"could not load embedding model '{source}': {error}") from error
        return self._model

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed texts in batches of `batch_size`, normalised."""
        if not texts:
            return []
        vectors = self._load().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return [[float(v) for v in row] for row in vectors]


class OpenAICompatibleEmbeddings:
    """An `/embeddings` endpoint (SGLang, vLLM, llama.cpp, or a provider API)."""

    def __init__(self, base_url: str, model: str, api_key: str, batch_size: int = 64) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = model
        self.batch_size = batch_size
        self._headers = {"Authorization": f"Bearer {api_key}"}

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed texts in batches through the endpoint, normalised."""
        vectors: list[list[float]] = []
        with httpx.Client(timeout=120.0, headers=self._headers) as client:
            for start in range(0, len(texts), self.batch_size):
                batch = list(texts[start : start + self.batch_size])
                vectors.extend(self._request(client, batch))
        return vectors

    def _request(self, client: httpx.Client, batch: list[str]) -> list[list[float]]:
        url = f"{self.base_url}/embeddings"
        try:
            response = client.post(url, json={"model": self.model, "input": batch})
            response.raise_for_status()
        except httpx.HTTPError as error:
            raise ModelError(f"embeddings endpoint {url} failed: {error}") from error
        data = sorted(response.json()["data"], key=lambda item: item["index"])
        return [normalise(item["embedding"]) for item in data]


def embedding_function(settings: EmbeddingSettings) -> EmbeddingFunction:
    """The embedding function the settings describe (loaded lazily, on first use)."""
    if settings.provider == "packaged":
        return _local_model(None, settings)
    if settings.provider == "sentence-transformers":
        return _local_model(settings.model, settings)
    assert settings.base_url is not None and settings.model is not None
    key = read_api_key(settings.api_key_env, "embeddings")
    return OpenAICompatibleEmbeddings(settings.base_url, settings.model, key, settings.batch_size)


def _local_model(model: str | None, settings: EmbeddingSettings) -> EmbeddingFunction:
    """A local model on ONNX Runtime where it can run there (`auto`/`onnx`), else on torch."""
    if settings.backend == "torch":
        return SentenceTransformerEmbeddings(model, settings.batch_size)
    folder = packaged_model_path() if model is None else Path(model)
    runs_on_onnx = folder.is_dir() and onnx_pooling(folder) is not None
    if settings.backend == "onnx":
        if not folder.is_dir():
            raise ConfigError(
                f"embeddings backend 'onnx' needs a local model folder, not '{model}'; "
                "download the model to a folder or set `backend: torch`."
            )
        return OnnxEmbeddings(folder, model or PACKAGED_NAME, settings.batch_size)
    if runs_on_onnx and onnx_available():
        return OnnxEmbeddings(folder, model or PACKAGED_NAME, settings.batch_size)
    return SentenceTransformerEmbeddings(model, settings.batch_size)


_shared: dict[EmbeddingSettings, EmbeddingFunction] = {}
_shared_lock = threading.Lock()


def shared_embedder(settings: EmbeddingSettings) -> EmbeddingFunction:
    """One embedding function per settings in this process, so each model loads once."""
    with _shared_lock:
        if settings not in _shared:
            _shared[settings] = embedding_function(settings)
        return _shared[settings]
