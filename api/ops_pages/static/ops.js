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
