"""The usage ledger: one record per model call (tokens, time, attempt), per run."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ModelCall", "UsageLedger", "calls_made", "usage_from_dspy"]

_WATCHERS: ContextVar[tuple[list[ModelCall], ...]] = ContextVar("stepladder_usage", default=())


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
        cost_usd: What the call cost (token price, or share of the machine).
        cost_basis: How the cost was worked out (`tokens`, `machine-tokens`, ...).
        escalation_reason: Why the call escalated to another tier, when it did.
        cached: Whether the answer came from the response cache (no model ran).
        adapter: The LoRA adapter the call ran with (`NAME@vN`), or None for the base model.
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
    cost_usd: float = 0.0
    cost_basis: str = ""
    escalation_reason: str | None = None
    cached: bool = False
    adapter: str | None = None


@contextmanager
def calls_made() -> Iterator[list[ModelCall]]:
    """The model calls recorded inside the block, and only those.

    Calls made by the tasks and threads the block starts count (they inherit its context);
    those of tasks running beside it (the other elements of a map, say) do not.
    """
    mine: list[ModelCall] = []
    token = _WATCHERS.set((*_WATCHERS.get(), mine))
    try:
        yield mine
    finally:
        _WATCHERS.reset(token)


@dataclass
class UsageLedger:
    """Collects the model calls of a run (safe to share across threads and tasks)."""

    calls: list[ModelCall] = field(default_factory=list)
    handoffs: list[tuple[str, str]] = field(default_factory=list)
    rungs: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, call: ModelCall) -> None:
        """Add a call (and hand it to each `calls_made` block it was made in)."""
        with self._lock:
            self.calls.append(call)
        for watcher in _WATCHERS.get():
            watcher.append(call)

    def record_handoff(self, node_id: str, reason: str) -> None:
        """Note that a node escalated to a human reviewer (no model call is made)."""
        with self._lock:
            self.handoffs.append((node_id, reason))

    def record_rung(self, node_id: str, rung: str) -> None:
        """Note the rung of its ladder (a tier, `embeddings` or `human`) that answered a node."""
        with self._lock:
            self.rungs[node_id] = rung

    def snapshot(self) -> list[ModelCall]:
        """The calls so far."""
        with self._lock:
            return list(self.calls)

    def count(self) -> int:
        """How many calls so far."""
        return len(self.calls)

    def since(self, index: int) -> list[ModelCall]:
        """The calls recorded after the first `index`."""
        with self._lock:
            return self.calls[index:]

    def cost_by_node(self) -> dict[str, float]:
        """USD spent by each node that called a model."""
        costs: dict[str, float] = {}
        for call in self.snapshot():
            costs[call.node_id] = costs.get(call.node_id, 0.0) + call.cost_usd
        return costs

    def cost_by_adapter(self) -> dict[str, float]:
        """USD spent on calls that ran with each LoRA adapter (base-model calls are not here)."""
        costs: dict[str, float] = {}
        for call in self.snapshot():
            if call.adapter is not None:
                costs[call.adapter] = costs.get(call.adapter, 0.0) + call.cost_usd
        return costs

    def totals(self) -> dict[str, Any]:
        """Calls, tokens, seconds and cost summed over the run, and cost per node and adapter.

        `escalations` counts model calls made on a higher rung (or a router's tier) and
        hand-offs to a human reviewer; `reviews` counts the hand-offs alone. `rungs` names,
        per node with a ladder, the rung that answered it.
        """
        calls = self.snapshot()
        with self._lock:
            rungs = dict(self.rungs)
        return {
            "calls": len(calls),
            "prompt_tokens": sum(c.prompt_tokens for c in calls),
            "completion_tokens": sum(c.completion_tokens for c in calls),
            "cached_tokens": sum(c.cached_tokens for c in calls),
            "retries": sum(1 for c in calls if c.attempt > 1),
            "seconds": round(sum(c.seconds for c in calls), 3),
            "escalations": sum(1 for c in calls if c.escalation_reason) + len(self.handoffs),
            "reviews": len(self.handoffs),
            "cached_calls": sum(1 for c in calls if c.cached),
            "cost_usd": sum(c.cost_usd for c in calls),
            "cost_by_node": self.cost_by_node(),
            "cost_by_adapter": self.cost_by_adapter(),
            "rungs": rungs,
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
