// The flows page: every flow of the project, and the flow files that do not load.
"use strict";

async function showFlows() {
  const main = document.getElementById("main");
  let data;
  try {
    data = await getJSON("api/flows");
  } catch (error) {
    main.replaceChildren(el("p", { class: "message bad" }, `Cannot list the flows: ${error.message}`));
    return;
  }
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const rows = data.flows.map((flow) => el("tr", { "data-flow": flow.name },
    el("td", {}, el("a", { href: `flows/${encodeURIComponent(flow.name)}` }, flow.name)),
    el("td", { class: "description" }, flow.description || ""),
    el("td", { class: "num" }, plural(flow.nodes, "node")),
    el("td", {}, flow.inputs.join(", ")),
    el("td", {}, flow.tiers.join(", ") || el("span", { class: "muted", title: "no model tier to start" }, "—"),
      flow.reaches_human ? el("span", { class: "tag" }, "human review") : null)));
  const parts = [el("h1", {}, "Flows")];
  if (data.flows.length) {
    parts.push(el("table", { class: "flows" },
      el("thead", {}, el("tr", {}, ["Flow", "Description", "Nodes", "Inputs", "Tiers"].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows)));
  } else {
    parts.push(el("p", { class: "muted" }, "This project has no flow that loads."));
  }
  const skipped = Object.entries(data.skipped || {});
  if (skipped.length) {
    parts.push(el("h2", {}, "Not loaded"),
      el("ul", { class: "skipped" }, skipped.map(([file, problem]) =>
        el("li", {}, el("strong", {}, file), ": ", el("span", { class: "bad" }, problem)))));
  }
  main.replaceChildren(...parts);
}

showFlows();
