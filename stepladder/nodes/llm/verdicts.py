"""Asking a judge model for a verdict: one traced, priced call that returns (passed, reason).

Shared by the eval judge metric and the escalation judge verifier: they differ only in the
signature's fields and in what an invalid verdict means to them.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from stepladder.errors import ModelError
from stepladder.nodes.llm.exchange import lm_call, provider_of
from stepladder.nodes.llm.model_calls import RETRY_TEMPERATURE, record_model_call
from stepladder.runtimes.pool import BoundTier
from stepladder.runtimes.usage import UsageLedger
from stepladder.tracing import Tracing, model_span, set_error, set_preview
from stepladder.tracing import attributes as names

if TYPE_CHECKING:
    import dspy

__all__ = ["ask_verdict"]


async def ask_verdict(
    signature: type[dspy.Signature],
    inputs: dict[str, str],
    *,
    bound: BoundTier,
    ledger: UsageLedger,
    tracing: Tracing | None,
    flow: str,
    node_id: str,
    node_kind: str,
    who: str,
    attempt: int = 1,
) -> tuple[bool, str] | None:
    """One judge call: (passed, reason), or None when the answer is not a valid verdict.

    A valid verdict has a bool `passed` and a non-empty `reason`. A retry (`attempt` > 1) is
    sampled warmer. The call is a model span and a ledger entry like any model call.

    Raises:
        ModelError: Naming `who` (say, "metric 'x'"), when the judge's model fails.
    """
    import dspy  # lazy: importing DSPy (and LiteLLM) takes seconds

    config: dict[str, Any] = {"temperature": RETRY_TEMPERATURE} if attempt > 1 else {}
    with model_span(
        tracing, flow=flow, node_id=node_id, node_kind=node_kind, tier=bound.name,
        model=bound.endpoint.display_name or bound.endpoint.model, attempt=attempt, inputs=inputs,
        provider=provider_of(bound),
    ) as span:  # fmt: skip
        started = time.perf_counter()
        try:
            with lm_call(bound, tracing, span):
                prediction = await dspy.Predict(signature).acall(**inputs, config=config)
        except dspy.utils.exceptions.AdapterParseError as error:
            record_model_call(ledger, bound, node_id=node_id, started=started, usage=None,
                              attempt=attempt, ok=False, span=span)  # fmt: skip
            set_error(span, f"invalid verdict: {str(error.message).splitlines()[0]}")
            return None
        except dspy.utils.exceptions.LMError as error:
            raise ModelError(
                f"{who}: judge tier '{bound.name}' failed: {str(error).splitlines()[0]}"
            ) from error
        usage = prediction.get_lm_usage() if hasattr(prediction, "get_lm_usage") else None
        passed, reason = prediction.get("passed"), prediction.get("reason")
        ok = isinstance(passed, bool) and isinstance(reason, str) and bool(reason.strip())
        record_model_call(ledger, bound, node_id=node_id, started=started, usage=usage,
                          attempt=attempt, ok=ok, span=span)  # fmt: skip
        set_preview(tracing, span, names.OUTPUT, {"passed": passed, "reason": reason})
        if not ok:
            set_error(span, "invalid verdict: no pass/fail or an empty reason")
            return None
    return bool(passed), str(reason).strip()
