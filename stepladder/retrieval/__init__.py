"""Retrieval: embedding functions, the Chroma store, documents, ingest, the embedding cache.

Nothing trained lives here: embedding classifiers and routers are in `stepladder.predictors`.
"""

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
