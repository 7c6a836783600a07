"""Opening the spans of a run: the run, its nodes, model calls, retrievals and tool calls.

Each helper takes a `Tracing` (or None: nothing is recorded and nothing is computed) and
yields the span; an exception leaving the block is recorded on it and sets its status.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from opentelemetry import context as context_api
from opentelemetry.trace import (
    INVALID_SPAN,
    Span,
    SpanKind,
    Status,
    StatusCode,
    set_span_in_context,
)

from stepladder.tracing import attributes as names
from stepladder.tracing.attributes import SpanType
from stepladder.tracing.genai import provider_name
from stepladder.tracing.setup import Tracing

__all__ = [
    "model_span",
    "node_span",
    "retrieval_span",
    "run_span",
    "set_error",
    "set_preview",
    "tool_span",
]


class _Scope:
    """Opens a span as the current one and ends it on exit, recording a failure.

    A plain class rather than stacked generator context managers: a run opens a span per node
    and per call, so the few microseconds saved per span add up.
    """

    __slots__ = ("_span", "_token")

    def __init__(self, span: Span) -> None:
        self._span = span
        self._token: object = None

    def __enter__(self) -> Span:
        self._token = context_api.attach(set_span_in_context(self._span))
        return self._span

    def __exit__(self, kind: Any, error: BaseException | None, traceback: Any) -> None:
        try:
            if error is not None and self._span.is_recording():
                self._span.record_exception(error)
                self._span.set_status(Status(StatusCode.ERROR, f"{kind.__name__}: {error}"))
            self._span.end()
        finally:
            context_api.detach(self._token)  # type: ignore[arg-type]


_NOT_TRACED = nullcontext(INVALID_SPAN)


def _span(
    tracing: Tracing | None,
    name: str,
    attributes: Mapping[str, Any],
    inputs: Any = None,
    kind: SpanKind = SpanKind.INTERNAL,
) -> AbstractContextManager[Span]:
    if tracing is None or not tracing.enabled:
        return _NOT_TRACED
    clean = {k: v for k, v in attributes.items() if v is not None}
    if inputs is not None:
        clean[names.INPUT] = tracing.previews(inputs)
    return _Scope(tracing.tracer.start_span(name, kind=kind, attributes=clean))


def run_span(
    tracing: Tracing | None,
    flow: str,
    inputs: Any,
    thread_id: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> AbstractContextManager[Span]:
    """The root span of one flow run (`extra` attributes added, say an eval's ids)."""
    attributes = {names.SPAN_TYPE: SpanType.RUN, names.FLOW_NAME: flow, names.THREAD_ID: thread_id}
    attributes.update(extra or {})
    return _span(tracing, f"run {flow}", attributes, inputs)


def node_span(
    tracing: Tracing | None, flow: str, node_id: str, kind: str, inputs: Any
) -> AbstractContextManager[Span]:
    """The span of one node's execution."""
    attributes = {
        names.SPAN_TYPE: SpanType.NODE,
        names.FLOW_NAME: flow,
        names.NODE_ID: node_id,
        names.NODE_KIND: kind,
    }
    return _span(tracing, f"node {node_id}", attributes, inputs)


def model_span(
    tracing: Tracing | None,
    *,
    flow: str,
    node_id: str,
    node_kind: str,
    tier: str,
    model: str,
    attempt: int,
    inputs: Any,
    request: Mapping[str, Any] | None = None,
    adapter: str | None = None,
    provider: str | None = None,
) -> AbstractContextManager[Span]:
    """The span of one model call (one attempt), named `chat <model>` as GenAI asks.

    A call that runs with a LoRA adapter carries it (`stepladder.adapter`, `NAME@vN`).
    `provider` is `gen_ai.provider.name` (default: the model's `provider/` prefix, else
    `_OTHER`); the response's model and finish reasons, and the messages when content
    capture is on, are added when the call returns (`stepladder.nodes.llm.exchange`).
    """
    provider = provider or provider_name("", model)
    request = request or {}
    attributes = {
        names.SPAN_TYPE: SpanType.MODEL,
        names.GEN_AI_OPERATION: "chat",
        names.GEN_AI_REQUEST_MODEL: model,
        names.GEN_AI_PROVIDER: provider,
        names.GEN_AI_TEMPERATURE: request.get("temperature"),
        names.GEN_AI_MAX_TOKENS: request.get("max_tokens"),
        names.GEN_AI_FREQUENCY_PENALTY: request.get("frequency_penalty"),
        names.GEN_AI_PRESENCE_PENALTY: request.get("presence_penalty"),
        names.DRY_MULTIPLIER: (request.get("extra_body") or {}).get("dry_multiplier"),
        names.FLOW_NAME: flow,
        names.NODE_ID: node_id,
        names.NODE_KIND: node_kind,
        names.TIER: tier,
        names.ATTEMPT: attempt,
        names.RETRIES: attempt - 1,
    }
    if adapter is not None:
        attributes[names.ADAPTER] = adapter
    return _span(tracing, f"chat {model}", attributes, inputs, SpanKind.CLIENT)


def retrieval_span(
    tracing: Tracing | None, *, flow: str, node_id: str, collection: str, k: int, query: Any
) -> AbstractContextManager[Span]:
    """The span of one search of a collection."""
    attributes = {
        names.SPAN_TYPE: SpanType.RETRIEVAL,
        names.FLOW_NAME: flow,
        names.NODE_ID: node_id,
        names.COLLECTION: collection,
        names.TOP_K: k,
        "db.system.name": "chromadb",
    }
    return _span(tracing, f"retrieve {collection}", attributes, query, SpanKind.CLIENT)


def tool_span(
    tracing: Tracing | None,
    *,
    flow: str,
    node_id: str,
    tool: str,
    arguments: Any,
    call_id: str | None = None,
) -> AbstractContextManager[Span]:
    """The span of one tool call, named `execute_tool <tool>` as GenAI asks."""
    attributes = {
        names.SPAN_TYPE: SpanType.TOOL,
        names.GEN_AI_OPERATION: "execute_tool",
        names.GEN_AI_TOOL_NAME: tool,
        names.GEN_AI_TOOL_CALL_ID: call_id,
        names.FLOW_NAME: flow,
        names.NODE_ID: node_id,
    }
    return _span(tracing, f"execute_tool {tool}", attributes, arguments)


def set_preview(tracing: Tracing | None, span: Span, key: str, value: Any) -> None:
    """Record `value` on `span` as a preview (cut, or masked when redacting)."""
    if tracing is not None and span.is_recording():
        span.set_attribute(key, tracing.previews(value))


def set_error(span: Span, message: str) -> None:
    """Mark a span failed without an exception (say, a model answer that did not validate)."""
    span.set_status(Status(StatusCode.ERROR, message))
