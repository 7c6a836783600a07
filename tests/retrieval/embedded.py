"""The packaged embedding model, loaded once per test session, and stores on disk."""

from __future__ import annotations

import functools
from pathlib import Path

from stepladder.config.retrieval import ChromaSettings, EmbeddingSettings
from stepladder.retrieval import EmbeddingFunction, Store, open_store
from stepladder.retrieval.embeddings import shared_embedder


@functools.cache
def packaged_embeddings() -> EmbeddingFunction:
    """The packaged all-MiniLM-L6-v2, loaded (about 5 s) on the first call only."""
    embeddings = shared_embedder(EmbeddingSettings())
    embeddings.embed(["load the model"])
    return embeddings


def store_in(folder: Path) -> Store:
    """A real Chroma store on disk in `folder`, with the packaged model."""
    return open_store(ChromaSettings(path=str(folder / "chroma")), folder, packaged_embeddings())
