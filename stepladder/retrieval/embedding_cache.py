"""Embedding many texts: in chunks with progress, cached on disk by model and texts.

Retraining a classifier on the same examples, or rerunning a benchmark, then embeds nothing.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TimeElapsedColumn
from rich.progress import Progress as ProgressBar

from stepladder.retrieval.embeddings import EmbeddingFunction
from stepladder.wording import plural

__all__ = ["Progress", "embed_cached", "progress_on"]

CHUNK = 256
Progress = Callable[[int, int], None]


def embed_cached(
    texts: Sequence[str],
    embedder: EmbeddingFunction,
    model_key: str,
    cache_dir: Path | None = None,
    advance: Progress | None = None,
) -> NDArray[np.float32]:
    """Embed texts in chunks, calling `advance(done, total)`, cached as `.npy` in `cache_dir`.

    Args:
        texts: The texts.
        embedder: The embedding function.
        model_key: What identifies the model (its settings as JSON), part of the cache key.
        cache_dir: The cache folder; no caching without one.
        advance: Progress callback.
    """
    digest = hashlib.sha256(model_key.encode())
    for text in texts:
        digest.update(b"\0" + text.encode())
    file = cache_dir / f"{digest.hexdigest()[:32]}.npy" if cache_dir else None
    if file is not None and file.is_file():
        if advance:
            advance(len(texts), len(texts))
        return np.asarray(np.load(file, allow_pickle=False), dtype=np.float32)
    rows: list[list[float]] = []
    for start in range(0, len(texts), CHUNK):
        rows.extend(embedder.embed(list(texts[start : start + CHUNK])))
        if advance:
            advance(min(start + CHUNK, len(texts)), len(texts))
    vectors = np.asarray(rows, dtype=np.float32)
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        staging = file.with_name(f".{file.stem}.{time.time_ns()}.npy")
        np.save(staging, vectors)
        staging.replace(file)
    return vectors


def progress_on(console: Console | None, what: str) -> Progress | None:
    """A callback that shows a bar (on a terminal), then prints the time embedding took."""
    if console is None:
        return None
    started = time.perf_counter()
    bar = _bar(console, what) if console.is_terminal else None
    task = bar.add_task(what) if bar is not None else None

    def advance(done: int, total: int) -> None:
        if bar is not None and task is not None:
            if not bar.live.is_started:
                bar.start()
            bar.update(task, completed=done, total=total)
            if done >= total:
                bar.stop()
        if done >= total:
            took = time.perf_counter() - started
            console.print(f"embedded {plural(total, what + ' text')} in {took:.2f} s")

    return advance


def _bar(console: Console, what: str) -> ProgressBar:
    columns = (f"embedding {what} texts", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return ProgressBar(*columns, console=console, transient=True)
