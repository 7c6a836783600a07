// Helpers shared by the eval pages (list, run, compare). Needs studio.js first.
"use strict";

/** A cost in US dollars as the CLI prints it: $0.000123, $1.2345. */
function formatCost(usd) {
  if (usd === null || usd === undefined) return "";
  return usd < 1 ? `$${usd.toFixed(6)}` : `$${usd.toFixed(4)}`;
}

/** An ISO-8601 UTC time as `2026-01-02 03:04:05 UTC`. */
function formatTime(iso) {
  if (!iso) return "";
  return iso.replace("T", " ").replace(/(\+00:00|Z)$/, " UTC");
}

/** A score or mean with three decimals ("" when missing). */
function formatScore(value) {
  return value === null || value === undefined ? "" : Number(value).toFixed(3);
}

/** A 95% interval as `[0.490, 0.943]`. */
function formatInterval(low, high) {
  return `[${formatScore(low)}, ${formatScore(high)}]`;
}

/** A signed difference: +0.125, -0.500. */
function formatSigned(value) {
  if (value === null || value === undefined) return "";
  return `${value >= 0 ? "+" : ""}${Number(value).toFixed(3)}`;
}

/** A relative change: +12.5% ("-" when there is none). */
function formatRelative(value) {
  if (value === null || value === undefined) return "-";
  return `${value >= 0 ? "+" : ""}${(value * 100).toFixed(1)}%`;
}

/** A value as one short line for a table cell: a lone field's value, else compact JSON. */
function previewValue(value, limit = 160) {
  if (value === null || value === undefined) return "";
  let text;
  if (typeof value === "string") text = value;
  else if (typeof value === "object" && !Array.isArray(value) && Object.keys(value).length === 1) {
    const only = Object.values(value)[0];
    text = typeof only === "string" ? only : JSON.stringify(only);
  } else text = JSON.stringify(value);
  return text.length > limit ? `${text.slice(0, limit - 1)}…` : text;
}

/** A value pretty-printed in a wrapping <pre> (strings as they are, the rest as JSON). */
function prettyValue(value) {
  const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
  return el("pre", { class: "value" }, text === undefined ? "null" : text);
}

/** A mean with a small bar showing its 95% interval on [0, 1] (clipped to the bar). */
function intervalBar(mean, low, high) {
  const clip = (v) => Math.max(0, Math.min(1, v)) * 100;
  const bar = el("span", { class: "ci-bar", title: `${formatScore(mean)} ${formatInterval(low, high)}` });
  bar.append(
    el("span", { class: "ci-range", style: `left:${clip(low)}%;width:${Math.max(0.5, clip(high) - clip(low))}%` }),
    el("span", { class: "ci-mean", style: `left:${clip(mean)}%` }));
  return bar;
}

/** The CSS class of a score: ok (1), bad (0), partial in between. */
function scoreClass(value) {
  if (value === null || value === undefined) return "muted";
  if (value >= 1) return "ok";
  if (value <= 0) return "bad";
  return "partial";
}

/** A link to a case's trace (the runs area's trace page), or a dash. */
function traceLink(traceId) {
  if (!traceId) return el("span", { class: "muted" }, "-");
  return el("a", { href: `traces/${encodeURIComponent(traceId)}`, class: "trace-link mono" }, traceId.slice(0, 12));
}

/** The URL of an eval run's page. */
function evalRunHref(runId, caseId) {
  const href = `evals/${encodeURIComponent(runId)}`;
  return caseId === undefined ? href : `${href}#case=${encodeURIComponent(caseId)}`;
}

/** A table of data the page has no dedicated view for (per-label tables, confusion matrices). */
function genericTable(value) {
  const isPlain = (v) => v === null || typeof v !== "object";
  if (Array.isArray(value) && value.length && value.every((row) => row && typeof row === "object" && !Array.isArray(row))) {
    const columns = [...new Set(value.flatMap((row) => Object.keys(row)))];
    return el("table", { class: "generic" },
      el("thead", {}, el("tr", {}, columns.map((c) => el("th", {}, c)))),
      el("tbody", {}, value.map((row) => el("tr", {}, columns.map((c) => genericCell(row[c]))))));
  }
  if (value && typeof value === "object" && !Array.isArray(value)) {
    const rows = Object.entries(value);
    if (rows.length && rows.every(([, v]) => v && typeof v === "object" && !Array.isArray(v) && Object.values(v).every(isPlain))) {
      const columns = [...new Set(rows.flatMap(([, v]) => Object.keys(v)))];
      return el("table", { class: "generic matrix" },
        el("thead", {}, el("tr", {}, el("th", {}, ""), columns.map((c) => el("th", { class: "num" }, c)))),
        el("tbody", {}, rows.map(([key, v]) => el("tr", {}, el("th", {}, key), columns.map((c) => genericCell(v[c]))))));
    }
    return el("table", { class: "generic" },
      el("tbody", {}, rows.map(([key, v]) => el("tr", {}, el("th", {}, key), genericCell(v)))));
  }
  return prettyValue(value);
}

function genericCell(value) {
  if (typeof value === "number") return el("td", { class: "num" }, Number.isInteger(value) ? String(value) : value.toFixed(3));
  if (value === null || value === undefined) return el("td", { class: "muted" }, "");
  if (typeof value === "object") return el("td", {}, genericTable(value));
  return el("td", { class: "wrap" }, String(value));
}

/** Show an error where the page's content goes. */
function showError(main, error) {
  main.replaceChildren(el("p", { class: "error-box" }, String(error.message || error)));
}
