// The status page: one /overview request (bounded, whatever the number of jobs), then live through /events.
// Every value from the server is inserted with textContent, never as markup: error messages cannot inject anything.
"use strict";

const REFRESH_MIN_MS = 1000; // a burst of changes refreshes the overview at most once a second
const STATES = ["QUEUED", "RUNNING", "DONE", "ERROR"];
let refreshTimer = null;
let lastRefresh = 0;
let shownKey = null;

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function age(seconds) {
  if (!seconds) return "-";
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function when(iso) {
  if (!iso) return "-";
  const date = new Date(iso);
  return isNaN(date) ? iso : date.toLocaleTimeString();
}

function tile(label, value, className) {
  const node = el("div", null, "tile " + (className || ""));
  node.append(el("b", value), el("span", label));
  node.dataset.label = label;
  return node;
}

function keyButton(key) {
  const button = el("button", key.length > 14 ? key.slice(0, 12) + "\u2026" : key, "key");
  button.title = key;
  button.dataset.key = key;
  button.type = "button";
  button.addEventListener("click", () => showJob(key));
  return button;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows.map((cells) => {
    const tr = el("tr");
    for (const cell of cells) {
      const td = el("td");
      if (cell instanceof Node) td.append(cell); else td.textContent = cell ?? "-";
      tr.append(td);
    }
    return tr;
  }));
}

function render(view) {
  const byState = view.jobs.byState;
  document.getElementById("states").replaceChildren(
    ...STATES.map((s) => tile(s, byState[s] || 0, "state-" + s)),
    tile("total", view.jobs.total),
  );
  document.getElementById("throughput").replaceChildren(
    tile("done", view.finishedLastHour.DONE, "state-DONE"),
    tile("failed", view.finishedLastHour.ERROR, "state-ERROR"),
  );
  fill(document.querySelector("#queues tbody"), Object.entries(view.stages).map(([stage, q]) =>
    [stage.toUpperCase(), q.queueDepth, q.running, age(q.oldestQueuedAgeS)]));
  fill(document.querySelector("#latest tbody"), view.latestJobs.map((job) =>
    [keyButton(job.jobKey), job.name, el("span", job.state || job.unreadable || "?", "state-" + job.state), job.stage,
     job.attempt, when(job.updatedAt)]));
  fill(document.querySelector("#failures tbody"), view.latestFailures.map((f) =>
    [keyButton(f.jobKey), f.name, f.stage, f.type, el("span", f.message, "message"), when(f.updatedAt)]));
  document.getElementById("updated").textContent =
    `${view.ready ? "" : "starting (scanning jobs) - "}updated ${when(view.generatedAt)}`;
}

async function refresh() {
  refreshTimer = null;
  lastRefresh = Date.now();
  const response = await fetch("overview", { cache: "no-store" });
  if (response.ok) render(await response.json());
  if (shownKey) showJob(shownKey);
}

function refreshSoon() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(refresh, Math.max(0, REFRESH_MIN_MS - (Date.now() - lastRefresh)));
}

async function showJob(key) {
  shownKey = key;
  const response = await fetch("jobs/" + encodeURIComponent(key), { cache: "no-store" });
  const section = document.getElementById("detail");
  section.hidden = false;
  document.getElementById("detail-key").textContent = key;
  const summary = document.getElementById("detail-summary");
  const timeline = document.getElementById("timeline");
  if (!response.ok) {
    summary.textContent = `not available (HTTP ${response.status})`;
    timeline.replaceChildren();
    return;
  }
  const job = await response.json();
  const parts = [`${job.state} at ${job.stage}, attempt ${job.attempt}`];
  if (job.input && job.input.name) parts.push(`file ${job.input.name}`);
  const progress = response.headers.get("Job-Progress");
  if (progress) parts.push(`progress ${progress}`);
  for (const [stage, info] of Object.entries(job.stages || {})) {
    if (info && info.durationS !== undefined) parts.push(`${stage} ${info.durationS} s`);
  }
  if (job.error) parts.push(`error ${job.error.type}: ${job.error.message}`);
  summary.textContent = parts.join(" \u00b7 ");
  timeline.replaceChildren(...(job.history || []).map((h) =>
    el("li", `${when(h.at)}  ${h.state} ${h.stage} #${h.attempt}${h.note ? " - " + h.note : ""}`)));
}

function follow() {
  const live = document.getElementById("live");
  const events = new EventSource("events");
  const mark = (state) => { live.dataset.state = state; live.textContent = state; };
  events.addEventListener("open", () => mark("live"));
  events.addEventListener("error", () => mark("reconnecting"));
  events.addEventListener("relist", refreshSoon);
  events.addEventListener("job", refreshSoon);
}

refresh();
follow();
