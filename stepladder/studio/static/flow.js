// One flow's page: its picture, a form from its input schema, and its runs as they stream:
// each node's update, a pending human review answered from the page, the final state.
"use strict";

const flowName = decodeURIComponent(location.pathname.replace(/\/+$/, "").split("/").pop());
const flowPath = encodeURIComponent(flowName);

/** The message of an error body: `detail` (text, or FastAPI's list of problems) or `message`. */
function errorText(body) {
  if (!body) return "";
  if (typeof body.detail === "string") return body.detail;
  if (Array.isArray(body.detail)) {
    return body.message || body.detail.map((p) => {
      const where = (p.loc || []).filter((part) => part !== "body").join(".");
      return where ? `${where}: ${p.msg}` : p.msg;
    }).join("; ");
  }
  return body.message || "";
}

/** POST `body` as JSON to `path` and call `onEvent(name, data)` for each server-sent event. */
async function postEvents(path, body, onEvent) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    const problem = await response.json().catch(() => null);
    throw new Error(errorText(problem) || `${response.status} ${response.statusText}`);
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length) onEvent(name, JSON.parse(data.join("\n")));
    }
    if (done) break;
  }
}

function json(value) {
  return JSON.stringify(value, null, 2);
}

/** Mark a node of the picture (`ran`, `waiting`, `failed`). */
function markNode(node, state) {
  const group = document.querySelector(`#graph g.node[data-node="${CSS.escape(node)}"]`);
  if (!group) return;
  group.classList.remove("ran", "waiting", "failed");
  if (state) group.classList.add(state);
}

class RunView {
  constructor(container) {
    this.container = container;
    this.status = el("span", { class: "status" });
    this.runId = el("span", { class: "run-id muted" });
    this.updates = el("ol", { class: "updates" });
    this.review = el("div", { class: "reviews" });
    this.result = el("div", { class: "result" });
    this.message = el("p", { class: "message bad", hidden: "" });
    container.replaceChildren(
      el("h2", {}, "Run ", this.status, " ", this.runId),
      this.message, this.updates, this.review, this.result);
    this.clock = performance.now();
    document.querySelectorAll("#graph g.node").forEach((g) => g.classList.remove("ran", "waiting", "failed"));
  }

  setStatus(status) {
    this.status.textContent = status;
    this.status.className = `status ${status}`;
    this.container.dataset.status = status;
  }

  fail(text) {
    this.setStatus("failed");
    this.message.textContent = text;
    this.message.hidden = false;
  }

  async stream(path, body) {
    this.setStatus("running");
    this.message.hidden = true;
    try {
      await postEvents(path, body, (name, data) => this.onEvent(name, data));
    } catch (error) {
      this.fail(error.message);
    }
  }

  onEvent(name, data) {
    if (name === "update") {
      const seconds = (performance.now() - this.clock) / 1000;
      this.updates.append(el("li", { class: "update", "data-node": data.node },
        el("span", { class: "node" }, data.node),
        el("span", { class: "time muted" }, `+${formatDuration(seconds)}`),
        el("pre", {}, json(data.update))));
      markNode(data.node, "ran");
    } else if (name === "final") {
      this.finish(data);
    } else if (name === "error") {
      if (data.run) this.showRun(data.run);
      this.fail(errorText(data) || "the run failed");
    }
  }

  showRun(run) {
    this.id = run.run_id;
    this.runId.textContent = run.run_id;
    const facts = [];
    if (run.duration_s !== null && run.duration_s !== undefined) facts.push(`took ${formatDuration(run.duration_s)}`);
    const calls = run.usage && run.usage.calls;
    if (calls) facts.push(`${calls} model call${calls === 1 ? "" : "s"}`);
    const trace = run.trace_id
      ? el("a", { href: `traces/${encodeURIComponent(run.trace_id)}`, class: "trace" }, "its trace")
      : null;
    this.result.replaceChildren(
      el("p", { class: "muted facts" }, facts.join(" · "), facts.length && trace ? " · " : "", trace),
      el("h3", {}, run.status === "finished" ? "Final state" : "State so far"),
      el("pre", { class: "state" }, json(run.state)));
  }

  finish(run) {
    this.showRun(run);
    this.setStatus(run.status);
    this.review.replaceChildren();
    if (run.status === "paused") {
      for (const review of run.reviews || []) this.review.append(this.reviewForm(run, review));
    }
  }

  reviewForm(run, review) {
    markNode(review.node, "waiting");
    const candidate = review.candidate && typeof review.candidate === "object" ? review.candidate : {};
    const form = schemaForm(review.answer_schema, candidate, `review-${review.node}-`);
    const problem = el("p", { class: "message bad", hidden: "" });
    const send = el("button", { type: "submit", class: "primary" }, "Send answer");
    const box = el("form", { class: "review", "data-node": review.node },
      el("h3", {}, `Review: node ${review.node} asks a person`),
      el("p", {}, el("strong", {}, review.reason || "review"), review.detail ? `: ${review.detail}` : ""),
      el("details", { open: "" }, el("summary", {}, "What the node read"), el("pre", {}, json(review.inputs))),
      review.candidate !== null && review.candidate !== undefined
        ? el("details", {}, el("summary", {}, `Candidate${review.candidate_tier ? ` from ${review.candidate_tier}` : ""}`),
          el("pre", {}, typeof review.candidate === "string" ? review.candidate : json(review.candidate)))
        : null,
      form.element, problem, send);
    box.addEventListener("submit", async (event) => {
      event.preventDefault();
      const { value, errors } = form.read();
      if (Object.keys(errors).length) return;
      send.disabled = true;
      problem.hidden = true;
      this.setStatus("running");
      const path = `api/flow-runs/${encodeURIComponent(run.run_id)}/resume`;
      try {
        await postEvents(path, { answer: value, node: review.node }, (name, data) => {
          if (box.isConnected && name === "error") {
            // the answer was refused before any node ran: the run still waits for it
            throw new Error(errorText(data) || "the answer was refused");
          }
          if (box.isConnected) box.remove();
          this.onEvent(name, data);
        });
        this.setStatus(this.status.textContent === "running" ? "unfinished" : this.status.textContent);
      } catch (error) {
        this.setStatus("paused");
        problem.textContent = error.message;
        problem.hidden = false;
      } finally {
        send.disabled = false;
      }
    });
    this.setStatus("paused");
    return box;
  }
}

/** The nodes as a table: id, kind and first tier, what each reads and writes. */
function nodeTable(nodes) {
  return el("table", { class: "nodes" },
    el("thead", {}, el("tr", {}, ["Node", "Kind", "Reads", "Writes"].map((h) => el("th", {}, h)))),
    el("tbody", {}, nodes.map((node) => el("tr", { "data-node": node.id, title: node.description || null },
      el("td", {}, el("strong", {}, node.id)),
      el("td", {}, node.tier ? `${node.kind} · ${node.tier}` : node.kind),
      el("td", {}, node.reads.join(", ")),
      el("td", {}, node.writes.join(", "))))));
}

async function showFlow() {
  const main = document.getElementById("main");
  document.title = `${flowName} · Flows · stepladder studio`;
  let flow;
  try {
    flow = await getJSON(`api/flows/${flowPath}`);
  } catch (error) {
    main.replaceChildren(el("p", {}, el("a", { href: "flows" }, "← Flows")),
      el("p", { class: "message bad" }, error.message));
    return;
  }
  const graph = el("div", { id: "graph", class: "graph" });
  graph.innerHTML = flow.svg; // our own SVG, built server-side with every text escaped
  const form = schemaForm(flow.input_schema, {}, "input-");
  const problem = el("p", { class: "message bad", hidden: "" });
  const run = el("button", { type: "submit", class: "primary" }, "Run");
  const runPanel = el("section", { id: "run", class: "run" });
  const inputs = el("form", { id: "inputs", class: "inputs" },
    el("h2", {}, "Input"), form.element, problem, run);
  inputs.addEventListener("submit", async (event) => {
    event.preventDefault();
    const { value, errors } = form.read();
    if (Object.keys(errors).length) {
      problem.textContent = "Fix the fields marked above.";
      problem.hidden = false;
      return;
    }
    problem.hidden = true;
    run.disabled = true;
    try {
      await new RunView(runPanel).stream(`api/flows/${flowPath}/runs`, value);
    } finally {
      run.disabled = false;
    }
  });
  const kinds = [...new Set(flow.nodes.map((n) => n.kind))].join(", ");
  main.replaceChildren(
    el("p", { class: "crumbs" }, el("a", { href: "flows" }, "Flows"), " / ", flow.name),
    el("h1", {}, flow.name),
    flow.description ? el("p", { class: "description" }, flow.description) : "",
    el("p", { class: "muted" }, `${flow.nodes.length} node${flow.nodes.length === 1 ? "" : "s"} (${kinds})`,
      flow.tiers.length ? ` · tiers: ${flow.tiers.join(", ")}` : "",
      flow.reaches_human ? " · may ask a person" : ""),
    el("div", { class: "flow-layout" }, el("div", {}, graph, nodeTable(flow.nodes)),
      el("div", { class: "side" }, inputs, runPanel)));
}

showFlow();
