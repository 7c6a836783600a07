"""What a router sees of a text: its embedding, plus a few cheap text features.

The embedding is the project's embedding function (the packaged all-MiniLM-L6-v2 by
default, the one retrieval and embedding classifiers use). The text features are counts a
regular expression finds: length, lines, numbers, digits, maths symbols, question marks.
Long prompts with many numbers are harder for small models, which embeddings of the first
256 tokens only partly show.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stepladder.config.retrieval import EmbeddingSettings
from stepladder.retrieval.embedding_cache import Progress, embed_cached
from stepladder.retrieval.embeddings import EmbeddingFunction

__all__ = ["TEXT_FEATURES", "embed_texts", "text_features"]

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
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_MATH = re.compile(r"[=+\-*/^%<>$]")


def text_features(texts: Sequence[str]) -> NDArray[np.float64]:
    """One row of `TEXT_FEATURES` per text (log-scaled counts and shares)."""
    rows = np.zeros((len(texts), len(TEXT_FEATURES)))
    for i, text in enumerate(texts):
        numbers = _NUMBER.findall(text)
        size = max(len(text), 1)
        rows[i] = (
            math.log1p(len(text)),
            math.log1p(len(text.split())),
            math.log1p(text.count("\n")),
            math.log1p(len(numbers)),
            math.log1p(sum(len(n) for n in numbers)),
            sum(c.isdigit() for c in text) / size,
            len(_MATH.findall(text)) / size,
            math.log1p(text.count("?")),
        )
    return rows


def embed_texts(
    texts: Sequence[str],
    embedder: EmbeddingFunction,
    settings: EmbeddingSettings,
    cache_dir: Path | None = None,
    advance: Progress | None = None,
) -> NDArray[np.float32]:
    """Normalised embeddings of `texts` (rows), cached in `cache_dir` by model and texts."""
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return embed_cached(list(texts), embedder, settings.model_dump_json(), cache_dir, advance)
