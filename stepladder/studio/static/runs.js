// The runs page: filters kept in the address (so a view can be shared), the table from /api/runs.
"use strict";

const form = document.getElementById("filters");
const FIELDS = ["q", "flow", "status", "since", "until", "escalated", "invalid",
  "min_cost", "max_cost", "min_latency", "max_latency"];

/** The form's filters as query parameters (empty ones left out). */
function filterParams() {
  const params = new URLSearchParams();
  for (const name of FIELDS) {
    const field = form.elements[name];
    if (field.type === "checkbox") { if (field.checked) params.set(name, "true"); }
    else if (field.value.trim()) params.set(name, field.value.trim());
  }
  return params;
}

/** Fill the form from the address's query (a shared or reloaded view). */
function fillForm(params) {
  for (const name of FIELDS) {
    const field = form.elements[name];
    if (field.type === "checkbox") field.checked = params.get(name) === "true";
    else field.value = params.get(name) || "";
  }
}

function formatCost(usd) {
  return usd < 1 ? `$${usd.toFixed(6)}` : `$${usd.toFixed(4)}`;
}

function runRow(run) {
  const href = `traces/${run.trace_id}`;
  const row = el("tr", { "data-trace-id": run.trace_id, onclick: (event) => {
    if (event.target.closest("a")) return;
    window.location.href = href;
  } },
    el("td", { class: "when" }, run.started.replace("T", " ").slice(0, 19)),
    el("td", {}, run.flow || "–"),
    el("td", { class: `status status-${run.status}` }, run.status),
    el("td", { class: "num" }, formatDuration(run.duration_s)),
    el("td", { class: "num" }, `${run.input_tokens.toLocaleString("en")} / ${run.output_tokens.toLocaleString("en")}`),
    el("td", { class: "num" }, formatCost(run.cost_usd)),
    el("td", { class: "num" }, String(run.escalations)),
    el("td", { class: "num" }, String(run.invalid_outputs)),
    el("td", { class: "text input", title: run.input }, run.input),
    el("td", { class: "text output", title: run.output }, run.output),
    el("td", { class: "id" }, el("a", { href }, run.trace_id.slice(0, 12))));
  return row;
}

let flowsShown = false;
let latest = 0;

async function load() {
  const ticket = ++latest;
  const params = filterParams();
  const query = params.toString();
  history.replaceState(null, "", query ? `runs?${query}` : "runs");
  const problem = document.getElementById("problem");
  const body = document.querySelector("#runs tbody");
  let data;
  try {
    data = await getJSON(`api/runs?${query}`);
  } catch (error) {
    if (ticket !== latest) return;
    problem.textContent = error.message;
    problem.hidden = false;
    return;
  }
  if (ticket !== latest) return;  // a newer request is on its way
  problem.hidden = true;
  if (!flowsShown) {
    const select = form.elements.flow;
    const chosen = select.value;
    const known = new Set([...select.options].map((option) => option.value));
    for (const flow of data.flows) {
      if (!known.has(flow)) select.append(el("option", { value: flow }, flow));
    }
    select.value = chosen;
    flowsShown = true;
  }
  body.replaceChildren(...data.runs.map(runRow));
  const count = document.getElementById("count");
  if (data.note) count.textContent = data.note;
  else {
    const shown = data.runs.length < data.matched ? ` (newest ${data.runs.length} shown)` : "";
    count.textContent = `${data.matched} of ${data.total} runs${shown}`;
  }
  document.body.dataset.loaded = query;
}

let timer = null;
form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
form.addEventListener("change", () => load());
form.addEventListener("input", (event) => {
  if (event.target.name !== "q") return;
  clearTimeout(timer);
  timer = setTimeout(load, 250);
});
form.addEventListener("reset", () => setTimeout(load, 0));

const initial = new URLSearchParams(window.location.search);
if (initial.get("flow")) form.elements.flow.append(el("option", { value: initial.get("flow") }, initial.get("flow")));
fillForm(initial);
load();
