"""The JSONL span store: one line per span in the documented shape, rotation, OTLP switch."""

import json
import time
from pathlib import Path

import pytest

from stepladder.config.tracing import TracingSettings
from stepladder.tracing import JsonlSpanExporter, Tracing, otlp_exporter

FIELDS = {
    "trace_id", "span_id", "parent_id", "name", "kind", "start_ns", "end_ns", "status",
    "status_message", "attributes", "events", "resource",
}  # fmt: skip


def lines(folder: Path) -> list[dict[str, object]]:
    return [json.loads(line) for f in sorted(folder.glob("*.jsonl")) for line in f.open()]


def test_the_project_store_writes_each_span_as_a_json_line(tmp_path: Path) -> None:
    tracing = Tracing.for_project(TracingSettings(), tmp_path, "demo")
    tracer = tracing.tracer
    with (
        tracer.start_as_current_span("run x", attributes={"a": 1}),
        tracer.start_as_current_span("node y"),
    ):
        pass
    tracing.shutdown()
    child, root = lines(tmp_path / "traces")
    assert set(root) == FIELDS
    assert root["parent_id"] is None and child["parent_id"] == root["span_id"]
    assert child["trace_id"] == root["trace_id"] and len(str(root["trace_id"])) == 32
    assert root["attributes"] == {"a": 1}
    assert root["resource"]["service.name"] == "stepladder"  # type: ignore[index]
    assert root["resource"]["stepladder.project"] == "demo"  # type: ignore[index]
    assert int(str(root["end_ns"])) >= int(str(child["end_ns"]))


def test_files_rotate_by_size_and_old_ones_are_pruned(tmp_path: Path) -> None:
    exporter = JsonlSpanExporter(tmp_path, max_bytes=2000, keep_files=3)
    tracing = Tracing.with_exporter(exporter)
    for index in range(40):
        with tracing.tracer.start_as_current_span(f"span {index}", attributes={"pad": "x" * 200}):
            pass
    tracing.shutdown()
    files = sorted(tmp_path.glob("spans-*.jsonl"))
    assert len(files) == 3
    assert all(f.stat().st_size < 2000 + 600 for f in files)
    kept = [json.loads(line)["name"] for f in files for line in f.open()]
    assert "span 39" in kept and "span 0" not in kept


def test_disabled_tracing_writes_nothing(tmp_path: Path) -> None:
    tracing = Tracing.for_project(TracingSettings(enabled=False), tmp_path)
    assert not tracing.enabled
    with tracing.tracer.start_as_current_span("ignored") as span:
        assert not span.is_recording()
    assert not (tmp_path / "traces").exists()


def test_otlp_is_added_only_when_an_endpoint_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert otlp_exporter() is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    http = otlp_exporter()
    assert type(http).__module__.endswith("proto.http.trace_exporter")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    grpc = otlp_exporter()
    assert type(grpc).__module__.endswith("proto.grpc.trace_exporter")
    for exporter in (http, grpc):
        assert exporter is not None
        exporter.shutdown()


def test_the_batch_processor_writes_in_the_background_and_on_flush(tmp_path: Path) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from stepladder.tracing.processor import JsonlBatchProcessor

    processor = JsonlBatchProcessor(JsonlSpanExporter(tmp_path), max_batch=5, delay_s=60)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("test")
    for index in range(5):
        with tracer.start_as_current_span(f"span {index}"):
            pass
    for _ in range(200):  # a full batch wakes the writer thread; no flush asked for
        if len(lines(tmp_path)) == 5:
            break
        time.sleep(0.01)
    assert [line["name"] for line in lines(tmp_path)] == [f"span {i}" for i in range(5)]
    with tracer.start_as_current_span("span 5"):
        pass
    assert len(lines(tmp_path)) == 5  # one span waits for a batch (or 60 s)
    provider.force_flush()
    assert len(lines(tmp_path)) == 6
    with tracer.start_as_current_span("span 6"):
        pass
    provider.shutdown()
    assert lines(tmp_path)[-1]["name"] == "span 6"


def test_a_full_queue_drops_and_counts_spans(tmp_path: Path) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from stepladder.tracing.processor import JsonlBatchProcessor

    processor = JsonlBatchProcessor(JsonlSpanExporter(tmp_path), max_batch=100, max_queue=3)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    for index in range(5):
        with provider.get_tracer("test").start_as_current_span(f"span {index}"):
            pass
    assert processor.dropped == 2
    provider.shutdown()
    assert [line["name"] for line in lines(tmp_path)] == ["span 0", "span 1", "span 2"]


def test_text_utf8_cannot_hold_is_stored_escaped(tmp_path: Path) -> None:
    tracing = Tracing.for_project(TracingSettings(), tmp_path, "demo")
    with tracing.tracer.start_as_current_span("run \ud800") as span:
        span.set_attribute("stepladder.input", "a \ud800 b")
        span.add_event("note", {"text": "\udfff"})
    tracing.shutdown()
    (line,) = lines(tmp_path / "traces")
    assert line["name"] == "run \\ud800"
    assert line["attributes"] == {"stepladder.input": "a \\ud800 b"}
    assert line["events"][0]["attributes"] == {"text": "\\udfff"}  # type: ignore[index]
