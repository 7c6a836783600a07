"""Ingest files into a collection: read, chunk, and add the new chunks in batches.

Chunk ids are content hashes (see `stepladder.retrieval.documents`), so ingesting the same
files again adds nothing.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from stepladder.errors import ConfigError
from stepladder.progress import progress_bar
from stepladder.retrieval.documents import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_OVERLAP,
    Chunk,
    check_sizes,
    chunk_records,
    collect_files,
    read_records,
)
from stepladder.retrieval.store import Store

__all__ = ["COLLECTION_NAME_PATTERN", "IngestResult", "check_collection_name", "ingest"]

BATCH_SIZE = 64
COLLECTION_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$"


@dataclass(frozen=True)
class IngestResult:
    """What an ingest did.

    Attributes:
        collection: The collection filled.
        files: Files read.
        records: Documents found in them.
        chunks: Chunks cut from the documents.
        added: Chunks added to the collection.
        skipped: Chunks already there (or repeated within the input).
        seconds: Wall time of the whole ingest.
    """

    collection: str
    files: int
    records: int
    chunks: int
    added: int
    skipped: int
    seconds: float


def check_collection_name(name: str) -> None:
    """Refuse a collection name Chroma would not accept.

    Raises:
        ConfigError: Saying what a valid name looks like.
    """
    if not re.match(COLLECTION_NAME_PATTERN, name) or ".." in name:
        raise ConfigError(
            f"'{name}' is not a valid collection name: use 3 to 512 letters, digits, '.', '_' "
            "or '-', starting and ending with a letter or digit (e.g. 'faq')."
        )


def ingest(
    store: Store,
    collection: str,
    paths: Sequence[Path],
    *,
    text_field: str = "text",
    id_field: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    overlap: int = DEFAULT_OVERLAP,
    root: Path | None = None,
    progress: bool = False,
    console: Console | None = None,
) -> IngestResult:
    """Read, chunk and add files to `collection` (created when missing).

    Every file is read and chunked before anything is added, so bad input changes nothing.

    Args:
        store: The store holding the collection.
        collection: The collection's name.
        paths: Files, or folders whose supported files are all read.
        text_field: The field (JSONL) or column (CSV) holding the text.
        id_field: The field holding a record id, if any.
        chunk_size: The longest chunk, in characters.
        overlap: Characters repeated from the end of one chunk at the start of the next.
        root: Sources under this folder are recorded relative to it.
        progress: Show a progress bar while embedding.
        console: Where the progress bar is drawn (default: stderr).

    Raises:
        ConfigError: For a bad name, path, file, field or chunk size.
    """
    started = time.perf_counter()
    check_collection_name(collection)
    check_sizes(chunk_size, overlap)
    files = collect_files(paths)
    records = [
        record
        for file in files
        for record in read_records(file, text_field, id_field, _source(file, root))
    ]
    chunks = chunk_records(records, chunk_size, overlap)
    unique: dict[str, Chunk] = {}
    for chunk in chunks:
        unique.setdefault(chunk.id, chunk)
    store.collection(collection, create=True)
    added = _add_batches(store, collection, list(unique.values()), progress, console)
    return IngestResult(
        collection=collection,
        files=len(files),
        records=len(records),
        chunks=len(chunks),
        added=added,
        skipped=len(chunks) - added,
        seconds=round(time.perf_counter() - started, 3),
    )


def _source(file: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return file.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return file.as_posix()


def _add_batches(
    store: Store, collection: str, chunks: list[Chunk], progress: bool, console: Console | None
) -> int:
    added = 0
    bar = progress_bar(console=console, disable=not progress)
    with bar:
        task = bar.add_task(f"embedding chunks into '{collection}'", total=len(chunks))
        for start in range(0, len(chunks), BATCH_SIZE):
            batch = chunks[start : start + BATCH_SIZE]
            added += store.add(
                collection,
                [chunk.id for chunk in batch],
                [chunk.text for chunk in batch],
                [chunk.metadata for chunk in batch],
            )
            bar.advance(task, len(batch))
    return added
