// drover's only script, served from the binary (the Content-Security-Policy
// allows no inline script). Shows times in the reader's time zone, asks
// before submitting forms marked data-confirm, and keeps a run page live:
// the server sends the run's section again whenever the run changes.
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

// A run page: replace its run section with each one the server sends,
// until the run has ended. Open details (a host's output) stay open.
function followRun(live) {
  if (isFinal(live)) {
    return;
  }
  const events = new EventSource(live.dataset.live);
  events.addEventListener("run", (event) => {
    const open = new Set(
      Array.from(live.querySelectorAll("tr.host details[open]"))
        .map((el) => el.closest("tr.host").dataset.host)
    );
    live.innerHTML = event.data;
    // The section is the same for every viewer: this session's CSRF token
    // goes into its forms here.
    const token = document.querySelector("form.logout input[name=csrf]");
    for (const input of live.querySelectorAll("input[name=csrf]")) {
      input.value = token === null ? "" : token.value;
    }
    for (const row of live.querySelectorAll("tr.host")) {
      const details = row.querySelector("details");
      if (details !== null && open.has(row.dataset.host)) {
        details.open = true;
      }
    }
    localizeTimes(live);
    live.dataset.updates = String(Number(live.dataset.updates || "0") + 1);
    if (isFinal(live)) {
      events.close();
    }
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
