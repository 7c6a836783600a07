"""Recording one model call: the usage ledger (tokens, time, price) and its span's attributes."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from opentelemetry.trace import Span

from stepladder.runtimes.pool import BoundTier
from stepladder.runtimes.usage import ModelCall, UsageLedger, usage_from_dspy
from stepladder.tracing import attributes as names

__all__ = ["RETRY_TEMPERATURE", "record_model_call"]

RETRY_TEMPERATURE = 0.7
"""The temperature of a retry after invalid output, and of extra samples."""


def record_model_call(
    ledger: UsageLedger,
    bound: BoundTier,
    *,
    node_id: str,
    started: float,
    usage: Mapping[str, Any] | None,
    attempt: int,
    ok: bool,
    span: Span,
    escalation_reason: str | None = None,
    adapter: str | None = None,
) -> ModelCall:
    """Price a call that started at `started` (monotonic), record it, and put it on `span`.

    An answer from DSPy's response cache (which reports no usage) costs nothing. The first
    call a node makes on a rung it escalated to carries the `escalation_reason`; a call that
    ran with a LoRA adapter, its `adapter` (`NAME@vN`).
    """
    ended = time.perf_counter()
    prompt, completion, cached = usage_from_dspy(dict(usage or {}))
    from_cache = bound.answered_from_cache(prompt, completion)
    cost = bound.pricer.price(prompt, completion, cached, started, ended)
    call = ModelCall(
        node_id=node_id,
        tier=bound.name,
        model=bound.endpoint.display_name or bound.endpoint.model,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=cached,
        seconds=ended - started,
        attempt=attempt,
        ok=ok,
        cost_usd=0.0 if from_cache else cost.usd,
        cost_basis="cached" if from_cache else cost.basis,
        cached=from_cache,
        escalation_reason=escalation_reason,
        adapter=adapter,
    )
    ledger.record(call)
    if span.is_recording():
        span.set_attributes(
            {
                names.GEN_AI_INPUT_TOKENS: prompt,
                names.GEN_AI_OUTPUT_TOKENS: completion,
                names.GEN_AI_CACHED_TOKENS: cached,
                names.COST_USD: call.cost_usd,
                names.COST_BASIS: call.cost_basis,
            }
        )
        if escalation_reason:
            span.set_attribute(names.ESCALATION_REASON, escalation_reason)
    return call
