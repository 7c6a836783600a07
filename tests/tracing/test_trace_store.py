import json
from pathlib import Path

import pytest

from stepladder.errors import UserError
from stepladder.tracing.store import SpanRecord, Trace, find_trace, load_traces, summarize
from tests.tracing.span_files import (
    BASE_NS,
    FAILED,
    HELLO,
    MS,
    UNFINISHED,
    failed_trace,
    span,
    write_span_files,
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_span_files(tmp_path / "traces")


def test_spans_from_rotated_files_group_into_traces_newest_first(folder: Path) -> None:
    store = load_traces(folder)
    assert [trace.trace_id for trace in store.traces] == [UNFINISHED, FAILED, HELLO]
    assert [len(trace.spans) for trace in store.traces] == [2, 6, 2]
    assert store.malformed_lines == 2  # "{not json" and a span without a trace id


def test_the_tree_is_ordered_by_start_time_whatever_the_file_order(folder: Path) -> None:
    trace = load_traces(folder).find(FAILED)
    assert trace.root is not None and trace.root.name == "run support"
    assert [(span.name, depth) for span, depth in trace.walk()] == [
        ("run support", 0),
        ("node classify", 1),
        ("chat smollm2-135m", 2),
        ("node answer", 1),
        ("retrieve faq", 2),
        ("chat gpt-4o-mini", 2),
    ]
    assert [s.name for s in trace.children(trace.root.span_id)] == ["node classify", "node answer"]
    assert trace.duration_ns == 500 * MS


def test_a_finished_run_is_summed_up_from_its_root(folder: Path) -> None:
    summary = summarize(load_traces(folder).find(FAILED))
    assert summary.flow == "support"
    assert summary.status == "error"
    assert (summary.input_tokens, summary.output_tokens) == (120, 45)
    assert summary.cost_usd == pytest.approx(0.000321)
    assert summary.escalations == 1
    assert summary.span_count == 6
    assert summary.start_ns == BASE_NS
    assert summary.to_json()["started"] == "2025-11-28T03:20:00+00:00"
    assert summary.to_json()["duration_ms"] == 500.0


def test_an_unfinished_run_is_incomplete_and_summed_over_its_model_calls(folder: Path) -> None:
    trace = load_traces(folder).find(UNFINISHED)
    assert trace.root is None
    assert [span.name for span in trace.tops()] == ["node classify"]  # orphan of the missing root
    summary = summarize(trace)
    assert summary.status == "incomplete"
    assert summary.flow == "support"
    assert (summary.input_tokens, summary.output_tokens) == (30, 7)
    assert summary.cost_usd == pytest.approx(0.00001)
    assert summary.escalations == 1  # counted from the escalation reason
    assert summary.duration_ns == 89 * MS


def test_an_ok_run_without_usage_has_zero_totals(folder: Path) -> None:
    summary = summarize(load_traces(folder).find(HELLO))
    assert summary.status == "ok"
    assert (summary.input_tokens, summary.output_tokens, summary.cost_usd) == (0, 0, 0.0)
    assert summary.escalations == 0


def test_errors_carry_the_exception_message(folder: Path) -> None:
    trace = load_traces(folder).find(FAILED)
    answer = next(span for span in trace.spans if span.name == "node answer")
    assert answer.is_error
    assert answer.error_message == "ValueError: no answer in the context"
    assert answer.events[0].attributes["exception.type"] == "ValueError"
    root = trace.root
    assert root is not None and root.error_message == root.status_message


def test_find_by_unique_prefix(folder: Path) -> None:
    assert find_trace(folder, "ab12").trace_id == FAILED
    assert find_trace(folder, FAILED.upper()).trace_id == FAILED
    assert find_trace(folder, " f00d ").trace_id == UNFINISHED


def test_an_ambiguous_prefix_lists_the_candidates(folder: Path) -> None:
    with pytest.raises(UserError, match="'ab' matches 2 traces") as error:
        find_trace(folder, "ab")
    assert FAILED[:16] in str(error.value) and HELLO[:16] in str(error.value)


def test_an_unknown_id_lists_recent_traces(folder: Path) -> None:
    with pytest.raises(UserError, match="no trace id starts with '0123'") as error:
        find_trace(folder, "0123")
    assert UNFINISHED[:12] in str(error.value)
    with pytest.raises(UserError, match="give a trace id"):
        find_trace(folder, "  ")


def test_a_missing_folder_says_no_traces_yet(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"no traces yet .*run a flow with `stepladder run`"):
        load_traces(tmp_path / "nowhere")


def test_an_empty_folder_has_no_traces(tmp_path: Path) -> None:
    store = load_traces(tmp_path)
    assert store.traces == () and store.summaries() == []
    with pytest.raises(UserError, match="recent traces: none yet"):
        store.find("ab")


def test_a_span_exported_twice_counts_once(tmp_path: Path) -> None:
    lines = [json.dumps(item) for item in failed_trace()]
    (tmp_path / "a.jsonl").write_text("\n".join(lines), encoding="utf-8")
    (tmp_path / "b.jsonl").write_text(lines[0] + "\n", encoding="utf-8")
    assert len(load_traces(tmp_path).find(FAILED).spans) == 6


def test_missing_optional_fields_are_tolerated() -> None:
    record = SpanRecord.from_json(
        {"trace_id": "AB", "span_id": "01", "start_ns": 5, "end_ns": None, "events": "?"}
    )
    assert (record.trace_id, record.parent_id, record.name) == ("ab", None, "?")
    assert (record.duration_ns, record.status, record.span_type) == (0, "UNSET", "other")
    assert record.attributes == {} and record.events == ()
    assert record.number("gen_ai.usage.input_tokens") is None
    for bad in ([], {"trace_id": "ab", "span_id": "01"}, {"span_id": "01", "start_ns": 1}):
        with pytest.raises(ValueError):
            SpanRecord.from_json(bad)


def test_a_parent_loop_still_shows_every_span_once() -> None:
    a = SpanRecord.from_json(span("t", "a", "b", "a", 0, 1, "node"))
    b = SpanRecord.from_json(span("t", "b", "a", "b", 0.5, 1, "node"))
    walked = [s.span_id for s, _ in Trace("t", (a, b)).walk()]
    assert sorted(walked) == ["a", "b"]


def test_spans_written_by_the_exporter_read_back(tmp_path: Path) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    from stepladder.tracing.exporter import span_record

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("run demo", attributes={"stepladder.span.type": "run"}):
        with tracer.start_as_current_span("node ask", attributes={"stepladder.span.type": "node"}):
            attributes = {
                "stepladder.span.type": "model",
                "gen_ai.usage.input_tokens": 11,
                "gen_ai.usage.output_tokens": 3,
                "stepladder.cost_usd": 0.5,
            }
            with tracer.start_as_current_span("chat", kind=SpanKind.CLIENT, attributes=attributes):
                pass
        try:
            with tracer.start_as_current_span("node boom") as boom:
                boom.set_attribute("stepladder.span.type", "node")
                raise RuntimeError("boom")
        except RuntimeError:
            pass
    lines = [json.dumps(span_record(span)) for span in memory.get_finished_spans()]
    (tmp_path / "spans-1.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")

    store = load_traces(tmp_path)
    assert store.malformed_lines == 0 and len(store.traces) == 1
    trace = store.traces[0]
    assert [(span.name, depth) for span, depth in trace.walk()] == [
        ("run demo", 0),
        ("node ask", 1),
        ("chat", 2),
        ("node boom", 1),
    ]
    summary = summarize(trace)
    assert (summary.status, summary.input_tokens, summary.cost_usd) == ("ok", 11, 0.5)
    boom_span = next(span for span in trace.spans if span.name == "node boom")
    assert boom_span.is_error and boom_span.error_message == "RuntimeError: boom"
