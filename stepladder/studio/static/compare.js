// Two eval runs compared: the gate's verdict, metric tests, cost and latency, and every case
// whose score changed, baseline (A) and candidate (B) side by side.
"use strict";

async function showComparison() {
  const main = document.getElementById("main");
  const query = new URLSearchParams(window.location.search);
  let data;
  try {
    data = await getJSON(`api/evals/compare?${query}`);
  } catch (error) {
    showError(main, error);
    return;
  }
  const { a, b } = data;
  main.replaceChildren(
    el("h1", {}, `Compare ${a.eval_name} runs`),
    el("div", { class: "facts" },
      el("span", {}, "A (baseline) ", el("a", { href: evalRunHref(a.run_id), class: "mono", id: "run-a" }, a.run_id)),
      el("span", {}, "B (candidate) ", el("a", { href: evalRunHref(b.run_id), class: "mono", id: "run-b" }, b.run_id)),
      el("span", {}, el("b", {}, String(data.comparison.paired)), " paired cases"),
      unpaired(data.comparison)),
    verdictBox(data.gate),
    warnings(data.comparison),
    metricsTable(data.comparison),
    operationsTable(data.comparison),
    changedSection(data));
}

function unpaired(comparison) {
  if (!comparison.only_in_baseline && !comparison.only_in_candidate) return null;
  return el("span", { class: "partial" },
    `${comparison.only_in_baseline} only in A, ${comparison.only_in_candidate} only in B (left out)`);
}

function verdictBox(gate) {
  const options = gate.options;
  const bounds = `alpha ${options.alpha}, cost per case up to +${Math.round(options.max_cost_increase * 100)}%` +
    (options.max_latency_increase === null ? ", latency unchecked" : `, median latency up to +${Math.round(options.max_latency_increase * 100)}%`);
  return el("section", { class: `verdict ${gate.passed ? "pass" : "fail"}`, id: "verdict" },
    el("strong", {}, gate.passed ? "Gate passed" : "Gate failed"),
    el("span", {}, gate.passed ? "B is not significantly worse than A, and costs no more than allowed." : "B would fail CI:"),
    gate.failures.length ? el("ul", {}, gate.failures.map((failure) => el("li", {}, failure))) : null,
    el("div", { class: "muted" }, `${bounds} · same verdict as `, el("code", {}, gate.command)));
}

function warnings(comparison) {
  const items = [...comparison.warnings];
  if (comparison.metrics_only_in_baseline.length) items.push(`metric(s) only in A, not compared: ${comparison.metrics_only_in_baseline.join(", ")}`);
  if (comparison.metrics_only_in_candidate.length) items.push(`metric(s) only in B, not compared: ${comparison.metrics_only_in_candidate.join(", ")}`);
  return el("div", {}, items.map((item) => el("p", { class: "warning" }, item)));
}

function metricsTable(comparison) {
  const verdictClass = { better: "ok", worse: "bad", "no significant change": "muted" };
  return el("section", { id: "metric-tests" }, el("h2", {}, `Quality (paired; verdict at alpha ${comparison.alpha})`),
    el("table", {},
      el("thead", {}, el("tr", {}, ["metric", "n", "A", "B", "difference", "95% CI", "test", "p", "verdict"].map((h, i) =>
        el("th", { class: i > 0 && i < 8 ? "num" : "" }, h)))),
      el("tbody", {}, comparison.metrics.map((m) => el("tr", { "data-metric": m.name },
        el("td", { class: "mono" }, m.name), el("td", { class: "num" }, String(m.n)),
        el("td", { class: "num" }, formatScore(m.baseline_mean)), el("td", { class: "num" }, formatScore(m.candidate_mean)),
        el("td", { class: `num ${m.difference < 0 ? "bad" : m.difference > 0 ? "ok" : ""}` }, formatSigned(m.difference)),
        el("td", { class: "num" }, formatInterval(m.diff_low, m.diff_high)),
        el("td", { class: "num" }, m.test === "mcnemar-exact" ? "McNemar" : "bootstrap"),
        el("td", { class: "num" }, m.p_value.toFixed(4)),
        el("td", { class: verdictClass[m.verdict] }, m.verdict))))));
}

function operationsTable(comparison) {
  const row = (label, delta, format) => el("tr", {}, el("td", {}, label),
    el("td", { class: "num" }, format(delta.baseline)), el("td", { class: "num" }, format(delta.candidate)),
    el("td", { class: "num" }, `${delta.absolute < 0 ? "-" : "+"}${format(Math.abs(delta.absolute))}`),
    el("td", { class: "num" }, formatRelative(delta.relative)));
  return el("section", { id: "operations" }, el("h2", {}, "Cost and latency (paired cases)"),
    el("table", { class: "narrow" },
      el("thead", {}, el("tr", {}, ["", "A", "B", "change", "relative"].map((h, i) => el("th", { class: i ? "num" : "" }, h)))),
      el("tbody", {}, row("cost per case", comparison.cost_per_case, formatCost),
        row("latency p50", comparison.latency_p50, formatDuration))));
}

function changedSection(data) {
  const groups = [
    ["regression", "Regressions", "score fell in B"],
    ["improvement", "Improvements", "score rose in B"],
    ["mixed", "Mixed", "some scores rose, some fell"],
  ];
  const section = el("section", { id: "changed" },
    el("h2", {}, `Cases whose score changed (${data.changed.length})`),
    el("p", { class: "muted" }, `${data.counts.regressions} regressions, ${data.counts.improvements} improvements, ${data.counts.mixed} mixed`));
  if (!data.changed.length) section.append(el("p", { class: "muted" }, "No paired case changed its score."));
  for (const [kind, title, hint] of groups) {
    const cases = data.changed.filter((c) => c.kind === kind);
    if (!cases.length) continue;
    section.append(el("h3", { id: `${kind}s` }, `${title} (${cases.length}) `, el("span", { class: "muted" }, hint)),
      ...cases.map((c) => changedCase(c, data)));
  }
  return section;
}

function changedCase(c, data) {
  const side = (label, run, s) => el("div", { class: "side", "data-side": label.toLowerCase() },
    el("h4", {}, `${label} output `, el("span", { class: "muted" }, "· run "),
      el("a", { href: evalRunHref(run.run_id, c.case_id), class: "mono" }, run.run_id),
      el("span", { class: "muted" }, " · trace "), traceLink(s.trace_id)),
    s.error ? el("pre", { class: "value bad" }, s.error) : null,
    prettyValue(s.outputs),
    el("table", { class: "scores" }, el("tbody", {}, data.metrics.map((name) =>
      el("tr", {}, el("td", { class: "mono" }, name),
        el("td", { class: `num ${scoreClass(s.score_values[name])}` }, formatScore(s.score_values[name])),
        el("td", { class: "wrap muted" }, s.scores[name] ? s.scores[name].detail : ""))))));
  return el("article", { class: `change ${c.kind}`, "data-case": c.case_id },
    el("div", { class: "head" }, el("b", { class: "mono" }, c.case_id),
      c.tags.map((t) => el("span", { class: "tag" }, t)),
      Object.entries(c.deltas).map(([name, delta]) =>
        el("span", { class: delta < 0 ? "bad" : "ok" }, `${name} ${formatSigned(delta)}`))),
    el("div", { class: "body" },
      el("div", { class: "grid2" },
        el("div", {}, el("h4", {}, "Input"), c.inputs === null ? el("p", { class: "muted" }, "not recorded") : prettyValue(c.inputs)),
        el("div", {}, el("h4", {}, "Expected", c.expected_changed ? el("span", { class: "partial" }, " (differs in B; A's shown)") : null), prettyValue(c.expected))),
      el("div", { class: "grid2" }, side("A", data.a, c.a), side("B", data.b, c.b))));
}

showComparison();
