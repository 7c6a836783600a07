// Shared helpers for the studio's pages (no framework, no CDN).
"use strict";

/** GET `path` (relative to the studio's base) as JSON; throws with the server's message. */
async function getJSON(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error((body && (body.detail || body.message)) || response.statusText);
  return body;
}

/** An element `tag` with attributes and children (strings become text, never HTML). */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** A duration in seconds as people read it: 850 µs, 12.4 ms, 3.21 s, 4 min 05 s, 1 h 02 min. */
function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  seconds = Math.max(seconds, 0);
  if (Math.round(seconds * 1e6) < 1000) return `${Math.round(seconds * 1e6)} µs`;
  if (Number((seconds * 1e3).toFixed(1)) < 1000) return `${(seconds * 1e3).toFixed(1)} ms`;
  if (Number(seconds.toFixed(2)) < 60) return `${seconds.toFixed(2)} s`;
  const whole = Math.round(seconds);
  const two = (n) => String(n).padStart(2, "0");
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${two(whole % 60)} s`;
  return `${Math.floor(whole / 3600)} h ${two(Math.floor((whole % 3600) / 60))} min`;
}

/** The studio's header with `active` ("runs", "evals", "flows") marked. */
function studioHeader(active) {
  const link = (name, label) => el("a", { href: name, class: name === active ? "active" : "" }, label);
  return el("header", { class: "studio" },
    el("span", { class: "brand" }, "stepladder studio"),
    el("nav", {}, link("runs", "Runs"), link("evals", "Evals"), link("flows", "Flows")));
}
