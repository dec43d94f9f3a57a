// Live job progress over the websocket: /ws/jobs/ on the jobs page, /ws/jobs/<id>/ on a job's page.
// Every message carries a whole job status, so the page is always re-rendered from what arrives; after a
// reconnect (with backoff) the snapshot the server sends first brings every row up to date.
(function () {
  "use strict";
  const table = document.querySelector("table[data-live]");
  if (!table) return;
  const scope = table.dataset.live;
  const body = table.querySelector("tbody");
  const state = document.getElementById("live-state");
  const FINAL = ["SUCCESS", "FAILURE", "CANCELLED"];
  const blank = document.getElementById("job-row");
  const template = blank ? blank.content.querySelector("tr") : null;
  let delay = 1000;

  function text(row, field, value) {
    const node = row.querySelector('[data-field="' + field + '"]');
    if (node) node.textContent = value;
  }

  function render(job) {
    let row = body.querySelector('tr[data-job-id="' + job.job_id + '"]');
    if (!row) {
      if (!template || scope !== "all" || FINAL.includes(job.status)) return;
      row = template.cloneNode(true);
      row.dataset.jobId = job.job_id;
      const link = row.querySelector("a");
      link.href = "/jobs/" + job.job_id + "/";
      link.textContent = job.kind;
      row.querySelector("form").action = "/jobs/" + job.job_id + "/cancel/";
      body.prepend(row);
    }
    const percent = job.percent === null ? 0 : job.percent;
    row.querySelector('[data-field="bar"]').style.width = percent + "%";
    text(row, "status", job.status);
    row.querySelector('[data-field="status"]').className = "badge " + job.status.toLowerCase();
    text(row, "percent", job.percent === null ? "" : job.percent.toFixed(1) + "%");
    text(row, "phase", job.phase);
    text(row, "counts", job.total ? job.current + "/" + job.total : (job.current ? String(job.current) : ""));
    text(row, "eta", job.eta_seconds ? "ETA " + Math.round(job.eta_seconds) + " s" : "");
    text(row, "message", job.message);
    const cancel = row.querySelector('[data-field="cancel"]');
    if (cancel) cancel.hidden = FINAL.includes(job.status);
    if (scope !== "all") {
      const result = document.querySelector('[data-detail="result"]');
      if (result) result.textContent = job.result ? JSON.stringify(job.result, null, 2) : "—";
      const error = document.querySelector('[data-detail="error"]');
      if (error) error.textContent = job.error || "—";
    }
    const empty = document.querySelector("[data-empty]");
    if (empty) empty.hidden = body.querySelector("tr") !== null;
  }

  function connect() {
    const path = scope === "all" ? "/ws/jobs/" : "/ws/jobs/" + scope + "/";
    const socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + path);
    socket.onopen = function () {
      delay = 1000;
      if (state) state.textContent = "live";
    };
    socket.onmessage = function (event) {
      const message = JSON.parse(event.data);
      if (message.type === "jobs.snapshot") message.jobs.forEach(render);
      else if (message.job) render(message.job);
    };
    socket.onclose = function (event) {
      if (state) state.textContent = event.code === 4401 ? "log in again for live updates" : "reconnecting…";
      if (event.code === 4401 || event.code === 4404) return;
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  connect();
})();
