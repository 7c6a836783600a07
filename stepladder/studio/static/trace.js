// The trace page: the spans of one trace from /api/traces/<id> as a waterfall and a details panel.
"use strict";

const SPAN_TYPES = ["run", "node", "model", "retrieval", "tool"];
const MIN_BAR_PX = 3;  // a 1 ms span in a 10 min trace still shows

function formatCost(usd) {
  return usd < 1 ? `$${usd.toFixed(6)}` : `$${usd.toFixed(4)}`;
}

function shown(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function kvTable(pairs) {
  return el("table", { class: "kv" },
    el("tbody", {}, pairs.map(([key, value]) => el("tr", {}, el("th", {}, key), el("td", {}, shown(value))))));
}

function summaryView(trace) {
  const s = trace.summary;
  const stat = (name, value, cls) => el("span", {}, `${name} `, el("b", { class: cls || "" }, value));
  return [
    el("h1", {}, s.flow || "unnamed flow", " ", el("code", {}, trace.trace_id)),
    el("div", { class: "stats" },
      stat("status", s.status, `status-${s.status}`),
      stat("started", `${s.started.replace("T", " ").slice(0, 19)} UTC`),
      stat("duration", formatDuration(s.duration_s)),
      stat("tokens in/out", `${s.input_tokens.toLocaleString("en")} / ${s.output_tokens.toLocaleString("en")}`),
      stat("cost", formatCost(s.cost_usd)),
      stat("escalations", String(s.escalations)),
      stat("invalid outputs", String(s.invalid_outputs)),
      stat("spans", String(s.spans))),
    el("div", { class: "legend" }, SPAN_TYPES.map((kind) => el("span", { style: `--c: var(--${kind})` }, kind))),
  ];
}

/** A round step for about five ticks over `seconds`: 1, 2, 5 × 10^k, or minutes and hours. */
function tickStep(seconds) {
  const steps = [];
  for (let power = -6; power <= 1; power++) for (const m of [1, 2, 5]) steps.push(m * 10 ** power);
  steps.push(15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 18000, 36000, 86400);
  return steps.find((step) => seconds / step <= 5) || seconds / 5;
}

/** A tick's label: a duration without needless zeros ("20 s", "2 min", "1 min 30 s"). */
function tickLabel(seconds) {
  if (seconds === 0) return "0";
  return formatDuration(seconds).replace(/\.0+(?= )/, "").replace(/ min 00 s$/, " min");
}

function axis(scaleMs) {
  const extent = scaleMs / 1000;
  const step = tickStep(extent);
  const ticks = [];
  for (let i = 0; i * step <= extent * (1 + 1e-9); i++) {
    const share = (i * step) / extent;
    const edge = share === 0 ? "start" : share > 0.95 ? "end" : "middle";
    ticks.push(el("span", { class: `tick ${edge}`, style: `left: ${share * 100}%` }, tickLabel(i * step)));
  }
  return el("div", { class: "axis" }, el("div", { class: "name" }, "span"),
    el("div", { class: "dur" }, "duration"), el("div", { class: "track" }, ticks));
}

function spanRow(span, scaleMs, onSelect) {
  const kind = SPAN_TYPES.includes(span.type) ? span.type : "other";
  const left = (span.offset_ms / scaleMs) * 100;
  const width = (span.duration_ms / scaleMs) * 100;
  const hint = span.attributes["gen_ai.request.model"] || span.attributes["gen_ai.tool.name"];
  const bar = el("div", { class: "bar", title: `+${formatDuration(span.offset_ms / 1000)}, ${formatDuration(span.duration_ms / 1000)}` });
  bar.style.left = `min(${left.toFixed(4)}%, calc(100% - ${MIN_BAR_PX}px))`;
  bar.style.width = `max(${width.toFixed(4)}%, ${MIN_BAR_PX}px)`;
  const row = el("div", {
    class: `span-row type-${kind}${span.status === "ERROR" ? " error" : ""}`,
    "data-span-id": span.span_id, "data-depth": String(span.depth),
    role: "option", tabindex: "0", "aria-selected": "false",
    onclick: () => onSelect(span, row),
    onkeydown: (event) => {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); onSelect(span, row); }
    },
  },
    el("div", { class: "name", style: `--depth: ${span.depth}`, title: span.name }, span.name,
      hint ? el("small", {}, String(hint)) : null),
    el("div", { class: "dur" }, formatDuration(span.duration_ms / 1000)),
    el("div", { class: "track" }, bar));
  return row;
}

function messagesView(messages) {
  return el("div", { class: "chat" }, messages.map((message) =>
    el("div", { class: `message role-${message.role}` },
      el("div", { class: "role" }, message.role + (message.finish_reason ? ` · ${message.finish_reason}` : "")),
      el("pre", {}, message.content))));
}

function detailsView(span, hint) {
  const parts = [el("h2", {}, span.name), kvTable([
    ["status", span.status + (span.status_message ? `: ${span.status_message}` : "")],
    ["type", span.type], ["kind", span.kind],
    ["start", `+${formatDuration(span.offset_ms / 1000)}`],
    ["duration", formatDuration(span.duration_ms / 1000)],
    ["span id", span.span_id], ["parent id", span.parent_id || "–"],
  ])];
  const section = (title, body) => parts.push(el("h3", {}, title), body);
  if (span.type === "model") {
    if (span.chat) {
      section("messages sent", messagesView(span.chat.input));
      section("completion", messagesView(span.chat.output));
    } else {
      section("messages", el("p", { class: "note capture-off" }, hint));
    }
  }
  const labels = span.type === "model"
    ? { "stepladder.input": "program inputs (not the prompt)", "stepladder.output": "parsed output" }
    : { "stepladder.input": "input", "stepladder.output": "output" };
  for (const key of ["stepladder.input", "stepladder.output"]) {
    if (key in span.attributes) section(labels[key], el("pre", { class: "preview" }, shown(span.attributes[key])));
  }
  const keys = Object.keys(span.attributes).sort();
  section("attributes", kvTable(keys.map((key) => [key, span.attributes[key]])));
  for (const event of span.events) {
    const attributes = { ...event.attributes };
    const stack = attributes["exception.stacktrace"];
    delete attributes["exception.stacktrace"];
    const box = el("div", { class: "event" });
    if (event.name === "exception") {
      box.append(el("div", { class: "exception" },
        [attributes["exception.type"], attributes["exception.message"]].filter(Boolean).join(": ")));
    }
    const when = event.offset_ms === null ? [] : [["time", `+${formatDuration(event.offset_ms / 1000)}`]];
    box.append(kvTable(when.concat(Object.keys(attributes).sort().map((key) => [key, attributes[key]]))));
    if (stack) box.append(el("pre", { class: "stacktrace" }, stack));
    section(`event: ${event.name}`, box);
  }
  return parts;
}

async function main() {
  const id = decodeURIComponent(window.location.pathname.split("/").filter(Boolean).pop() || "");
  const summary = document.getElementById("summary");
  let trace;
  try {
    trace = await getJSON(`api/traces/${encodeURIComponent(id)}`);
  } catch (error) {
    summary.replaceChildren(el("p", { class: "bad" }, error.message), el("p", {}, el("a", { href: "runs" }, "All runs")));
    document.getElementById("details").hidden = true;
    document.body.dataset.loaded = "error";
    return;
  }
  document.title = `${trace.summary.flow || "trace"} ${trace.trace_id.slice(0, 12)} · stepladder studio`;
  summary.replaceChildren(...summaryView(trace));
  const scaleMs = Math.max(trace.extent_ms, trace.duration_ms, 1e-6);
  const details = document.getElementById("details");
  const select = (span, row) => {
    const old = document.querySelector(".span-row.selected");
    if (old) { old.classList.remove("selected"); old.setAttribute("aria-selected", "false"); }
    row.classList.add("selected");
    row.setAttribute("aria-selected", "true");
    details.replaceChildren(...detailsView(span, trace.capture_hint));
    history.replaceState(null, "", `#span=${span.span_id}`);
  };
  const rows = trace.spans.map((span) => spanRow(span, scaleMs, select));
  document.getElementById("waterfall").replaceChildren(axis(scaleMs), ...rows);
  const wanted = new URLSearchParams(window.location.hash.slice(1)).get("span");
  const index = trace.spans.findIndex((span) => span.span_id === wanted);
  if (index >= 0) select(trace.spans[index], rows[index]);
  document.body.dataset.loaded = trace.trace_id;
}

main();
