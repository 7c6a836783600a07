"""A node's LoRA adapter on one tier: whether that tier's server serves it, and how to ask.

A node names its adapter (`adapter: NAME@vN`); the flow has the model pool load it into each
tier whose base model it was trained on. A call carries the adapter only to such a tier; a
call escalated to a tier with another base runs on that tier's own model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stepladder.nodes.artifacts import adapter_ref
from stepladder.nodes.context import RunContext
from stepladder.runtimes.pool import BoundTier

__all__ = ["Adapter", "served_adapter"]


@dataclass(frozen=True)
class Adapter:
    """A node's LoRA adapter as one tier serves it.

    Attributes:
        label: `NAME@vN`, for the span and the cost record.
        body: The request body fields that select it (sent as `extra_body`).
    """

    label: str
    body: Mapping[str, Any]


def served_adapter(reference: str | None, context: RunContext, bound: BoundTier) -> Adapter | None:
    """The adapter `reference` names, if `bound`'s server loaded it.

    Args:
        reference: The node's `adapter:` (NAME, NAME@vN or a folder), or None.
        context: The run context (its artifacts found the adapter when the run started).
        bound: The tier the call goes to.
    """
    if reference is None:
        return None
    saved = context.artifacts.adapter(adapter_ref(reference))
    body = bound.adapter_body(saved.key)
    return None if body is None else Adapter(saved.label, body)
