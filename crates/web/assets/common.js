// Shared helpers of the viewer: fetching the API, formatting, and picking the page to show.
"use strict";
const Hamlet = {};

Hamlet.$ = (id) => document.getElementById(id);

Hamlet.api = async function (path, options) {
  const r = await fetch(path, options);
  let body = null;
  try { body = await r.json(); } catch (_) { /* not JSON */ }
  if (!r.ok) {
    throw new Error((body && body.error) || `${path}: HTTP ${r.status}`);
  }
  return body;
};

Hamlet.el = function (tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c !== null && c !== undefined) e.append(c);
  }
  return e;
};

Hamlet.svg = function (tag, attrs, text) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
};

/** "day 2 08:05" of simulated seconds. */
Hamlet.fmtTime = function (secs) {
  const day = Math.floor(secs / 86400) + 1;
  const h = Math.floor((secs % 86400) / 3600);
  const m = Math.floor((secs % 3600) / 60);
  return `day ${day} ${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}`;
};
Hamlet.fmtClock = (secs) => Hamlet.fmtTime(secs).replace(/^day \d+ /, "");

/** A stable colour for a name. */
Hamlet.colour = function (name, sat, light) {
  let h = 0;
  for (const c of name) h = (h * 31 + c.codePointAt(0)) >>> 0;
  return `hsl(${h % 360}, ${sat || 55}%, ${light || 45}%)`;
};

Hamlet.showError = function (message) {
  const e = Hamlet.$("error");
  e.textContent = message;
  e.hidden = false;
};

Hamlet.status = (text) => { Hamlet.$("status").textContent = text || ""; };

/** Follows the run's event stream; `onRecord(index, record)` for each record. */
Hamlet.follow = function (from, onRecord) {
  const es = new EventSource(`/api/events?from=${from}`);
  es.onmessage = (m) => {
    try { onRecord(Number(m.lastEventId), JSON.parse(m.data)); } catch (e) { console.error(e); }
  };
  es.onerror = () => Hamlet.status("event stream interrupted; retrying…");
  es.onopen = () => Hamlet.status("");
  return es;
};

Hamlet.start = async function () {
  try {
    const summary = await Hamlet.api("/api/summary");
    document.body.dataset.kind = summary.kind;
    if (summary.kind === "town") await Hamlet.town.start(summary);
    else await Hamlet.agent.start(summary);
    document.body.dataset.ready = "true";
  } catch (e) {
    Hamlet.showError(`Could not load the run: ${e.message}`);
  }
};
