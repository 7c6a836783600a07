"""Finding spans in what the SDK's in-memory exporter collected."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from stepladder.tracing import Previews, Tracing


def in_memory(previews: Previews | None = None) -> tuple[Tracing, InMemorySpanExporter]:
    """Tracing into an in-memory exporter (spans exported as they end)."""
    exporter = InMemorySpanExporter()
    return Tracing.with_exporter(exporter, previews=previews), exporter


def by_name(spans: tuple[ReadableSpan, ...] | list[ReadableSpan]) -> dict[str, ReadableSpan]:
    """Run and node spans by name (model-call spans share names, so they are left out)."""
    unique = [s for s in spans if not s.name.startswith("chat ")]
    named = {s.name: s for s in unique}
    assert len(named) == len(unique), [s.name for s in unique]
    return named


def model_calls(spans: tuple[ReadableSpan, ...] | list[ReadableSpan]) -> list[ReadableSpan]:
    """The model-call spans, in the order they ended."""
    return [s for s in spans if s.name.startswith("chat ")]


def parent_of(span: ReadableSpan) -> int | None:
    """The parent span's id, or None for a root."""
    return span.parent.span_id if span.parent else None


def span_id(span: ReadableSpan) -> int:
    """The span's own id."""
    context = span.get_span_context()
    assert context is not None
    return context.span_id


def attrs(span: ReadableSpan) -> dict[str, Any]:
    """The span's attributes as a plain dict."""
    return dict(span.attributes or {})
