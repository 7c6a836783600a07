"""The usage ledger: one record per model call (tokens, time, attempt), per run."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ModelCall", "UsageLedger", "usage_from_dspy"]


@dataclass(frozen=True)
class ModelCall:
    """One call to a model.

    Attributes:
        node_id: The node that made it.
        tier: The tier it went to.
        model: The model's name.
        prompt_tokens: Input tokens.
        completion_tokens: Output tokens.
        cached_tokens: Input tokens served from the server's prompt cache.
        seconds: Wall time of the call.
        attempt: 1 for the first try, 2 for the first retry, ...
        ok: Whether the output parsed and validated.
    """

    node_id: str
    tier: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    seconds: float
    attempt: int = 1
    ok: bool = True


@dataclass
class UsageLedger:
    """Collects the model calls of a run (safe to share across threads and tasks)."""

    calls: list[ModelCall] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, call: ModelCall) -> None:
        """Add a call."""
        with self._lock:
            self.calls.append(call)

    def totals(self) -> dict[str, int | float]:
        """Calls, tokens and seconds summed over the run."""
        with self._lock:
            calls = list(self.calls)
        return {
            "calls": len(calls),
            "prompt_tokens": sum(c.prompt_tokens for c in calls),
            "completion_tokens": sum(c.completion_tokens for c in calls),
            "cached_tokens": sum(c.cached_tokens for c in calls),
            "retries": sum(1 for c in calls if c.attempt > 1),
            "seconds": round(sum(c.seconds for c in calls), 3),
        }


def usage_from_dspy(usage: dict[str, Any] | None) -> tuple[int, int, int]:
    """Read (prompt, completion, cached) tokens from a DSPy/OpenAI usage dict."""
    prompt = completion = cached = 0
    for entry in (usage or {}).values():
        if not isinstance(entry, dict):
            continue
        prompt += int(entry.get("prompt_tokens") or 0)
        completion += int(entry.get("completion_tokens") or 0)
        details = entry.get("prompt_tokens_details") or {}
        cached += int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
    return prompt, completion, cached
