"""A trace as one self-contained HTML page: a header, a span waterfall and a details panel.

The page loads nothing from anywhere (inline CSS and JavaScript, a Content-Security-Policy that
forbids any fetch), so it can be mailed or attached to a bug report. The rows and bars are drawn
here; the script only fills the details panel, from the trace embedded as JSON, using
`textContent` so that span data is never parsed as HTML. Durations read in the unit that fits
(µs to min, never wrapped); a model span shows the messages sent and the completion when content
capture recorded them, and says how to turn it on when it did not.
"""

from __future__ import annotations

import base64
import hashlib
import json
from html import escape
from typing import Any

from stepladder.tracing.render import format_cost, format_elapsed
from stepladder.tracing.store import SpanRecord, Trace, TraceSummary, summarize
from stepladder.tracing.trace_json import CAPTURE_HINT, jsonable, span_json

__all__ = ["trace_html"]

SPAN_TYPES = ("run", "node", "model", "retrieval", "tool")

STYLE = """
:root { --line: #d0d7de; --muted: #57606a; --run: #8c959f; --node: #0969da; --model: #8250df;
  --retrieval: #1a7f37; --tool: #bf8700; --other: #6e7781; --error: #cf222e; }
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: #1f2328; background: #fff; }
header { padding: 14px 20px; border-bottom: 1px solid var(--line); }
h1 { font-size: 17px; margin: 0 0 6px; }
h1 code { font-size: 13px; color: var(--muted); font-weight: normal; }
.stats { display: flex; flex-wrap: wrap; gap: 4px 18px; color: var(--muted); }
.stats b { color: #1f2328; }
.status-ok { color: #1a7f37; } .status-error { color: var(--error); }
.status-incomplete { color: #9a6700; }
.legend { display: flex; gap: 14px; margin-top: 6px; color: var(--muted); }
.legend span::before { content: ""; display: inline-block; width: 10px; height: 10px;
  margin-right: 4px; border-radius: 2px; background: var(--c); vertical-align: -1px; }
main { display: flex; align-items: flex-start; }
.waterfall { flex: 1; min-width: 0; }
.axis, .span-row { display: grid; grid-template-columns: minmax(220px, 34%) 104px 1fr;
  align-items: center; }
.axis { height: 24px; color: var(--muted); font-size: 11px; border-bottom: 1px solid var(--line);
  position: sticky; top: 0; background: #fff; }
.axis .track span { position: absolute; transform: translateX(-50%); white-space: nowrap; }
.axis .track span:first-child { transform: none; }
.axis .track span:last-child { transform: translateX(-100%); }
.span-row { height: 26px; cursor: pointer; border-bottom: 1px solid #f3f4f6; }
.span-row:hover { background: #f6f8fa; }
.span-row.selected { background: #ddf4ff; }
.span-row:focus { outline: 2px solid var(--node); outline-offset: -2px; }
.name { padding-left: calc(10px + var(--depth, 0) * 16px); white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }
.name small { color: var(--muted); margin-left: 6px; }
.dur { text-align: right; padding-right: 10px; color: var(--muted); white-space: nowrap;
  font-variant-numeric: tabular-nums; }
.track { position: relative; height: 14px; margin-right: 14px; }
.bar { position: absolute; top: 0; height: 100%; min-width: 2px; border-radius: 3px;
  background: var(--other); }
.type-run .bar { background: var(--run); } .type-node .bar { background: var(--node); }
.type-model .bar { background: var(--model); }
.type-retrieval .bar { background: var(--retrieval); }
.type-tool .bar { background: var(--tool); }
.span-row.error .bar { background: var(--error); }
.span-row.error .name { color: var(--error); font-weight: 600; }
#details { width: 400px; flex: none; border-left: 1px solid var(--line); padding: 12px 16px;
  position: sticky; top: 0; max-height: 100vh; overflow: auto; }
#details h2 { font-size: 15px; margin: 0 0 8px; word-break: break-word; }
#details h3 { font-size: 12px; margin: 14px 0 4px; text-transform: uppercase;
  color: var(--muted); }
#details .hint { color: var(--muted); }
table.kv { border-collapse: collapse; width: 100%; }
table.kv th { text-align: left; vertical-align: top; font-weight: normal; color: var(--muted);
  padding: 2px 8px 2px 0; white-space: nowrap; }
table.kv td { padding: 2px 0; word-break: break-word; }
pre { background: #f6f8fa; padding: 8px; border-radius: 4px; white-space: pre-wrap;
  word-break: break-word; margin: 0; max-height: 260px; overflow: auto; }
.exception { color: var(--error); font-weight: 600; margin: 4px 0; }
.message { margin: 0 0 8px; }
.message .role { font-size: 11px; color: var(--muted); text-transform: uppercase; }
.message.role-assistant pre { background: #f3eefc; }
.message.role-system pre { background: #fff8e5; }
.note { color: var(--muted); background: #f6f8fa; padding: 8px; border-radius: 4px;
  overflow-wrap: anywhere; }
"""

SCRIPT = """
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("trace-data").textContent);
  var panel = document.getElementById("details");
  function node(tag, text, cls) {
    var el = document.createElement(tag);
    if (text !== undefined && text !== null) { el.textContent = String(text); }
    if (cls) { el.className = cls; }
    return el;
  }
  function shown(value) {
    return typeof value === "string" ? value : JSON.stringify(value);
  }
  function table(pairs) {
    var el = node("table", null, "kv");
    pairs.forEach(function (pair) {
      var row = el.insertRow();
      row.appendChild(node("th", pair[0]));
      row.appendChild(node("td", shown(pair[1])));
    });
    return el;
  }
  function section(title, body) {
    panel.appendChild(node("h3", title));
    panel.appendChild(body);
  }
  function showEvents(span) {
    span.events.forEach(function (event) {
      var attrs = Object.assign({}, event.attributes);
      var stack = attrs["exception.stacktrace"];
      delete attrs["exception.stacktrace"];
      var box = node("div", null, "event");
      if (event.name === "exception") {
        box.appendChild(node("div", [attrs["exception.type"], attrs["exception.message"]]
          .filter(Boolean).join(": "), "exception"));
      }
      var pairs = event.offset_ms === null ? [] : [["time", "+" + event.offset_ms + " ms"]];
      box.appendChild(table(pairs.concat(
        Object.keys(attrs).sort().map(function (k) { return [k, attrs[k]]; }))));
      if (stack) { box.appendChild(node("pre", stack, "stacktrace")); }
      section("event: " + event.name, box);
    });
  }
  function messages(items) {
    var box = node("div", null, "chat");
    items.forEach(function (message) {
      var item = node("div", null, "message role-" + message.role);
      item.appendChild(node("div", message.role +
        (message.finish_reason ? " · " + message.finish_reason : ""), "role"));
      item.appendChild(node("pre", message.content));
      box.appendChild(item);
    });
    return box;
  }
  function showChat(span) {
    if (!span.chat) {
      section("messages", node("p", data.capture_hint, "note"));
      return;
    }
    section("messages sent", messages(span.chat.input));
    section("completion", messages(span.chat.output));
  }
  function select(row) {
    var span = data.spans[row.getAttribute("data-span-id")];
    var old = document.querySelector(".span-row.selected");
    if (old) { old.classList.remove("selected"); old.setAttribute("aria-selected", "false"); }
    row.classList.add("selected");
    row.setAttribute("aria-selected", "true");
    while (panel.firstChild) { panel.removeChild(panel.firstChild); }
    panel.appendChild(node("h2", span.name));
    panel.appendChild(table([
      ["status", span.status + (span.status_message ? ": " + span.status_message : "")],
      ["type", span.type], ["kind", span.kind], ["start", "+" + span.offset_text],
      ["duration", span.duration_text], ["span id", span.span_id],
      ["parent id", span.parent_id || "-"]
    ]));
    if (span.type === "model") { showChat(span); }
    var labels = span.type === "model"
      ? { "stepladder.input": "program inputs (not the prompt)",
          "stepladder.output": "parsed output" }
      : { "stepladder.input": "input", "stepladder.output": "output" };
    ["stepladder.input", "stepladder.output"].forEach(function (key) {
      if (key in span.attributes) {
        section(labels[key], node("pre", shown(span.attributes[key]), "preview"));
      }
    });
    var keys = Object.keys(span.attributes).sort();
    section("attributes", table(keys.map(function (k) { return [k, span.attributes[k]]; })));
    showEvents(span);
  }
  document.querySelectorAll(".span-row").forEach(function (row) {
    row.addEventListener("click", function () { select(row); });
    row.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); select(row); }
    });
  });
})();
"""


def trace_html(trace: Trace) -> str:
    """The trace as one self-contained HTML page (no external resources)."""
    summary = summarize(trace)
    title = f"{summary.flow or 'trace'} {summary.trace_id[:12]}"
    script_hash = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    policy = (
        "default-src 'none'; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{script_hash}'; img-src data:"
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{policy}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)}</title>",
            f"<style>{STYLE}</style></head><body>",
            _header(summary),
            '<main><div class="waterfall" role="listbox" aria-label="spans">',
            _axis(trace),
            *(_row(trace, span, depth) for span, depth in trace.walk()),
            '</div><aside id="details" aria-live="polite">',
            '<p class="hint">Click a span to see its attributes, input, output and events.</p>',
            "</aside></main>",
            f'<script type="application/json" id="trace-data">{_embedded(trace)}</script>',
            f"<script>{SCRIPT}</script>",
            "</body></html>",
        ]
    )


def _header(summary: TraceSummary) -> str:
    stats = [
        ("started", f"{summary.started:%Y-%m-%d %H:%M:%S} UTC"),
        ("duration", format_elapsed(summary.duration_ns)),
        ("tokens in/out", f"{summary.input_tokens:,} / {summary.output_tokens:,}"),
        ("cost", format_cost(summary.cost_usd)),
        ("escalations", str(summary.escalations)),
        ("spans", str(summary.span_count)),
    ]
    status = f'<span>status <b class="status-{summary.status}">{summary.status}</b></span>'
    shown = "".join(f"<span>{name} <b>{escape(value)}</b></span>" for name, value in stats)
    legend = "".join(f'<span style="--c: var(--{kind})">{kind}</span>' for kind in SPAN_TYPES)
    return (
        f"<header><h1>{escape(summary.flow or 'unnamed flow')} "
        f"<code>{escape(summary.trace_id)}</code></h1>"
        f'<div class="stats">{status}{shown}</div><div class="legend">{legend}</div></header>'
    )


def _axis(trace: Trace) -> str:
    scale = _scale(trace)
    ticks = "".join(
        f'<span style="left: {share * 100:g}%">{escape(_tick(scale * share))}</span>'
        for share in (0, 0.25, 0.5, 0.75, 1)
    )
    return (
        '<div class="axis"><div class="name">span</div><div class="dur">duration</div>'
        f'<div class="track">{ticks}</div></div>'
    )


def _tick(nanoseconds: float) -> str:
    return format_elapsed(nanoseconds) if nanoseconds else "0"


def _row(trace: Trace, span: SpanRecord, depth: int) -> str:
    scale = _scale(trace)
    left = (span.start_ns - trace.start_ns) / scale * 100
    width = span.duration_ns / scale * 100
    kind = span.span_type if span.span_type in SPAN_TYPES else "other"
    classes = f"span-row type-{kind}" + (" error" if span.is_error else "")
    hint = span.attributes.get("gen_ai.request.model") or span.attributes.get("gen_ai.tool.name")
    small = f"<small>{escape(str(hint))}</small>" if hint else ""
    return (
        f'<div class="{classes}" data-span-id="{escape(span.span_id)}" data-depth="{depth}" '
        f'role="option" tabindex="0" aria-selected="false">'
        f'<div class="name" style="--depth: {depth}" title="{escape(span.shown_name)}">'
        f"{escape(span.shown_name)}{small}</div>"
        f'<div class="dur">{escape(format_elapsed(span.duration_ns))}</div>'
        f'<div class="track"><div class="bar" style="left: {left:.4f}%; width: {width:.4f}%">'
        "</div></div></div>"
    )


def _scale(trace: Trace) -> int:
    return max(trace.end_ns - trace.start_ns, 1)


def _embedded(trace: Trace) -> str:
    """The trace as JSON that is safe inside a `<script>` element (`<`, `>`, `&` escaped)."""
    spans = {span.span_id: _span_data(span, trace.start_ns) for span in trace.spans}
    data = {"trace_id": trace.trace_id, "spans": spans, "capture_hint": CAPTURE_HINT}
    text = json.dumps(jsonable(data), ensure_ascii=False, allow_nan=False)
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, code)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _span_data(span: SpanRecord, trace_start_ns: int) -> dict[str, Any]:
    """The span's JSON plus its start and duration as text."""
    return {
        **span_json(span, trace_start_ns),
        "offset_text": format_elapsed(span.start_ns - trace_start_ns),
        "duration_text": format_elapsed(span.duration_ns),
    }
