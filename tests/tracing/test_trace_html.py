import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from stepladder.tracing.html import SCRIPT, trace_html
from stepladder.tracing.store import Trace, load_traces
from tests.tracing.span_files import FAILED, NASTY, UNFINISHED, write_span_files


class Page(HTMLParser):
    """The elements of a page, its attributes and the text of its <script> elements."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)

    def with_class(self, name: str) -> list[dict[str, str | None]]:
        return [a for _, a in self.elements if name in (a.get("class") or "").split()]


@pytest.fixture
def traces(tmp_path: Path) -> dict[str, Trace]:
    store = load_traces(write_span_files(tmp_path / "traces"))
    return {trace.trace_id: trace for trace in store.traces}


def test_one_row_per_span_in_tree_order(traces: dict[str, Trace]) -> None:
    trace = traces[FAILED]
    page = Page(trace_html(trace))
    rows = page.with_class("span-row")
    assert [row["data-span-id"] for row in rows] == [span.span_id for span, _ in trace.walk()]
    assert [row["data-depth"] for row in rows] == ["0", "1", "2", "1", "2", "2"]
    assert [row["class"] for row in rows][3] == "span-row type-node error"
    assert any(attrs.get("id") == "details" for _, attrs in page.elements)


def test_bars_are_placed_by_start_and_duration(traces: dict[str, Trace]) -> None:
    page = Page(trace_html(traces[FAILED]))
    styles = [bar["style"] for bar in page.with_class("bar")]
    assert styles[0] == "left: 0.0000%; width: 100.0000%"
    assert styles[2] == "left: 4.0000%; width: 32.0000%"  # the small model call, 20-180 ms


def test_the_header_sums_up_the_run(traces: dict[str, Trace]) -> None:
    text = trace_html(traces[FAILED])
    header = text[text.index("<header>") : text.index("</header>")]
    for shown in ("support", FAILED, "status-error", "500.0 ms", "120 / 45", "$0.000321"):
        assert shown in header


def test_the_page_loads_nothing_from_outside(traces: dict[str, Trace]) -> None:
    text = trace_html(traces[FAILED])
    page = Page(text)
    assert not [a for _, a in page.elements if {"src", "href"} & a.keys()]
    assert "url(" not in text and "@import" not in text and "://" not in text
    policy = next(a["content"] for t, a in page.elements if t == "meta" and "http-equiv" in a)
    assert policy is not None and policy.startswith("default-src 'none';")
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy  # the inline script may run, nothing else


def test_span_data_cannot_break_out_of_the_page(traces: dict[str, Trace]) -> None:
    text = trace_html(traces[FAILED])
    assert "</script><img" not in text and "<!-- not" not in text
    page = Page(text)
    assert [tag for tag, _ in page.elements].count("img") == 0
    data = json.loads(page.scripts[0])
    small = next(s for s in data["spans"].values() if s["name"] == "chat smollm2-135m")
    assert small["attributes"]["stepladder.output"] == NASTY
    assert small["attributes"]["gen_ai.usage.input_tokens"] == 50
    answer = next(s for s in data["spans"].values() if s["name"] == "node answer")
    assert answer["events"][0]["attributes"]["exception.message"] == "no answer in the context"
    assert answer["events"][0]["offset_ms"] == 479.0


def test_the_script_fills_the_panel_with_text_only() -> None:
    assert "innerHTML" not in SCRIPT and "insertAdjacentHTML" not in SCRIPT
    assert "textContent" in SCRIPT


def test_an_unfinished_trace_renders_its_orphans(traces: dict[str, Trace]) -> None:
    page = Page(trace_html(traces[UNFINISHED]))
    assert len(page.with_class("span-row")) == 2
    assert "status-incomplete" in trace_html(traces[UNFINISHED])


def test_odd_values_are_escaped_and_kept_parseable(traces: dict[str, Trace]) -> None:
    trace = traces[FAILED]
    odd = [
        type(span)(**{**span.__dict__, "name": '<b>"x"</b>', "attributes": {"v": float("nan")}})
        for span in trace.spans
    ]
    page = Page(trace_html(Trace(trace.trace_id, tuple(odd))))
    bold = [tag for tag, _ in Page(trace_html(trace)).elements].count("b")  # the header's
    assert [tag for tag, _ in page.elements].count("b") == bold
    data = json.loads(page.scripts[0])
    assert {s["attributes"]["v"] for s in data["spans"].values()} == {"nan"}
    assert re.search(r'title="&lt;b&gt;&quot;x&quot;&lt;/b&gt;"', trace_html(Trace("t", odd[:1])))


def long_trace() -> Trace:
    from stepladder.tracing.store import SpanRecord
    from tests.studio.trace_files import LONG, long_trace

    return Trace(LONG, tuple(SpanRecord.from_json(item) for item in long_trace()))


def test_durations_read_in_the_unit_that_fits_and_never_wrap() -> None:
    text = trace_html(long_trace())
    page = Page(text)
    durations = re.findall(r'<div class="dur">([^<]*)</div>', text)
    assert durations[1:] == ["10 min 00 s", "9 min 59 s", "1.0 ms"]  # not "600,000.0 ms"
    header = text[text.index("<header>") : text.index("</header>")]
    assert "<b>10 min 00 s</b>" in header
    assert re.search(r"\.dur \{[^}]*white-space: nowrap", text)
    ticks = re.findall(r'<span style="left: [^"]*">([^<]*)</span>', text)
    assert ticks == ["0", "2 min 30 s", "5 min 00 s", "7 min 30 s", "10 min 00 s"]
    assert len(page.with_class("span-row")) == 3


def test_a_model_span_carries_its_messages_or_how_to_record_them(
    traces: dict[str, Trace],
) -> None:
    data = json.loads(Page(trace_html(long_trace())).scripts[0])
    model = data["spans"]["a000000000000003"]
    assert [m["role"] for m in model["chat"]["input"]] == ["system", "user"]
    assert model["chat"]["output"][0]["content"] == "Parcel to Lisbon lost in transit."
    assert model["duration_text"] == "1.0 ms" and model["offset_text"] == "1.00 s"
    failed = json.loads(Page(trace_html(traces[FAILED])).scripts[0])
    small = next(s for s in failed["spans"].values() if s["name"] == "chat smollm2-135m")
    assert small["chat"] is None
    assert "capture_content: true" in failed["capture_hint"]
    assert "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true" in failed["capture_hint"]
