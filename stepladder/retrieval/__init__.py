"""Retrieval: embedding functions, the Chroma store, documents, ingest, the embedding cache.

Nothing trained lives here: embedding classifiers and routers are in `stepladder.predictors`.
The names below load on first use (the store imports Chroma), so that a light submodule such
as `stepladder.retrieval.documents` imports quickly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stepladder.lazy import lazy_exports

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


__getattr__, __dir__ = lazy_exports("stepladder.retrieval", globals(), _LAZY)
