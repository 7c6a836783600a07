"""What one rung of a node's ladder gives back: a validated answer, or output left invalid."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Invalid", "ModelAnswer"]


@dataclass(frozen=True)
class ModelAnswer:
    """A validated answer and what it took.

    Attributes:
        values: The output fields.
        logprobs: The token log-probabilities, when the tier gave them.
        attempts: Calls made on the rung that answered.
        tier: The rung that answered (a tier, `embeddings` or `human`).
        confidence: How sure the rung was, when known.
    """

    values: dict[str, Any]
    logprobs: Any
    attempts: int
    tier: str = ""
    confidence: float | None = None


@dataclass(frozen=True)
class Invalid:
    """Output that stayed invalid through a rung's retries."""

    raw: str
    problem: str
    attempts: int
    tier: str
