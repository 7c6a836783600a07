// One eval run: metrics with intervals, per tag, cost and latency, and a sortable, filterable
// table of every case; a case opens in a dialog with its input, expected, output and scores.
"use strict";

const SUMMARY_SHOWN = new Set(["run_id", "eval_name", "flow", "started", "finished", "split", "tier",
  "planned", "cases", "ok", "failed", "metrics", "cost_total_usd", "cost_per_case_usd", "latency_p50_s",
  "latency_p95_s", "escalated_cases", "escalation_rate", "cache_enabled", "cached_cases", "used_cache",
  "tags", "worst", "label_metrics"]);
const METRIC_SHOWN = new Set(["name", "mean", "low", "high", "n", "binary", "present", "absent"]);
const CASE_SHOWN = new Set(["case_id", "tags", "split", "ok", "error", "outputs", "expected", "scores",
  "latency_s", "cost_usd", "input_tokens", "output_tokens", "escalations", "cached_calls", "rungs",
  "trace_id", "inputs", "inputs_source", "score_values", "mean_score"]);

const view = { run: null, cases: [], columns: [], sortKey: null, sortDir: 1, text: "", status: "all" };

function runIdFromPath() {
  return decodeURIComponent(window.location.pathname.split("/").pop());
}

async function showEvalRun() {
  const main = document.getElementById("main");
  let run;
  try {
    run = await getJSON(`api/evals/${encodeURIComponent(runIdFromPath())}`);
  } catch (error) {
    showError(main, error);
    return;
  }
  view.run = run;
  view.cases = run.cases;
  view.columns = caseColumns(run.metric_names);
  document.title = `${run.summary.eval_name} ${run.run_id} · stepladder studio`;
  main.replaceChildren(
    headerSection(run), metricsSection(run.summary), labelsSection(run.summary), operationsSection(run),
    tagsSection(run.summary), ...extraSections(run.summary), casesSection(), caseDialog());
  renderCases();
  openCaseFromHash();
  window.addEventListener("hashchange", openCaseFromHash);
}

function headerSection(run) {
  const s = run.summary;
  const facts = el("div", { class: "facts" },
    el("span", {}, "run ", el("b", { class: "mono" }, run.run_id)),
    run.baseline ? el("span", { class: "tag" }, "baseline") : null,
    el("span", {}, "flow ", el("b", {}, s.flow)),
    el("span", {}, "started ", el("b", {}, formatTime(s.started))),
    s.finished ? null : el("span", { class: "bad" }, "not finished"),
    s.split ? el("span", {}, "split ", el("b", {}, s.split)) : null,
    s.tier ? el("span", {}, "every model node on tier ", el("b", {}, s.tier)) : null,
    el("span", {}, el("b", {}, String(s.cases)), " cases: ", el("b", {}, String(s.ok)), " ok, ",
      el("b", { class: s.failed ? "bad" : "" }, String(s.failed)), " failed",
      s.planned > s.cases ? el("span", { class: "partial" }, ` (${s.planned - s.cases} not run)`) : null));
  const compareWith = (other, label) => other ? el("a", { class: "compare-link",
    href: `evals/compare?${new URLSearchParams({ a: other, b: run.run_id })}` }, label) : null;
  const links = el("div", { class: "facts" },
    compareWith(run.related.previous, `compare with the previous run (${run.related.previous})`),
    compareWith(run.related.baseline, `compare with the baseline (${run.related.baseline})`));
  const section = el("section", { id: "run-header" }, el("h1", {}, s.eval_name), facts, links);
  if (s.failed) section.append(el("p", { class: "warning" }, `${s.failed} case(s) failed and score 0 on every metric`));
  if (s.used_cache) section.append(el("p", { class: "warning" },
    `${s.cached_cases} case(s) used cached model responses: their latency and cost are not those of live calls`));
  return section;
}

function metricsSection(summary) {
  const body = el("tbody");
  const extras = [];
  // "present" / "absent": the metric's score on cases that expect a value and on those that
  // expect null, shown when some case expects null (the metric's `expected_null` option).
  const split = summary.metrics.some((m) => m.absent && m.absent.n);
  const part = (p) => p && p.n ? `${formatScore(p.mean)} ${formatInterval(p.low, p.high)} n=${p.n}` : "-";
  for (const m of summary.metrics) {
    body.append(el("tr", { "data-metric": m.name },
      el("td", { class: "mono" }, m.name), el("td", { class: "num" }, el("b", {}, formatScore(m.mean))),
      el("td", { class: "num" }, formatInterval(m.low, m.high)), el("td", {}, intervalBar(m.mean, m.low, m.high)),
      el("td", { class: "num" }, String(m.n)), el("td", { class: "muted" }, m.binary ? "pass/fail" : "continuous"),
      split ? el("td", { class: "num" }, part(m.present)) : null,
      split ? el("td", { class: "num" }, part(m.absent)) : null));
    for (const [key, value] of Object.entries(m)) {
      if (METRIC_SHOWN.has(key) || value === null || value === undefined) continue;
      extras.push(el("h3", {}, `${m.name}: ${key.replaceAll("_", " ")}`), genericTable(value));
    }
  }
  return el("section", { id: "metrics" }, el("h2", {}, "Quality (mean, 95% confidence interval)"),
    el("table", { class: "metrics" },
      el("thead", {}, el("tr", {}, el("th", {}, "metric"), el("th", { class: "num" }, "mean"),
        el("th", { class: "num" }, "95% CI"), el("th", {}, ""), el("th", { class: "num" }, "n"), el("th", {}, "kind"),
        split ? el("th", { class: "num" }, "expected a value") : null,
        split ? el("th", { class: "num" }, "expected null") : null)),
      body),
    el("div", { class: "metric-extras" }, extras));
}

/** Per-label precision, recall and F1, macro-F1 and the confusion matrix of each label metric. */
function labelsSection(summary) {
  const section = el("section", { id: "labels" });
  for (const lm of summary.label_metrics || []) {
    const per = el("table", { class: "per-label" },
      el("thead", {}, el("tr", {}, el("th", {}, "label"), ["precision", "recall", "F1", "support", "predicted"].map(
        (h) => el("th", { class: "num" }, h)))),
      el("tbody", {}, lm.per_label.map((row) => el("tr", {}, el("td", { class: "mono" }, row.label),
        [row.precision, row.recall, row.f1].map((v) => el("td", { class: "num" }, v === null ? "-" : formatScore(v))),
        el("td", { class: "num" }, String(row.support)), el("td", { class: "num" }, String(row.predicted))))));
    const matrix = el("table", { class: "confusion" },
      el("thead", {}, el("tr", {}, el("th", {}, "expected \\ predicted"), lm.labels.map((l) => el("th", { class: "num mono" }, l)))),
      el("tbody", {}, lm.confusion.map((row, i) => el("tr", {}, el("th", { class: "mono" }, lm.labels[i]),
        row.map((count, j) => el("td", { class: `num${count && i !== j ? " bad" : ""}${count && i === j ? " ok" : ""}` }, String(count)))))));
    section.append(el("h2", {}, `Labels: ${lm.metric} (${lm.field})`),
      el("p", {}, `accuracy ${formatScore(lm.accuracy)} · macro-F1 ${formatScore(lm.macro_f1)} · ${lm.n} cases`),
      per, el("h3", {}, "Confusion matrix"), matrix);
  }
  return section;
}

function operationsSection(run) {
  const s = run.summary;
  const card = (label, value) => el("div", { class: "card" }, el("div", { class: "label" }, label), el("div", { class: "value" }, value));
  return el("section", { id: "operations" }, el("h2", {}, "Cost and latency"),
    el("div", { class: "cards" },
      card("cost total", formatCost(s.cost_total_usd)), card("cost per case", formatCost(s.cost_per_case_usd)),
      card("latency p50", formatDuration(s.latency_p50_s)), card("latency p95", formatDuration(s.latency_p95_s)),
      card("escalated", `${(s.escalation_rate * 100).toFixed(1)}% (${s.escalated_cases})`),
      card("cached cases", String(s.cached_cases)),
      card("tokens in / out", `${run.totals.input_tokens} / ${run.totals.output_tokens}`)));
}

function tagsSection(summary) {
  if (!summary.tags.length) return el("section", { id: "tags" });
  const names = summary.metrics.map((m) => m.name);
  return el("section", { id: "tags" }, el("h2", {}, "By tag (mean [95% CI])"),
    el("table", { class: "tags" },
      el("thead", {}, el("tr", {}, el("th", {}, "tag"), el("th", { class: "num" }, "n"),
        names.map((name) => el("th", { class: "num mono" }, name)))),
      el("tbody", {}, summary.tags.map((tag) => el("tr", { "data-tag": tag.tag },
        el("td", {}, tag.tag), el("td", { class: "num" }, String(tag.n)),
        tag.metrics.map((m) => el("td", { class: "num" }, m.n ? `${formatScore(m.mean)} ${formatInterval(m.low, m.high)}` : "-")))))));
}

/** Whatever else the summary carries (rungs, per-label tables, ...), as generic tables. */
function extraSections(summary) {
  const sections = [];
  for (const [key, value] of Object.entries(summary)) {
    if (SUMMARY_SHOWN.has(key) || value === null || value === undefined) continue;
    if (Array.isArray(value) && !value.length) continue;
    if (typeof value !== "object") continue;
    sections.push(el("section", { class: "extra", "data-key": key },
      el("h2", {}, key.replaceAll("_", " ").replace(/^./, (c) => c.toUpperCase())), genericTable(value)));
  }
  return sections;
}

function caseColumns(metricNames) {
  const text = (value) => previewValue(value).toLowerCase();
  return [
    { key: "case", label: "case", sort: (c) => c.case_id, cell: (c) => el("td", { class: "case-id mono" }, c.case_id) },
    { key: "tags", label: "tags", sort: (c) => c.tags.join(" "), cell: (c) => el("td", {}, c.tags.map((t) => el("span", { class: "tag" }, t))) },
    { key: "input", label: "input", sort: (c) => text(c.inputs), cell: (c) => el("td", { class: "val" }, previewValue(c.inputs)) },
    { key: "expected", label: "expected", sort: (c) => text(c.expected), cell: (c) => el("td", { class: "val" }, previewValue(c.expected)) },
    { key: "output", label: "output", sort: (c) => text(c.outputs), cell: (c) => el("td", { class: "val" }, previewValue(c.outputs)) },
    ...metricNames.map((name) => ({
      key: `score:${name}`, label: name, numeric: true, sort: (c) => c.score_values[name],
      cell: (c) => el("td", { class: `num ${scoreClass(c.score_values[name])}`, "data-metric": name }, formatScore(c.score_values[name])),
    })),
    { key: "mean", label: "mean score", numeric: true, sort: (c) => c.mean_score, cell: (c) => el("td", { class: `num ${scoreClass(c.mean_score)}` }, formatScore(c.mean_score)) },
    { key: "latency", label: "latency", numeric: true, sort: (c) => c.latency_s, cell: (c) => el("td", { class: "num" }, formatDuration(c.latency_s)) },
    { key: "cost", label: "cost", numeric: true, sort: (c) => c.cost_usd, cell: (c) => el("td", { class: "num" }, formatCost(c.cost_usd)) },
    { key: "error", label: "error", sort: (c) => c.error || "", cell: (c) => el("td", { class: "val bad" }, previewValue(c.error, 120)) },
    { key: "trace", label: "trace", sort: (c) => c.trace_id || "", cell: (c) => el("td", {}, traceLink(c.trace_id)) },
  ];
}

function casesSection() {
  const search = el("input", { type: "search", id: "case-filter", placeholder: "filter cases: id, tag, input, output, error…", "aria-label": "filter cases" });
  const status = el("select", { id: "case-status", "aria-label": "which cases" },
    el("option", { value: "all" }, "all cases"),
    el("option", { value: "failed" }, "failed only (score below 1 or error)"),
    el("option", { value: "error" }, "errors only"));
  search.addEventListener("input", () => { view.text = search.value.trim().toLowerCase(); renderCases(); });
  status.addEventListener("change", () => { view.status = status.value; renderCases(); });
  const head = el("tr", {}, view.columns.map((column) => {
    const th = el("th", { class: column.numeric ? "num" : "", "data-key": column.key, title: "sort" }, column.label);
    th.addEventListener("click", () => {
      view.sortDir = view.sortKey === column.key ? -view.sortDir : 1;
      view.sortKey = column.key;
      renderCases();
    });
    return th;
  }));
  const table = el("table", { class: "cases sortable", id: "cases" }, el("thead", {}, head), el("tbody"));
  table.tBodies[0].addEventListener("click", (event) => {
    if (event.target.closest("a")) return; // a trace link opens the trace
    const row = event.target.closest("tr[data-case]");
    if (row) openCase(row.dataset.case);
  });
  return el("section", { id: "cases-section" }, el("h2", {}, "Cases"),
    el("div", { class: "toolbar" }, search, status, el("span", { class: "muted", id: "case-count" })), table);
}

function caseMatches(c) {
  if (view.status === "error" && c.ok) return false;
  if (view.status === "failed" && c.ok && !(c.mean_score !== null && c.mean_score < 1)) return false;
  if (!view.text) return true;
  const haystack = JSON.stringify([c.case_id, c.tags, c.split, c.inputs, c.expected, c.outputs, c.error]).toLowerCase();
  return haystack.includes(view.text);
}

function compareValues(a, b) {
  const missing = (v) => v === null || v === undefined || v === "";
  if (missing(a) || missing(b)) return missing(a) - missing(b); // missing values last
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

function renderCases() {
  const table = document.getElementById("cases");
  let rows = view.cases.filter(caseMatches);
  const column = view.columns.find((c) => c.key === view.sortKey);
  if (column) {
    rows = rows.map((c, index) => ({ c, index }));
    rows.sort((x, y) => {
      const a = column.sort(x.c), b = column.sort(y.c);
      const missing = (v) => v === null || v === undefined || v === "";
      if (missing(a) !== missing(b)) return missing(a) ? 1 : -1; // missing last either way
      return view.sortDir * compareValues(a, b) || x.index - y.index;
    });
    rows = rows.map((row) => row.c);
  }
  for (const th of table.tHead.rows[0].cells) {
    if (th.dataset.key === view.sortKey) th.setAttribute("aria-sort", view.sortDir > 0 ? "ascending" : "descending");
    else th.removeAttribute("aria-sort");
  }
  table.tBodies[0].replaceChildren(...rows.map((c) => el("tr", { "data-case": c.case_id, class: c.ok ? "" : "failed" },
    view.columns.map((col) => col.cell(c)))));
  document.getElementById("case-count").textContent = `${rows.length} of ${view.cases.length} cases`;
}

function caseDialog() {
  const dialog = el("dialog", { class: "case", id: "case-dialog" });
  dialog.addEventListener("close", () => {
    if (window.location.hash.startsWith("#case=")) history.replaceState(null, "", window.location.pathname + window.location.search);
  });
  dialog.addEventListener("click", (event) => { if (event.target === dialog) dialog.close(); });
  return dialog;
}

function openCaseFromHash() {
  const match = window.location.hash.match(/^#case=(.+)$/);
  if (match) openCase(decodeURIComponent(match[1]));
}

function openCase(caseId) {
  const c = view.cases.find((item) => item.case_id === caseId);
  const dialog = document.getElementById("case-dialog");
  if (!c) return;
  history.replaceState(null, "", `${window.location.pathname}${window.location.search}#case=${encodeURIComponent(caseId)}`);
  const close = el("button", { type: "button", id: "case-close" }, "Close");
  close.addEventListener("click", () => dialog.close());
  const scores = el("table", { class: "scores" },
    el("thead", {}, el("tr", {}, el("th", {}, "metric"), el("th", { class: "num" }, "score"), el("th", {}, "kind"), el("th", {}, "detail"))),
    el("tbody", {}, view.run.metric_names.map((name) => {
      const score = c.scores[name];
      const value = c.score_values[name];
      return el("tr", { "data-metric": name }, el("td", { class: "mono" }, name),
        el("td", { class: `num ${scoreClass(value)}` }, formatScore(value)),
        el("td", { class: "muted" }, score ? (score.binary ? "pass/fail" : "continuous") : "not scored"),
        el("td", { class: "wrap" }, score ? score.detail : (c.ok ? "" : "the flow failed")));
    })));
  const others = Object.entries(c).filter(([key, value]) => !CASE_SHOWN.has(key) && value !== null && value !== undefined);
  const body = el("div", { class: "body" },
    el("div", { class: "facts" },
      c.tags.length ? el("span", {}, "tags ", c.tags.map((t) => el("span", { class: "tag" }, t))) : null,
      c.split ? el("span", {}, "split ", el("b", {}, c.split)) : null,
      el("span", {}, "latency ", el("b", {}, formatDuration(c.latency_s))),
      el("span", {}, "cost ", el("b", {}, formatCost(c.cost_usd))),
      el("span", {}, "tokens ", el("b", {}, `${c.input_tokens} / ${c.output_tokens}`)),
      c.escalations ? el("span", {}, "escalations ", el("b", {}, String(c.escalations))) : null,
      c.cached_calls ? el("span", {}, "cached calls ", el("b", {}, String(c.cached_calls))) : null,
      el("span", { id: "case-trace" }, "trace ", c.trace_id
        ? el("a", { href: `traces/${encodeURIComponent(c.trace_id)}`, class: "mono" }, c.trace_id)
        : el("span", { class: "muted" }, "none (not traced)"))),
    c.error ? el("div", { id: "case-error" }, el("h3", { class: "bad" }, "Error"), el("pre", { class: "value bad" }, c.error)) : null,
    el("h3", {}, "Input", c.inputs_source === "cases file" ? el("span", { class: "muted" }, " (from the eval's cases file)") : null),
    el("div", { id: "case-input" }, c.inputs === null ? el("p", { class: "muted" }, "not recorded, and not found in the cases file") : prettyValue(c.inputs)),
    el("div", { class: "grid2" },
      el("div", { id: "case-expected" }, el("h3", {}, "Expected"), prettyValue(c.expected)),
      el("div", { id: "case-output" }, el("h3", {}, "Output"), prettyValue(c.outputs))),
    el("h3", {}, "Scores"), scores,
    Object.keys(c.rungs || {}).length ? [el("h3", {}, "Rungs"), genericTable(c.rungs)] : null,
    others.map(([key, value]) => [el("h3", {}, key.replaceAll("_", " ")), genericTable(value)]));
  dialog.replaceChildren(el("div", { class: "head" }, el("b", { class: "mono" }, `case ${c.case_id}`), close), body);
  if (!dialog.open) dialog.showModal();
}

showEvalRun();
