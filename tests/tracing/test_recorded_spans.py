"""`RecordingTracer`: real OpenTelemetry spans that processors, exporters and callers accept."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from stepladder import FlowBuilder
from stepladder.flows import run_flow
from stepladder.tracing import Tracing, span_record
from stepladder.tracing.recorded import MAX_ITEMS, RecordedSpan
from tests.tracing.spans_helpers import by_name, in_memory, span_id


def test_spans_nest_and_reach_every_processor() -> None:
    memory, batched = InMemorySpanExporter(), InMemorySpanExporter()
    tracing = Tracing.with_exporter(memory)
    assert tracing.provider is not None
    tracing.provider.add_span_processor(BatchSpanProcessor(batched))
    tracer = tracing.tracer
    with (
        tracer.start_as_current_span("outer", attributes={"n": 1}) as outer,
        tracer.start_as_current_span("inner") as inner,
    ):
        assert trace.get_current_span() is inner
    tracing.flush()
    spans = {s.name: s for s in memory.get_finished_spans()}
    assert [s.name for s in batched.get_finished_spans()] == ["inner", "outer"]
    assert spans["inner"].parent is not None
    assert spans["inner"].parent.span_id == span_id(outer)
    assert spans["inner"].context.trace_id == spans["outer"].context.trace_id
    assert spans["outer"].parent is None
    assert spans["outer"].resource.attributes["service.name"] == "stepladder"
    assert isinstance(inner, ReadableSpan)


def test_attributes_are_cleaned_as_the_sdk_does_and_frozen_at_end() -> None:
    tracing, memory = in_memory()
    span = tracing.tracer.start_span("s", attributes={"list": ["a", "b"], "n": 2})
    span.set_attribute("flag", True)
    span.set_attributes({"ratio": 0.5, "nested": [1, 2], "path": Path("/tmp/x")})
    span.end()
    span.set_attribute("late", "ignored")
    span.end()  # a second end is ignored
    (finished,) = memory.get_finished_spans()
    assert dict(finished.attributes or {}) == {
        "list": ("a", "b"),
        "n": 2,
        "flag": True,
        "ratio": 0.5,
        "nested": (1, 2),
        "path": "/tmp/x",
    }
    assert not span.is_recording()


def test_status_and_exceptions_follow_the_sdk() -> None:
    tracing, memory = in_memory()
    try:
        with tracing.tracer.start_as_current_span("fails"):
            raise ValueError("bad input")
    except ValueError:
        pass
    ok = tracing.tracer.start_span("ok")
    ok.set_status(StatusCode.OK)
    ok.set_status(StatusCode.ERROR, "too late")  # OK is final
    ok.end()
    spans = {s.name: s for s in memory.get_finished_spans()}
    assert spans["fails"].status.status_code is StatusCode.ERROR
    assert spans["fails"].status.description == "ValueError: bad input"
    (event,) = spans["fails"].events
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "ValueError"
    assert "bad input" in str(event.attributes["exception.stacktrace"])
    assert spans["ok"].status.status_code is StatusCode.OK


def test_start_as_current_span_passes_the_exception_flags_on() -> None:
    tracing, memory = in_memory()
    try:
        with tracing.tracer.start_as_current_span("quiet", record_exception=False):
            raise ValueError("not recorded")
    except ValueError:
        pass
    (span,) = memory.get_finished_spans()
    assert not span.events
    assert span.status.status_code is StatusCode.ERROR


def test_a_callers_own_span_is_the_parent_of_a_run() -> None:
    tracing, memory = in_memory()
    theirs = TracerProvider().get_tracer("app")
    flow = FlowBuilder("one").state("x", int, input=True).state("y", int)
    compiled = flow.function("double", lambda x: x * 2, reads=["x"], writes=["y"]).compile()

    with theirs.start_as_current_span("request") as request:
        asyncio.run(run_flow(compiled, {"x": 2}, tracing=tracing))
    run_span = by_name(memory.get_finished_spans())["run one"]
    assert run_span.parent is not None
    assert run_span.parent.span_id == span_id(request)
    assert run_span.context.trace_id == request.get_span_context().trace_id


def test_code_inside_a_node_sees_the_node_span() -> None:
    tracing, memory = in_memory()

    def tag(x: int) -> int:
        trace.get_current_span().set_attribute("app.seen", x)
        return x + 1

    flow = FlowBuilder("tagged").state("x", int, input=True).state("y", int)
    compiled = flow.function("tag", tag, reads=["x"], writes=["y"]).compile()

    asyncio.run(run_flow(compiled, {"x": 41}, tracing=tracing))
    node = by_name(memory.get_finished_spans())["node tag"]
    assert node.attributes is not None
    assert node.attributes["app.seen"] == 41


def test_exporters_read_recorded_spans() -> None:
    tracing, memory = in_memory()
    with tracing.tracer.start_as_current_span("s", attributes={"k": "v"}) as span:
        span.add_event("note", {"n": 1})
    (finished,) = memory.get_finished_spans()
    assert isinstance(finished, RecordedSpan)
    assert json.loads(finished.to_json())["attributes"] == {"k": "v"}
    encoded = encode_spans([finished])
    (scope_spans,) = encoded.resource_spans[0].scope_spans
    assert scope_spans.scope.name == "stepladder"
    assert scope_spans.spans[0].name == "s"
    assert span_record(finished)["events"][0]["attributes"] == {"n": 1}


def test_simple_processor_exports_each_span_as_it_ends() -> None:
    memory = InMemorySpanExporter()
    tracing = Tracing.with_exporter(memory)
    span = tracing.tracer.start_span("now")
    assert memory.get_finished_spans() == ()
    span.end()
    assert [s.name for s in memory.get_finished_spans()] == ["now"]


def test_a_span_keeps_at_most_the_sdks_default_number_of_items() -> None:
    tracing, memory = in_memory()
    span = tracing.tracer.start_span("busy")
    for index in range(MAX_ITEMS + 10):
        span.set_attribute(f"key{index}", index)
        span.add_event(f"event {index}")
    span.set_attribute("key0", "updated")  # an existing key still updates
    span.end()
    (finished,) = memory.get_finished_spans()
    assert finished.attributes is not None
    assert len(finished.attributes) == MAX_ITEMS
    assert finished.attributes["key0"] == "updated"
    assert len(finished.events) == MAX_ITEMS
