"""Climbing a node's ladder: run on a rung, check the answer, escalate on a trigger.

A rung is a tier (one `LLMCall.on_tier`, with its retries), `embeddings` (an embedding
classifier, first), or `human` (a reviewer, through `interrupt`). A trigger (output still
invalid, confidence below `min_confidence`, a verifier's refusal) sends the node to the next
rung; a tier whose API key is not set is skipped. Every model call is a span carrying its
tier; the first call on an escalated rung carries `stepladder.escalation.reason`, and the
node span records the rung that answered, the reasons and the skips.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from langgraph.runtime import Runtime
from opentelemetry import trace

from stepladder.errors import ModelError
from stepladder.nodes.base import State
from stepladder.nodes.context import RunContext
from stepladder.nodes.human import ask_human, resume_waiting
from stepladder.nodes.llm.answers import Invalid, ModelAnswer
from stepladder.nodes.llm.call import LLMCall
from stepladder.nodes.llm.escalation import EMBEDDINGS, HUMAN, ROUTER
from stepladder.nodes.llm.ladder import node_ladder
from stepladder.runtimes.pool import BoundTier, ModelPool
from stepladder.runtimes.usage import UsageLedger
from stepladder.tracing import attributes as names

__all__ = ["climb"]

FirstRung = Callable[[], Awaitable[ModelAnswer]]


@dataclass
class _Trail:
    """What the node span records about the climb."""

    span: Any
    node_id: str
    usage: UsageLedger
    reasons: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def skip(self, rung: str, why: str) -> None:
        self.skipped.append(rung)
        if self.span.is_recording():
            self.span.add_event("escalation.skipped", {"tier": rung, "why": why})

    def escalate(self, rung: str, reason: str, detail: str) -> None:
        self.reasons.append(reason)
        if self.span.is_recording():
            self.span.add_event(
                "escalation", {"from": rung, names.ESCALATION_REASON: reason, "detail": detail}
            )

    def finish(self, tier: str, confidence: float | None = None) -> None:
        self.usage.record_rung(self.node_id, tier)
        if not self.span.is_recording():
            return
        self.span.set_attribute(names.ESCALATION_FINAL_TIER, tier)
        if self.reasons:
            self.span.set_attribute(names.ESCALATION_REASONS, self.reasons)
        if self.skipped:
            self.span.set_attribute(names.ESCALATION_SKIPPED, self.skipped)
        if confidence is not None:
            self.span.set_attribute(names.CONFIDENCE, confidence)


async def climb(
    call: LLMCall,
    state: State,
    runtime: Runtime[RunContext],
    *,
    first: FirstRung | None = None,
) -> ModelAnswer:
    """Answer with the cheapest rung whose output passes the node's triggers.

    Args:
        call: The node's model call (its spec names the ladder and the policy).
        state: The run state.
        runtime: LangGraph's runtime (the run context).
        first: Runs the `embeddings` rung (an embedding classifier), when the node has one.

    Raises:
        NodeOutputError: When the output stays invalid and no rung is left.
        ReviewRequired: When the climb reaches `human` on a run with no checkpointer.
    """
    context = call.context_of(runtime) if first is None else runtime.context
    if context is None:
        raise ModelError(f"node '{call.node.id}' was run without a run context.")
    inputs = {key: state.get(key) for key in call.node.reads}
    rungs, start, reason = _plan(call, state, context.ladder)
    trail = _Trail(trace.get_current_span(), call.node.id, context.usage)
    if HUMAN in rungs and resume_waiting():
        return _human(call, context, trail, inputs, None, "review", "resumed")
    last: ModelAnswer | Invalid | None = None
    detail = ""
    for index in range(start, len(rungs)):
        rung = rungs[index]
        if rung == HUMAN:
            return _human(call, context, trail, inputs, last, reason or ROUTER, detail)
        why = None if rung == EMBEDDINGS else _models(call, context).unavailable(rung)
        if why is not None:
            trail.skip(rung, why)
            continue
        last = await _run_rung(call, context, rung, inputs, reason, first)
        if index == len(rungs) - 1:
            break
        problem = await _problem(call, context, last, inputs)
        if problem is None:
            break
        reason, detail = problem
        trail.escalate(rung, reason, detail)
    if last is None:
        raise ModelError(
            f"node '{call.node.id}': no rung of its ladder ({', '.join(rungs[start:])}) could "
            f"run ({'; '.join(trail.skipped)} skipped for want of an API key)."
        )
    if isinstance(last, Invalid):
        raise call.invalid_error(last)
    trail.finish(last.tier, last.confidence)
    return last


def _plan(
    call: LLMCall, state: State, ladder: tuple[str, ...]
) -> tuple[tuple[str, ...], int, str | None]:
    """The rungs, where to start, and the reason when a router chose a higher tier."""
    node = call.node
    rungs = node_ladder(node, ladder) or (node.tier,)
    base = 0 if rungs[0] == EMBEDDINGS else rungs.index(node.tier)
    if node.tier_from is None:
        return rungs, base, None
    chosen = state.get(node.tier_from)
    chosen = getattr(chosen, "value", chosen)
    if chosen is None or chosen == "":
        return rungs, base, None
    if chosen not in rungs:
        return (str(chosen),), 0, ROUTER
    index = rungs.index(chosen)
    return rungs, index, ROUTER if index > base else None


def _models(call: LLMCall, context: RunContext) -> ModelPool:
    if context.models is None:
        raise ModelError(
            f"node '{call.node.id}' escalates to model tiers, but the run has none; run the "
            "flow with `stepladder run`, or pass `models=ModelPool(...)` to the run."
        )
    return context.models


async def _run_rung(
    call: LLMCall,
    context: RunContext,
    rung: str,
    inputs: dict[str, Any],
    reason: str | None,
    first: FirstRung | None,
) -> ModelAnswer | Invalid:
    if rung == EMBEDDINGS:
        assert first is not None
        return await first()
    models = _models(call, context)
    bound = await models.bound(rung)
    outcome = await call.on_tier(context, bound, inputs, reason)
    policy = call.node.escalate
    if (
        isinstance(outcome, ModelAnswer)
        and policy is not None
        and policy.threshold(rung) is not None
        and outcome.confidence is None
        and policy.samples > 1
    ):
        outcome = await _agreement(call, context, bound, inputs, outcome, policy.samples)
    return outcome


async def _agreement(
    call: LLMCall,
    context: RunContext,
    bound: BoundTier,
    inputs: dict[str, Any],
    answer: ModelAnswer,
    samples: int,
) -> ModelAnswer:
    """The share of `samples` answers (the first included) that agree with the first."""
    agree = 1
    for index in range(1, samples):
        values = await call.sample(context, bound, inputs, index)
        agree += values is not None and _same(values, answer.values)
    return replace(answer, confidence=round(agree / samples, 4))


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    def norm(value: Any) -> Any:
        return " ".join(value.lower().split()) if isinstance(value, str) else value

    return {k: norm(v) for k, v in a.items()} == {k: norm(v) for k, v in b.items()}


async def _problem(
    call: LLMCall,
    context: RunContext,
    outcome: ModelAnswer | Invalid,
    inputs: dict[str, Any],
) -> tuple[str, str] | None:
    """The trigger that fires on `outcome` (reason, detail), or None to keep it."""
    policy = call.node.escalate
    active = policy.active if policy is not None else frozenset()
    if isinstance(outcome, Invalid):
        if "invalid" not in active:
            raise call.invalid_error(outcome)
        return "invalid", f"output invalid after {outcome.attempts} attempt(s): {outcome.problem}"
    threshold = policy.threshold(outcome.tier) if policy is not None else None
    if threshold is not None and outcome.confidence is not None and outcome.confidence < threshold:
        return "confidence", f"confidence {outcome.confidence:.3f} < {threshold:g}"
    if call.verifier is not None and "verifier" in active:
        passed, why = await call.verifier(context, inputs, outcome.values)
        if not passed:
            return "verifier", why or "the verifier rejected the output"
    return None


def _human(
    call: LLMCall,
    context: RunContext,
    trail: _Trail,
    inputs: dict[str, Any],
    last: ModelAnswer | Invalid | None,
    reason: str,
    detail: str,
) -> ModelAnswer:
    candidate: Any = None
    if isinstance(last, ModelAnswer):
        candidate = last.values
    elif isinstance(last, Invalid):
        candidate = _parsed(last.raw)
    trail.finish(HUMAN)
    values = ask_human(
        context, call.node.id, call.outputs, reason=reason, detail=detail, inputs=inputs,
        candidate=candidate, candidate_tier=last.tier if last is not None else None,
    )  # fmt: skip
    return ModelAnswer(values, None, 0, HUMAN)


def _parsed(raw: str) -> Any:
    """Invalid output as JSON when it parses (easier to review), else the text."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw
