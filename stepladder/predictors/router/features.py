"""What a router sees of a text: its embedding, plus a few cheap text features.

The embedding is the project's embedding function (the packaged all-MiniLM-L6-v2 by
default, the one retrieval and embedding classifiers use). That model reads only its first
256 tokens, so a long text is embedded whole, in pieces (`text_windows`): consecutive
windows of `WINDOW_WORDS` words, and the window that ends the text (where the question
usually is). Its vector is the normalised mean of the windows' mean and the end window,
each weighted half (`pooled_vectors`): few-shot prompts that share a long start still get
different vectors. Texts of at most `WINDOW_WORDS` words are embedded as they are.

The text features are counts a regular expression finds: length, lines, numbers, digits,
maths symbols, question marks; then how many distinct numbers, how large the largest, how
many decimals, and how many words relate quantities ("half", "twice", "each", "per",
"remaining") or name a time unit. Long prompts with many numbers, and word problems with
many quantities to combine, are harder for small models. Features are only ever appended,
so a router trained with fewer reads the first ones it knows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from stepladder.config.retrieval import EmbeddingSettings
from stepladder.retrieval.embedding_cache import Progress, embed_cached
from stepladder.retrieval.embeddings import EmbeddingFunction

__all__ = [
    "LONG_TEXTS",
    "TEXT_FEATURES",
    "WINDOW_WORDS",
    "embed_texts",
    "pooled_vectors",
    "text_features",
    "text_windows",
]

Floats = NDArray[np.floating[Any]]
TEXT_FEATURES = (
    "log_chars",
    "log_words",
    "log_lines",
    "log_numbers",
    "log_number_chars",
    "digit_share",
    "math_share",
    "log_questions",
    "log_distinct_numbers",
    "loglog_largest_number",
    "log_decimals",
    "log_relation_words",
    "log_time_units",
)
WINDOW_WORDS = 150
END_WEIGHT = 0.5
LONG_TEXTS: Final = "pooled-windows"
_WORD = re.compile(r"\S+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_MATH = re.compile(r"[=+\-*/^%<>$]")
_RELATION = re.compile(
    r"\b(?:half|twice|third|quarter|double|triple|percent|fraction|ratio|average|remaining"
    r"|rest|each|per|every|times)\b"
)
_TIME_UNIT = re.compile(r"\b(?:hour|minute|week|month|year|day)s?\b")


def text_features(texts: Sequence[str]) -> NDArray[np.float64]:
    """One row of `TEXT_FEATURES` per text (log-scaled counts and shares)."""
    rows = np.zeros((len(texts), len(TEXT_FEATURES)))
    for i, text in enumerate(texts):
        numbers = _NUMBER.findall(text)
        size = max(len(text), 1)
        lower = text.lower()
        largest = max((_value(n) for n in numbers), default=0.0)
        rows[i] = (
            math.log1p(len(text)),
            math.log1p(len(text.split())),
            math.log1p(text.count("\n")),
            math.log1p(len(numbers)),
            math.log1p(sum(len(n) for n in numbers)),
            sum(c.isdigit() for c in text) / size,
            len(_MATH.findall(text)) / size,
            math.log1p(text.count("?")),
            math.log1p(len(set(numbers))),
            math.log1p(math.log1p(largest)),
            math.log1p(sum("." in n for n in numbers)),
            math.log1p(len(_RELATION.findall(lower))),
            math.log1p(len(_TIME_UNIT.findall(lower))),
        )
    return rows


def _value(number: str) -> float:
    """A matched number's value ("1,250.5" -> 1250.5; "1.2.3" -> 1.2), capped at 1e18."""
    whole, _, rest = number.replace(",", "").partition(".")
    fraction = rest.partition(".")[0]
    return min(float(f"{whole}.{fraction}" if fraction else whole), 1e18)


def text_windows(text: str, size: int = WINDOW_WORDS) -> list[str]:
    """The pieces a text is embedded in: itself if short, else its windows and its end.

    A long text gives its consecutive windows of `size` words, then the last `size` words
    (the end window); each piece keeps the text's own spacing.
    """
    spans = [m.span() for m in _WORD.finditer(text)]
    if len(spans) <= size:
        return [text]
    starts = range(0, len(spans), size)
    windows = [text[spans[i][0] : spans[min(i + size, len(spans)) - 1][1]] for i in starts]
    return [*windows, text[spans[-size][0] : spans[-1][1]]]


def pooled_vectors(
    pieces: Sequence[Sequence[str]], vectors: dict[str, NDArray[np.float32]]
) -> NDArray[np.float32]:
    """One normalised vector per text from its pieces' vectors (see the module docstring)."""
    rows = []
    for parts in pieces:
        if len(parts) == 1:
            rows.append(vectors[parts[0]])
            continue
        windows = np.mean([vectors[p] for p in parts[:-1]], axis=0)
        windows /= max(float(np.linalg.norm(windows)), 1e-12)
        pooled = (1 - END_WEIGHT) * windows + END_WEIGHT * vectors[parts[-1]]
        rows.append(pooled / max(float(np.linalg.norm(pooled)), 1e-12))
    return np.asarray(rows, dtype=np.float32)


def embed_texts(
    texts: Sequence[str],
    embedder: EmbeddingFunction,
    settings: EmbeddingSettings,
    cache_dir: Path | None = None,
    advance: Progress | None = None,
) -> NDArray[np.float32]:
    """Normalised embeddings of whole `texts` (rows), pieces cached in `cache_dir`.

    Long texts are embedded in windows and pooled (`text_windows`, `pooled_vectors`).
    """
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    pieces = [text_windows(text) for text in texts]
    unique = list(dict.fromkeys(p for parts in pieces for p in parts))
    embedded = embed_cached(unique, embedder, settings.model_dump_json(), cache_dir, advance)
    return pooled_vectors(pieces, dict(zip(unique, embedded, strict=True)))
