// drover's only script, served from the binary (the Content-Security-Policy
// allows no inline script). Shows times in the reader's time zone and asks
// before submitting forms marked data-confirm.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const el of document.querySelectorAll("time[datetime]")) {
    const at = new Date(el.getAttribute("datetime"));
    if (!Number.isNaN(at.getTime())) {
      el.title = el.getAttribute("datetime");
      el.textContent = at.toLocaleString();
    }
  }
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    });
  }
  document.body.dataset.ready = "1";
});
