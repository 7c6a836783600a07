"""The Chroma store: collections on disk under the project, or on a Chroma server.

Collections always get stepladder's embedding function: Chroma's default one downloads a
model at run time, which fails offline.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from stepladder.config import Project
from stepladder.config.retrieval import ChromaSettings, EmbeddingSettings
from stepladder.errors import ConfigError, ModelError
from stepladder.retrieval.embeddings import EmbeddingFunction, shared_embedder
from stepladder.retrieval.local_models import PACKAGED_NAME

__all__ = ["Passage", "Store", "open_project_store", "open_store"]

SPACE = "cosine"


@dataclass(frozen=True)
class Passage:
    """One retrieved chunk.

    Attributes:
        id: Its id in the collection (a content hash for ingested chunks).
        text: The chunk's text.
        score: Cosine similarity to the query (1 is identical).
        metadata: Fields kept from the source (file, row fields, chunk index, ...).
    """

    id: str
    text: str
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)


def _chroma_embedding(embeddings: EmbeddingFunction) -> Any:
    """Wrap an embedding function in Chroma's interface."""
    from chromadb.api.types import Documents, Embeddings  # lazy: chromadb is heavy
    from chromadb.api.types import EmbeddingFunction as ChromaEmbeddingFunction  # lazy: heavy

    class StepladderEmbedding(ChromaEmbeddingFunction[Documents]):
        def __init__(self, inner: EmbeddingFunction) -> None:
            self.inner = inner

        def __call__(self, input: Documents) -> Embeddings:
            return [np.asarray(v, dtype=np.float32) for v in self.inner.embed(list(input))]

        @staticmethod
        def name() -> str:
            return "stepladder"

        def get_config(self) -> dict[str, Any]:
            return {"model": self.inner.name}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> StepladderEmbedding:
            # Chroma rebuilds a collection's function when listing it; nothing loads until used.
            model = config.get("model")
            if model == PACKAGED_NAME:
                return StepladderEmbedding(shared_embedder(EmbeddingSettings()))
            settings = EmbeddingSettings(provider="sentence-transformers", model=model)
            return StepladderEmbedding(shared_embedder(settings))

        def default_space(self) -> Any:
            return SPACE

        def is_legacy(self) -> bool:
            return False

    return StepladderEmbedding(embeddings)


WRITE_LOCK = "stepladder-write.lock"
"""The file in a store folder that writers lock (the OS releases it if a process dies)."""


@contextlib.contextmanager
def _locked(file: Path | None) -> Iterator[None]:
    """Hold an exclusive lock on `file` (nothing when None)."""
    if file is None:
        yield
        return
    with file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Store:
    """Collections of text chunks with their embeddings.

    Args:
        client: A Chroma client (persistent or HTTP).
        embeddings: The embedding function every collection uses.
        write_lock: A file locked around each `add`, so processes adding to a store on disk
            at once each count only the chunks they added (None: no lock).
        server: The Chroma server's `host:port` when `client` is an HTTP client: a server
            that stops answering raises `ModelError` naming it (None: a store on disk).
    """

    def __init__(
        self,
        client: Any,
        embeddings: EmbeddingFunction,
        write_lock: Path | None = None,
        server: str | None = None,
    ) -> None:
        self.client = client
        self.embeddings = embeddings
        self.write_lock = write_lock
        self.server = server
        self._function = _chroma_embedding(embeddings)

    @contextlib.contextmanager
    def _reaching(self) -> Iterator[None]:
        """Turn a Chroma server that does not answer into a `ModelError` saying what to do."""
        try:
            yield
        except httpx.TransportError as error:
            if self.server is None:
                raise
            raise ModelError(_server_down(self.server, error)) from error

    def collection(self, name: str, *, create: bool = False) -> Any:
        """A collection by name; created when `create`, else it must exist.

        Raises:
            ConfigError: If it does not exist (listing those that do).
        """
        if create:
            with self._reaching():
                return self.client.get_or_create_collection(
                    name, embedding_function=self._function, metadata={"hnsw:space": SPACE}
                )
        names = self.names()
        if name not in names:
            where = f"the Chroma server at {self.server}" if self.server else "the store"
            raise ConfigError(
                f"no collection '{name}' in {where}; collections: "
                f"{', '.join(names) or '(none)'}. Create it with "
                f"`stepladder ingest {name} PATH...`."
            )
        with self._reaching():
            return self.client.get_collection(name, embedding_function=self._function)

    def names(self) -> list[str]:
        """The collections in the store."""
        with self._reaching():
            listed = self.client.list_collections()
        return sorted(c if isinstance(c, str) else c.name for c in listed)

    def counts(self) -> dict[str, int]:
        """How many chunks each collection holds."""
        with self._reaching():
            return {name: int(self.collection(name).count()) for name in self.names()}

    def add(
        self,
        name: str,
        ids: Sequence[str],
        texts: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
    ) -> int:
        """Add chunks whose ids are not there yet; return how many were added."""
        with _locked(self.write_lock), self._reaching():
            target = self.collection(name, create=True)
            existing = set(target.get(ids=list(ids), include=[])["ids"]) if ids else set()
            fresh = [i for i, chunk_id in enumerate(ids) if chunk_id not in existing]
            if fresh:
                target.add(
                    ids=[ids[i] for i in fresh],
                    documents=[texts[i] for i in fresh],
                    metadatas=[dict(metadatas[i]) or None for i in fresh],
                )
        return len(fresh)

    def query(
        self, name: str, text: str, k: int = 5, where: Mapping[str, Any] | None = None
    ) -> list[Passage]:
        """The `k` chunks most similar to `text`, optionally filtered by metadata."""
        target = self.collection(name)
        vector = self.embeddings.embed([text])[0]
        with self._reaching():
            result = target.query(
                query_embeddings=[vector],
                n_results=k,
                where=dict(where) if where else None,
                include=["documents", "metadatas", "distances"],
            )
        return [
            Passage(chunk_id, document or "", round(1.0 - float(distance), 6), dict(meta or {}))
            for chunk_id, document, meta, distance in zip(
                result["ids"][0],
                result["documents"][0],
                result["metadatas"][0],
                result["distances"][0],
                strict=True,
            )
        ]


def open_store(
    settings: ChromaSettings, project_root: Path, embeddings: EmbeddingFunction
) -> Store:
    """Open the project's store: a folder (default) or a Chroma server.

    Raises:
        ModelError: If a configured Chroma server cannot be reached.
    """
    import chromadb  # lazy: chromadb takes seconds to import; only opening a store needs it
    from chromadb.config import Settings as ChromaClientSettings  # lazy: as above

    client_settings = ChromaClientSettings(anonymized_telemetry=False)
    if settings.host:
        server = f"{settings.host}:{settings.port}"
        try:
            client = chromadb.HttpClient(
                host=settings.host, port=settings.port, settings=client_settings
            )
        except Exception as error:
            raise ModelError(_server_down(server, error)) from error
        return Store(client, embeddings, server=server)
    path = Path(settings.path)
    folder = path if path.is_absolute() else project_root / path
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / WRITE_LOCK
    with _locked(lock):  # a fresh folder's tables are created once, not by two processes at once
        client = chromadb.PersistentClient(path=str(folder), settings=client_settings)
    return Store(client, embeddings, write_lock=lock)


def _server_down(server: str, error: BaseException) -> str:
    """What to say when the Chroma server at `server` does not answer."""
    reason = str(error).rstrip(".?") or type(error).__name__
    return (
        f"cannot reach the Chroma server at {server} ({reason}). Start it (`chroma run "
        "--path DATA --host HOST --port PORT`), fix `chroma.host`/`chroma.port` in "
        "stepladder.yaml, or remove `chroma.host` to use the store on disk."
    )


def open_project_store(project: Project) -> Store:
    """The project's store, with the embedding function its settings name (shared per process)."""
    settings = project.settings
    return open_store(settings.chroma, project.root, shared_embedder(settings.embeddings))
