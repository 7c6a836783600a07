"""Synthetic routing data: easy texts the small tier gets right, hard ones it gets wrong."""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence

import numpy as np

EASY = ["weather", "sunny", "rain", "hello", "thanks", "morning", "coffee", "music"]
HARD = ["integral", "theorem", "derivative", "eigenvalue", "proof", "lemma", "tensor", "matrix"]


class HashEmbeddings:
    """A deterministic bag-of-words embedding (a real object, not a mock), 64-d, normalised."""

    name = "hash-words-64"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        rows = []
        for text in texts:
            vector = [0.0] * 64
            for word in text.lower().split():
                digest = hashlib.sha256(word.encode()).digest()
                vector[digest[0] % 64] += 1.0 if digest[1] % 2 else -1.0
            norm = math.sqrt(sum(v * v for v in vector)) or 1.0
            rows.append([v / norm for v in vector])
        return rows


def sample(n: int = 120, seed: int = 0) -> tuple[list[str], list[str], dict[str, np.ndarray]]:
    """Ids, texts and per-tier correctness: small right on easy texts (90%), hard (20%)."""
    rng = random.Random(seed)
    ids, texts, small, frontier = [], [], [], []
    for i in range(n):
        hard = i % 2 == 1
        words = rng.sample(HARD if hard else EASY, 3) + rng.sample(EASY + HARD, 1)
        ids.append(f"case-{i}")
        texts.append(" ".join(words))
        small.append(float(rng.random() < (0.2 if hard else 0.9)))
        frontier.append(float(rng.random() < 0.95))
    return ids, texts, {"small": np.array(small), "frontier": np.array(frontier)}
