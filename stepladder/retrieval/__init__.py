"""Retrieval: embedding functions, the Chroma store, documents, ingest, the embedding cache.

Nothing trained lives here: embedding classifiers and routers are in `stepladder.predictors`.
The names below load on first use (the store imports Chroma), so that a light submodule such
as `stepladder.retrieval.documents` imports quickly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stepladder.retrieval.embeddings import (
        EmbeddingFunction,
        OpenAICompatibleEmbeddings,
        SentenceTransformerEmbeddings,
        embedding_function,
        normalise,
        shared_embedder,
    )
    from stepladder.retrieval.store import Passage, Store, open_store

__all__ = [
    "EmbeddingFunction",
    "OpenAICompatibleEmbeddings",
    "Passage",
    "SentenceTransformerEmbeddings",
    "Store",
    "embedding_function",
    "normalise",
    "open_store",
    "shared_embedder",
]

_LAZY = {
    "EmbeddingFunction": "stepladder.retrieval.embeddings",
    "OpenAICompatibleEmbeddings": "stepladder.retrieval.embeddings",
    "SentenceTransformerEmbeddings": "stepladder.retrieval.embeddings",
    "embedding_function": "stepladder.retrieval.embeddings",
    "normalise": "stepladder.retrieval.embeddings",
    "shared_embedder": "stepladder.retrieval.embeddings",
    "Passage": "stepladder.retrieval.store",
    "Store": "stepladder.retrieval.store",
    "open_store": "stepladder.retrieval.store",
}


def __getattr__(name: str) -> Any:
    """Import a name of `__all__` from its module on first access."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'stepladder.retrieval' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's names, the lazily imported ones included."""
    return sorted(set(globals()) | set(_LAZY))
