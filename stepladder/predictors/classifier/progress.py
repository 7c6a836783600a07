"""Embedding and fitting many examples with bounded memory, showing progress.

Embedding functions return Python lists of floats (about 32 bytes a number: 1.2 GB for 100,000
384-dimensional vectors), so large sets are embedded in blocks, each cached on its own and kept
as float32 (1.5 KB a vector).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TimeElapsedColumn
from rich.progress import Progress as ProgressBar

from stepladder.retrieval.embedding_cache import Progress, embed_cached, progress_on
from stepladder.retrieval.embeddings import EmbeddingFunction

__all__ = ["BLOCK", "embed_blocks", "fit_progress"]

BLOCK = 16_384  # texts per cached block (a set this size or smaller is one block)


def embed_blocks(
    texts: Sequence[str],
    embedder: EmbeddingFunction,
    model_key: str,
    cache_dir: Path | None,
    console: Console | None,
    what: str,
) -> NDArray[np.float32]:
    """Embed `texts` (rows of float32) in cached blocks of `BLOCK`, with one progress bar."""
    advance = progress_on(console, what)
    if len(texts) <= BLOCK:  # one block: the same cache entry as `embed_cached` alone
        return embed_cached(texts, embedder, model_key, cache_dir, advance)
    parts = [
        embed_cached(
            texts[start : start + BLOCK],
            embedder,
            model_key,
            cache_dir,
            _shifted(advance, start, len(texts)),
        )
        for start in range(0, len(texts), BLOCK)
    ]
    return np.concatenate(parts)


def _shifted(advance: Progress | None, offset: int, total: int) -> Progress | None:
    if advance is None:
        return None
    return lambda done, _: advance(offset + done, total)


@contextlib.contextmanager
def fit_progress(console: Console | None, shown: bool) -> Iterator[Progress | None]:
    """A progress callback for a streamed fit, shown as a bar on a terminal."""
    if console is None or not shown or not console.is_terminal:
        yield None
        return
    columns = ("fitting", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with ProgressBar(*columns, console=console, transient=True) as bar:
        task = bar.add_task("fitting")

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance
