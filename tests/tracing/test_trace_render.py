from pathlib import Path

import pytest
from rich.console import Console

from stepladder.tracing.render import (
    format_cost,
    format_duration,
    format_elapsed,
    format_ms,
    span_label,
    trace_tree,
)
from stepladder.tracing.store import Trace, load_traces
from tests.tracing.span_files import FAILED, UNFINISHED, write_span_files


@pytest.fixture
def traces(tmp_path: Path) -> dict[str, Trace]:
    store = load_traces(write_span_files(tmp_path / "traces"))
    return {trace.trace_id: trace for trace in store.traces}


def rendered(trace: Trace) -> list[str]:
    console = Console(width=240, record=True, color_system=None)
    console.print(trace_tree(trace))
    return console.export_text().splitlines()


def test_the_tree_shows_timing_model_tokens_cost_and_errors(traces: dict[str, Trace]) -> None:
    lines = rendered(traces[FAILED])
    assert lines[0].startswith(f"trace {FAILED}  support  error")
    assert "tokens 120/45  $0.000321  escalations 1  spans 6" in lines[0]
    assert lines[1].startswith("└── run support  +0.0 ms  500.0 ms")
    small = next(line for line in lines if "chat smollm2-135m" in line)
    assert small.startswith("    │   └── chat smollm2-135m  +20.0 ms  160.0 ms")
    assert "tier small  smollm2-135m  tokens 50/20  cached 8  $0.000021" in small
    assert "escalated: low confidence (0.41 < 0.6)" in small
    answer = next(line for line in lines if "node answer" in line)
    assert answer.endswith("ERROR: ValueError: no answer in the context")
    assert any("retrieve faq  +220.0 ms  40.0 ms  collection faq" in line for line in lines)
    assert len(lines) == 7  # the header and six spans


def test_an_unfinished_run_shows_its_orphans_and_a_note(traces: dict[str, Trace]) -> None:
    lines = rendered(traces[UNFINISHED])
    assert "incomplete" in lines[0]
    assert lines[1].startswith("└── node classify  +0.0 ms  89.0 ms")
    assert lines[-1] == "the run has not finished (no root span yet)"


def test_errored_spans_are_red(traces: dict[str, Trace]) -> None:
    trace = traces[FAILED]
    answer = next(span for span in trace.spans if span.name == "node answer")
    label = span_label(answer, trace.start_ns)
    assert {str(part.style) for part in label.spans} >= {"bold red", "red"}
    ok = next(span for span in trace.spans if span.name == "node classify")
    assert "red" not in " ".join(str(part.style) for part in span_label(ok, 0).spans)


def test_number_formats() -> None:
    assert format_cost(0.000123) == "$0.000123"
    assert format_cost(12.5) == "$12.5000"
    assert format_ms(1_234_500_000) == "1,234.5 ms"
    assert [format_duration(ms * 1e6) for ms in (0.42, 89, 12_400, 1_520_000)] == [
        "0.4 ms",
        "89 ms",
        "12.4 s",
        "1,520 s",
    ]


def test_elapsed_times_read_from_microseconds_to_hours() -> None:
    seconds = (0.00085, 0.0012, 0.0124, 0.99996, 3.214, 59.996, 245, 599.6, 3725)
    assert [format_elapsed(s * 1e9) for s in seconds] == [
        "850 µs",
        "1.2 ms",
        "12.4 ms",
        "1.00 s",
        "3.21 s",
        "1 min 00 s",
        "4 min 05 s",
        "10 min 00 s",
        "1 h 02 min",
    ]
