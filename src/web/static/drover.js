// drover's only script, served from the binary (the Content-Security-Policy
// allows no inline script). Shows times in the reader's time zone, asks
// before submitting forms marked data-confirm, and keeps a run page live:
// the server sends the run's section (`run`), then what changed (`rows`).
"use strict";

function localizeTimes(root) {
  for (const el of root.querySelectorAll("time[datetime]")) {
    const at = new Date(el.getAttribute("datetime"));
    if (!Number.isNaN(at.getTime())) {
      el.title = el.getAttribute("datetime");
      el.textContent = at.toLocaleString();
    }
  }
}

function isFinal(root) {
  const state = root.querySelector("#run-state");
  return state !== null && state.dataset.final === "1";
}

// The section is the same for every viewer: this session's CSRF token
// goes into its forms here.
function fillTokens(root) {
  const token = document.querySelector("form.logout input[name=csrf]");
  for (const input of root.querySelectorAll("input[name=csrf]")) {
    input.value = token === null ? "" : token.value;
  }
}

// The page's host rows, by host.
function rowsByHost(live) {
  return new Map(
    Array.from(live.querySelectorAll("tr.host")).map((row) => [row.dataset.host, row])
  );
}

// Whether a row's output is open (a reader opened it): it stays open.
function keepOpen(before, row) {
  const details = row.querySelector("details");
  if (before !== undefined && details !== null && before.querySelector("details[open]") !== null) {
    details.open = true;
  }
}

// `run`: the whole section.
function replaceSection(live, html) {
  const before = rowsByHost(live);
  live.innerHTML = html;
  for (const row of live.querySelectorAll("tr.host")) {
    keepOpen(before.get(row.dataset.host), row);
  }
}

// `rows`: the head, the groups in order, and the rows that changed; the
// other rows are moved, not rebuilt.
function applyChanges(live, changes) {
  const rows = rowsByHost(live);
  for (const [host, html] of Object.entries(changes.rows)) {
    const holder = document.createElement("tbody");
    holder.innerHTML = html;
    const row = holder.firstElementChild;
    keepOpen(rows.get(host), row);
    rows.set(host, row);
  }
  const groups = document.createDocumentFragment();
  for (const group of changes.groups) {
    const holder = document.createElement("div");
    holder.innerHTML = group.frame;
    const section = holder.firstElementChild;
    const body = section.querySelector("tbody");
    for (const host of group.hosts) {
      const row = rows.get(host);
      if (row !== undefined) {
        body.appendChild(row);
      }
    }
    groups.appendChild(section);
  }
  live.querySelector("#run-head").innerHTML = changes.head;
  live.querySelector("#run-groups").replaceChildren(groups);
  live.querySelector("#run-state").dataset.final = changes.final ? "1" : "0";
}

// A run page: keep its run section up to date with what the server sends,
// until the run has ended. Open details (a host's output) stay open.
function followRun(live) {
  if (isFinal(live)) {
    return;
  }
  const events = new EventSource(live.dataset.live);
  const updated = () => {
    fillTokens(live);
    localizeTimes(live);
    live.dataset.updates = String(Number(live.dataset.updates || "0") + 1);
    if (isFinal(live)) {
      events.close();
    }
  };
  events.addEventListener("run", (event) => {
    replaceSection(live, event.data);
    updated();
  });
  events.addEventListener("rows", (event) => {
    applyChanges(live, JSON.parse(event.data));
    updated();
  });
}

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});

document.addEventListener("DOMContentLoaded", () => {
  localizeTimes(document);
  const live = document.getElementById("run-live");
  if (live !== null) {
    followRun(live);
  }
  document.body.dataset.ready = "1";
});
