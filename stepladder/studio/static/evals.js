// The list of eval runs: each links to its page; pick a baseline (A) and a candidate (B) to compare.
"use strict";

async function showEvalRuns() {
  const main = document.getElementById("main");
  let data;
  try {
    data = await getJSON("api/evals");
  } catch (error) {
    showError(main, error);
    return;
  }
  const runs = data.runs;
  main.replaceChildren(el("h1", {}, "Eval runs"));
  for (const problem of data.skipped) main.append(el("p", { class: "warning" }, `not shown: ${problem}`));
  if (!runs.length) {
    main.append(el("p", { class: "muted" }, "No eval runs yet. Run one with ",
      el("code", {}, "stepladder eval evalsets/NAME.yaml"), "; it shows here."));
    return;
  }
  const compare = el("button", { class: "primary", id: "compare-button", type: "button" }, "Compare A → B");
  const hint = el("span", { class: "muted", id: "compare-hint" });
  const evalFilter = el("select", { id: "eval-filter", "aria-label": "eval set" },
    el("option", { value: "" }, "all eval sets"),
    [...new Set(runs.map((run) => run.eval_name))].sort().map((name) => el("option", { value: name }, name)));
  const body = el("tbody");
  const table = el("table", { class: "runs", id: "runs" },
    el("thead", {}, el("tr", {},
      el("th", { title: "baseline" }, "A"), el("th", { title: "candidate" }, "B"),
      el("th", {}, "run"), el("th", {}, "eval set"), el("th", {}, "flow"), el("th", {}, "started"),
      el("th", { class: "num" }, "cases"), el("th", {}, "metrics (mean, 95% CI)"),
      el("th", { class: "num" }, "cost/case"), el("th", { class: "num" }, "latency p50"))),
    body);
  for (const run of runs) body.append(runRow(run));
  main.append(el("div", { class: "toolbar" }, evalFilter, compare, hint), table);

  const picked = (side) => document.querySelector(`input[name=${side}]:checked`);
  const update = () => {
    const a = picked("a"), b = picked("b");
    compare.disabled = !(a && b && a.value !== b.value);
    hint.textContent = compare.disabled ? "pick a baseline (A) and a different candidate (B)" : "";
  };
  // a sensible default: the newest run as candidate, the one before it (same eval) as baseline
  const newest = runs.find((run) => !run.baseline);
  const before = newest && runs.find((run) => run !== newest && run.eval_name === newest.eval_name);
  if (newest && before) {
    document.querySelector(`input[name=b][value="${CSS.escape(newest.run_id)}"]`).checked = true;
    document.querySelector(`input[name=a][value="${CSS.escape(before.run_id)}"]`).checked = true;
  }
  table.addEventListener("change", update);
  compare.addEventListener("click", () => {
    const query = new URLSearchParams({ a: picked("a").value, b: picked("b").value });
    window.location.href = `evals/compare?${query}`;
  });
  evalFilter.addEventListener("change", () => {
    for (const row of body.rows) row.hidden = Boolean(evalFilter.value) && row.dataset.eval !== evalFilter.value;
  });
  update();
}

function runRow(run) {
  const metrics = el("div", {}, run.metrics.map((m) =>
    el("div", {}, el("span", { class: "mono" }, m.name), " ", el("b", {}, formatScore(m.mean)), " ",
      el("span", { class: "muted" }, formatInterval(m.low, m.high)))));
  const cases = el("span", {}, String(run.cases),
    run.failed ? el("span", { class: "bad" }, ` (${run.failed} failed)`) : null,
    run.planned > run.cases ? el("span", { class: "muted" }, ` of ${run.planned}`) : null);
  return el("tr", { "data-run": run.run_id, "data-eval": run.eval_name },
    el("td", {}, el("input", { type: "radio", name: "a", value: run.run_id, "aria-label": `baseline ${run.run_id}` })),
    el("td", {}, el("input", { type: "radio", name: "b", value: run.run_id, "aria-label": `candidate ${run.run_id}` })),
    el("td", {}, el("a", { href: evalRunHref(run.run_id), class: "mono run-link" }, run.run_id),
      run.baseline ? el("span", { class: "tag" }, "baseline") : null),
    el("td", {}, run.eval_name), el("td", {}, run.flow),
    el("td", { class: "muted" }, formatTime(run.started)),
    el("td", { class: "num" }, cases), el("td", {}, metrics),
    el("td", { class: "num" }, formatCost(run.cost_per_case_usd)),
    el("td", { class: "num" }, formatDuration(run.latency_p50_s)));
}

showEvalRuns();
