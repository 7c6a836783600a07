"""OpenTelemetry tracing: set-up, span attributes, the local JSONL store and its readers."""

from stepladder.tracing.attributes import REDACTED, Previews, SpanType
from stepladder.tracing.exporter import JsonlSpanExporter, span_record
from stepladder.tracing.setup import Tracing, otlp_exporter
from stepladder.tracing.spans import (
    model_span,
    node_span,
    retrieval_span,
    run_span,
    set_error,
    set_preview,
    tool_span,
)

__all__ = [
    "REDACTED",
    "JsonlSpanExporter",
    "Previews",
    "SpanType",
    "Tracing",
    "model_span",
    "node_span",
    "otlp_exporter",
    "retrieval_span",
    "run_span",
    "set_error",
    "set_preview",
    "span_record",
    "tool_span",
]
