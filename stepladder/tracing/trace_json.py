"""A trace as JSON for pages (the static trace page and the studio), chat messages included.

Model spans may carry the messages sent and the completion (`gen_ai.input.messages`,
`gen_ai.output.messages`, `gen_ai.system_instructions`: JSON text, recorded only when content
capture is on). They are read here into one plain shape, `{"role", "content",
"finish_reason"}`, from either the OpenTelemetry GenAI form (`parts` of typed items) or the
older `{"role", "content"}` one, so a page only has to draw them.
"""

from __future__ import annotations

import json
import math
from typing import Any

from stepladder.tracing.store import SpanRecord, Trace

__all__ = [
    "CAPTURE_HINT",
    "INPUT_MESSAGES",
    "OUTPUT_MESSAGES",
    "SYSTEM_INSTRUCTIONS",
    "chat_of",
    "jsonable",
    "span_json",
    "trace_spans_json",
]

INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
CAPTURE_HINT = (
    "Content capture is off, so the messages sent and the completion were not recorded. "
    "Turn it on with `tracing: {capture_content: true}` in stepladder.yaml, or the "
    "environment variable OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true."
)


def trace_spans_json(trace: Trace) -> list[dict[str, Any]]:
    """Every span of `trace` in tree order (depth first, by start), with its depth."""
    return [{**span_json(span, trace.start_ns), "depth": depth} for span, depth in trace.walk()]


def span_json(span: SpanRecord, trace_start_ns: int) -> dict[str, Any]:
    """One span as JSON: timing relative to the trace's start (ms), attributes, events, chat."""
    data: dict[str, Any] = jsonable(
        {
            "span_id": span.span_id,
            "parent_id": span.parent_id,
            "name": span.name,
            "type": span.span_type,
            "kind": span.kind,
            "status": span.status,
            "status_message": span.status_message,
            "error": span.error_message if span.is_error else None,
            "offset_ms": round((span.start_ns - trace_start_ns) / 1e6, 6),
            "duration_ms": round(span.duration_ns / 1e6, 6),
            "attributes": dict(span.attributes),
            "events": [
                {
                    "name": event.name,
                    "offset_ms": round((event.time_ns - trace_start_ns) / 1e6, 3)
                    if event.time_ns
                    else None,
                    "attributes": dict(event.attributes),
                }
                for event in span.events
            ],
            "chat": chat_of(span.attributes) if span.span_type == "model" else None,
        }
    )
    return data


def chat_of(attributes: Any) -> dict[str, list[dict[str, Any]]] | None:
    """The messages sent and the completion of a model span; None when not recorded."""
    sent = _messages(attributes.get(INPUT_MESSAGES))
    completion = _messages(attributes.get(OUTPUT_MESSAGES))
    system = _parts_text(_decoded(attributes.get(SYSTEM_INSTRUCTIONS)))
    if system:
        sent = [{"role": "system", "content": system, "finish_reason": None}, *(sent or [])]
    if sent is None and completion is None:
        return None
    return {"input": sent or [], "output": completion or []}


def _decoded(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _messages(value: Any) -> list[dict[str, Any]] | None:
    items = _decoded(value)
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        return None
    messages = []
    for item in items:
        if not isinstance(item, dict):
            continue
        if "parts" in item:
            content = _parts_text(item.get("parts"))
        else:
            content = _content_text(item.get("content"))
        reason = item.get("finish_reason")
        messages.append(
            {
                "role": str(item.get("role") or "?"),
                "content": content,
                "finish_reason": str(reason) if reason else None,
            }
        )
    return messages


def _parts_text(parts: Any) -> str:
    """The parts of a message as text: text as is, tool calls and others described."""
    if isinstance(parts, str):
        return parts
    if not isinstance(parts, list):
        return ""
    return "\n\n".join(filter(None, (_part_text(part) for part in parts)))


def _part_text(part: Any) -> str:
    if not isinstance(part, dict):
        return _content_text(part)
    kind = part.get("type")
    if kind in ("text", "reasoning") or (kind is None and "content" in part):
        text = _content_text(part.get("content"))
        return f"[reasoning] {text}" if kind == "reasoning" else text
    if kind == "tool_call":
        arguments = part.get("arguments")
        shown = arguments if isinstance(arguments, str) else json.dumps(arguments)
        return f"[tool call] {part.get('name', '?')}({shown})"
    if kind == "tool_call_response":
        return f"[tool response] {_content_text(part.get('response'))}"
    return json.dumps(part, ensure_ascii=False)


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # the older form's content parts ({"type": "text", ...})
        return "\n\n".join(
            str(item.get("text") or item.get("content") or "")
            if isinstance(item, dict)
            else str(item)
            for item in content
        )
    return json.dumps(content, ensure_ascii=False)


def jsonable(value: Any) -> Any:
    """Replace what strict JSON rejects (NaN, infinities) with strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value
