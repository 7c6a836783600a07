"""Span attribute names (GenAI semantic conventions plus `stepladder.*`) and previews."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from stepladder.config.secrets import scrub

__all__ = ["REDACTED", "Previews", "SpanType"]

# GenAI semantic conventions (model and tool calls).
GEN_AI_OPERATION = "gen_ai.operation.name"
GEN_AI_PROVIDER = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_FREQUENCY_PENALTY = "gen_ai.request.frequency_penalty"
GEN_AI_PRESENCE_PENALTY = "gen_ai.request.presence_penalty"
GEN_AI_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_CACHED_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_FINISH_REASONS = "gen_ai.response.finish_reasons"
# Opt-in (content capture): the messages sent and the completions, as the conventions' JSON.
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"

# stepladder's own.
SPAN_TYPE = "stepladder.span.type"
FLOW_NAME = "stepladder.flow.name"
THREAD_ID = "stepladder.thread_id"
NODE_ID = "stepladder.node.id"
NODE_KIND = "stepladder.node.kind"
TIER = "stepladder.tier"
COST_USD = "stepladder.cost_usd"
COST_BASIS = "stepladder.cost.basis"
# On a model call span: the LoRA adapter the call ran with (`NAME@vN`); absent on the base.
ADAPTER = "stepladder.adapter"
# On a model call span: the DRY sampler's strength when the node sent it (llama.cpp tiers).
DRY_MULTIPLIER = "stepladder.request.dry_multiplier"
ATTEMPT = "stepladder.attempt"
RETRIES = "stepladder.retries"
ESCALATION_REASON = "stepladder.escalation.reason"
ESCALATIONS = "stepladder.escalations"
# On a node span: the rung that answered, why it climbed, and rungs skipped (no API key).
ESCALATION_FINAL_TIER = "stepladder.escalation.final_tier"
ESCALATION_REASONS = "stepladder.escalation.reasons"
ESCALATION_SKIPPED = "stepladder.escalation.skipped"
CONFIDENCE = "stepladder.confidence"
SAMPLE = "stepladder.sample"
# On a run span: `finished` or `paused` (waiting for a human review), and the pending reviews.
RUN_STATUS = "stepladder.run.status"
REVIEWS = "stepladder.reviews"
# A run's token totals: not `gen_ai.usage.*`, which tools add up over every span.
RUN_INPUT_TOKENS = "stepladder.usage.input_tokens"
RUN_OUTPUT_TOKENS = "stepladder.usage.output_tokens"
RUN_CACHED_TOKENS = "stepladder.usage.cached_tokens"
INPUT = "stepladder.input"
OUTPUT = "stepladder.output"
COLLECTION = "stepladder.collection"
TOP_K = "stepladder.k"
RESULTS = "stepladder.results"
RESUMED_AT = "stepladder.resumed_at"
MAP_NODE = "stepladder.map.node"
MAP_INDEX = "stepladder.map.index"
EVAL_RUN_ID = "stepladder.eval.run_id"
EVAL_CASE_ID = "stepladder.eval.case_id"

REDACTED = "[redacted]"


class SpanType:
    """Values of `stepladder.span.type`."""

    RUN = "run"
    NODE = "node"
    MODEL = "model"
    RETRIEVAL = "retrieval"
    TOOL = "tool"


@dataclass(frozen=True)
class Previews:
    """How inputs and outputs are kept on spans: cut to `limit` characters, or masked.

    Secrets (see `stepladder.config.secrets`) are always masked, redacted or not, before the
    text is cut, so a cut never leaves part of one.
    """

    limit: int = 2000
    redact: bool = False

    def __call__(self, value: Any) -> str:
        """A JSON preview of `value`, cut to the limit (or `[redacted]`)."""
        if self.redact:
            return REDACTED
        text = value if isinstance(value, str) else _json(value)
        text = scrub(text)
        if len(text) > self.limit:
            return f"{text[: self.limit]}… ({len(text)} chars)"
        return text


def _json(value: Any) -> str:
    try:
        return orjson.dumps(value, default=_fallback, option=orjson.OPT_NON_STR_KEYS).decode()
    except (TypeError, ValueError):
        return repr(value)


def _fallback(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    return repr(value)
