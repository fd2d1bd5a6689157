// Live rows: a table with data-feed follows the Server-Sent Events of saga runs that
// change, and updates the cells of rows it shows (data-instance, data-field).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const table = document.querySelector("table[data-feed]");
  if (!table || !window.EventSource) return;
  const feed = new EventSource(table.dataset.feed);
  feed.addEventListener("run", (message) => {
    const run = JSON.parse(message.data);
    for (const row of document.querySelectorAll(`[data-instance="${CSS.escape(run.instance_id)}"]`)) {
      for (const cell of row.querySelectorAll("[data-field]")) {
        cell.textContent = run[cell.dataset.field] ?? "";
      }
      row.dataset.status = run.status;
    }
  });
});

// Bulk progress: an element with data-progress polls its JSON once a second until done.
document.addEventListener("DOMContentLoaded", () => {
  const box = document.querySelector("[data-progress]");
  if (!box) return;
  const bar = box.querySelector("progress");
  const tick = async () => {
    const response = await fetch(box.dataset.progress, { credentials: "same-origin" });
    if (!response.ok) return;
    const bulk = await response.json();
    for (const cell of box.querySelectorAll("[data-field]")) {
      cell.textContent = bulk[cell.dataset.field];
    }
    bar.value = bulk.done + bulk.skipped + bulk.failed;
    if (bulk.state !== "done") setTimeout(tick, 1000);
  };
  setTimeout(tick, 500);
});
