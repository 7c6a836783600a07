"""`RecordingTracer`: stepladder's spans, recorded without the SDK's per-span machinery.

A run opens a span per node and per call, so what a span costs shows in every run. The SDK's
`Tracer.start_span` asks a sampler, validates each attribute through a locked
`BoundedAttributes`, creates a lock, two bounded lists and a metrics hook per span, and copies
the span into a new `ReadableSpan` when it ends. stepladder always samples and sets attributes
of known types, so `RecordedSpan` keeps a plain dict (values of other types are checked the
SDK's way) and is itself the `ReadableSpan` the processors receive. It is a real
`opentelemetry.trace.Span`: current in the context while it is open, so spans and code inside
it see it, and its ids are those of the trace it belongs to (a caller's span is its parent).
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from time import time_ns
from types import TracebackType
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util import types

from stepladder.config.secrets import has_secrets, scrub, scrub_value

__all__ = ["RecordedSpan", "RecordingTracer"]

_KEPT = (str, int, float, bool, bytes, type(None))
_UNSET = Status(StatusCode.UNSET)
_FLAGS = TraceFlags(TraceFlags.SAMPLED | TraceFlags.RANDOM_TRACE_ID)
MAX_ITEMS = 128  # attributes, events and links kept per span (the SDK's default limits)


def _clean(value: Any) -> Any:
    """`value` as OpenTelemetry keeps an attribute value.

    Plain values stay; sequences become tuples and mappings dicts (their items cleaned the
    same way); anything else becomes its `str`, as the SDK does for unknown types.
    """
    if isinstance(value, _KEPT):
        return value
    if isinstance(value, Mapping):
        return {str(key): _clean(item) for key, item in value.items()}
    if isinstance(value, Sequence):
        return tuple(_clean(item) for item in value)
    return str(value)


class RecordedSpan(trace_api.Span, ReadableSpan):
    """An open span that becomes, unchanged, the finished span its processor receives."""

    _context: SpanContext
    _attributes: dict[str, Any]

    def __init__(
        self,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: dict[str, Any],
        tracer: RecordingTracer,
    ) -> None:
        self._name = name
        self._context = context
        self._parent = parent
        self._kind = kind
        self._attributes = attributes
        self._events: list[Event] = []
        self._links: tuple[trace_api.Link, ...] = ()
        self._resource = tracer.resource
        self._instrumentation_scope = tracer.scope
        self._instrumentation_info = None
        self._status = _UNSET
        self._start_time: int | None = time_ns()
        self._end_time: int | None = None
        self._processor = tracer.processor

    @property
    def attributes(self) -> dict[str, Any]:
        """The attributes themselves, not a read-only copy (read them; do not change them)."""
        return self._attributes

    def get_span_context(self) -> SpanContext:
        """The span's ids."""
        return self._context

    def is_recording(self) -> bool:
        """True until the span ends."""
        return self._end_time is None

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        """Set one attribute (ignored once the span has ended, or past `MAX_ITEMS` keys)."""
        kept = self._attributes
        if self._end_time is None and (key in kept or len(kept) < MAX_ITEMS):
            kept[key] = _clean(value)

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        """Set several attributes."""
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def add_event(
        self, name: str, attributes: types.Attributes = None, timestamp: int | None = None
    ) -> None:
        """Record an event (say, an exception)."""
        if self._end_time is None and len(self._events) < MAX_ITEMS:
            clean = {key: _clean(value) for key, value in (attributes or {}).items()}
            self._events.append(Event(name, clean, timestamp or time_ns()))

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        """Link another span."""
        if self._end_time is None and context.is_valid and len(self._links) < MAX_ITEMS:
            self._links = (*self._links, trace_api.Link(context, dict(attributes or {})))

    def update_name(self, name: str) -> None:
        """Rename the span."""
        if self._end_time is None:
            self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        """Set the status as the SDK does (an OK status is final; UNSET is ignored)."""
        if self._end_time is not None or self._status.status_code is StatusCode.OK:
            return
        new = status if isinstance(status, Status) else Status(status, description)
        if new.status_code is not StatusCode.UNSET:
            self._status = new

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        """Record `exception` as an `exception` event, as the SDK does."""
        kind = type(exception)
        module = kind.__module__
        recorded: dict[str, Any] = {
            "exception.type": f"{module}.{kind.__qualname__}"
            if module and module != "builtins"
            else kind.__qualname__,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        recorded.update(attributes or {})
        self.add_event("exception", recorded, timestamp)

    def end(self, end_time: int | None = None) -> None:
        """End the span and hand it to the processor (a second end is ignored)."""
        if self._end_time is not None:
            return
        self._end_time = end_time if end_time is not None else time_ns()
        if has_secrets():
            self._mask_secrets()
        self._processor.on_end(self)

    def _mask_secrets(self) -> None:
        """Mask registered secrets in the name, attributes, events, links and status.

        Every processor (the JSONL store, OTLP) receives the span only after this.
        """
        self._name = scrub(self._name)
        self._attributes = scrub_value(self._attributes)
        if self._events:
            self._events = [
                Event(scrub(e.name), scrub_value(dict(e.attributes or {})), e.timestamp)
                for e in self._events
            ]
        if self._links:
            self._links = tuple(
                trace_api.Link(link.context, scrub_value(dict(link.attributes or {})))
                for link in self._links
            )
        description = self._status.description
        if description:
            self._status = Status(self._status.status_code, scrub(description))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        """End the span, recording an exception that leaves it."""
        if exc_val is not None and self.is_recording():
            self.record_exception(exc_val, escaped=True)
            self.set_status(Status(StatusCode.ERROR, f"{type(exc_val).__name__}: {exc_val}"))
        self.end()

    def __repr__(self) -> str:
        return f"RecordedSpan(name={self._name!r}, context={self._context})"


class RecordingTracer(trace_api.Tracer):
    """Opens `RecordedSpan`s that go to `processor` when they end.

    Args:
        processor: The provider's span processor (all of its processors).
        resource: The resource every span carries.
        scope: The instrumentation scope every span carries.
        ids: Where trace and span ids come from.
    """

    def __init__(
        self,
        processor: SpanProcessor,
        resource: Resource,
        scope: InstrumentationScope,
        ids: IdGenerator | None = None,
    ) -> None:
        self.processor = processor
        self.resource = resource
        self.scope = scope
        self._ids = ids or RandomIdGenerator()

    def start_span(
        self,
        name: str,
        context: context_api.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[trace_api.Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> RecordedSpan:
        """A new span, child of the current (or `context`'s) span."""
        parent: SpanContext | None = trace_api.get_current_span(context).get_span_context()
        if parent is not None and parent.is_valid:
            trace_id = parent.trace_id
        else:
            parent = None
            trace_id = self._ids.generate_trace_id()
        ids = SpanContext(trace_id, self._ids.generate_span_id(), False, _FLAGS)
        clean = {key: _clean(value) for key, value in (attributes or {}).items()}
        span = RecordedSpan(name, ids, parent, kind, clean, self)
        if start_time is not None:
            span._start_time = start_time
        for link in links or ():
            span.add_link(link.context, link.attributes)
        self.processor.on_start(span, context)  # type: ignore[arg-type]
        return span

    @contextmanager
    def start_as_current_span(  # type: ignore[override]
        self,
        name: str,
        context: context_api.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[trace_api.Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[RecordedSpan]:
        """Open a span as the current one for the block."""
        span = self.start_span(name, context, kind, attributes, links, start_time)
        with trace_api.use_span(span, end_on_exit, record_exception, set_status_on_exception):
            yield span
