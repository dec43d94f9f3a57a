// Live job progress over the websocket: /ws/jobs/ on the jobs page, /ws/jobs/<id>/ on a job's page.
// Every message carries a whole job status, so the page is always re-rendered from what arrives; after a
// reconnect (with backoff) the snapshot the server sends first brings every row up to date. When a job's page
// sees its job end, it reloads the part below the progress (result, files) from the server, once.
(function () {
  "use strict";
  // The bars as the server drew them (a width from data-percent: the page's policy allows no inline style).
  document.querySelectorAll('[data-field="bar"][data-percent]').forEach(function (bar) {
    bar.style.width = bar.dataset.percent + "%";
  });
  const live = document.querySelector("[data-live]");
  if (!live) return;
  const scope = live.dataset.live;
  const holder = live.tagName === "TABLE" ? live.tBodies[0] : live; // a list's rows, or a job's page
  const state = document.getElementById("live-state");
  const FINAL = ["SUCCESS", "FAILURE", "CANCELLED"];
  const PHASES = {
    scan: "listing files", analyze: "analyzing", plan: "planning", execute: "organizing",
    thumbnails: "making thumbnails", duplicates: "finding duplicates", rollback: "rolling back", done: "done",
  };
  const blank = document.getElementById("job-row");
  const template = blank ? blank.content.querySelector("tr") : null;
  let delay = 1000;

  function text(row, field, value) {
    row.querySelectorAll('[data-field="' + field + '"]').forEach(function (node) { node.textContent = value; });
  }

  // The same words as jobs.pages.duration_words.
  function words(seconds) {
    if (seconds < 1) return "under 1 s";
    if (seconds < 10) return seconds.toFixed(1) + " s";
    const whole = Math.round(seconds);
    const units = [[86400, "d", 3600, "h"], [3600, "h", 60, "min"], [60, "min", 1, "s"]];
    for (const [big, bigUnit, small, smallUnit] of units) {
      if (whole >= big) {
        const rest = Math.floor((whole % big) / small);
        return Math.floor(whole / big) + " " + bigUnit + (rest ? " " + rest + " " + smallUnit : "");
      }
    }
    return whole + " s";
  }

  function since(iso) {
    return (Date.now() - Date.parse(iso)) / 1000;
  }

  // The same as jobs.pages.job_duration, from the row's data attributes.
  function duration(data) {
    const final = FINAL.includes(data.status);
    if (!data.started) return final ? "never started" : "waiting for " + words(since(data.created));
    if (!data.finished) return final ? "" : "running for " + words(since(data.started));
    return words((Date.parse(data.finished) - Date.parse(data.started)) / 1000);
  }

  function tick() {
    holder.querySelectorAll("[data-job-id]").forEach(function (row) {
      if (row.dataset.created) text(row, "duration", duration(row.dataset));
    });
  }

  function number(value) {
    return value.toLocaleString("en-US");
  }

  // A row the server has not rendered (a job submitted since): its blank copy, then the server's row.
  function newRow(job) {
    const row = template.cloneNode(true);
    row.dataset.jobId = job.job_id;
    const link = row.querySelector("a");
    link.href = "/jobs/" + job.job_id + "/";
    link.textContent = job.kind.charAt(0).toUpperCase() + job.kind.slice(1);
    row.querySelector("form").action = "/jobs/" + job.job_id + "/cancel/";
    holder.prepend(row);
    fetch("/jobs/" + job.job_id + "/?part=row", { credentials: "same-origin" })
      .then(function (response) { return response.ok && !response.redirected ? response.text() : ""; })
      .then(function (html) {
        const title = new DOMParser().parseFromString("<table>" + html + "</table>", "text/html")
          .querySelector('[data-field="title"]');
        if (title) row.querySelector('[data-field="title"]').textContent = title.textContent;
      });
    return row;
  }

  // A job's page: the part below the progress, as the server renders it now that the job has ended.
  function reloadBody() {
    const body = document.getElementById("job-body");
    if (!body) return;
    const url = new URL(location.href);
    url.searchParams.set("part", "body");
    fetch(url, { credentials: "same-origin" })
      .then(function (response) { return response.ok && !response.redirected ? response.text() : null; })
      .then(function (html) {
        if (html === null) return;
        body.innerHTML = html;
        tick();
      });
  }

  function render(job, mine) {
    let row = holder.querySelector('[data-job-id="' + job.job_id + '"]');
    if (!row) {
      if (!template || scope !== "all" || FINAL.includes(job.status)) return;
      row = newRow(job);
    }
    const ended = FINAL.includes(job.status) && !FINAL.includes(row.dataset.status || "");
    if (ended && mine) tell(job);
    Object.assign(row.dataset, {
      status: job.status, created: job.created_at || "", started: job.started_at || "", finished: job.finished_at || "",
    });
    const percent = job.percent === null ? 0 : job.percent;
    row.querySelector('[data-field="bar"]').style.width = percent + "%";
    text(row, "status", job.status);
    row.querySelectorAll('[data-field="status"]').forEach(function (node) {
      node.className = "badge " + job.status.toLowerCase();
    });
    text(row, "percent", job.percent === null ? "" : job.percent.toFixed(1) + "%");
    const running = !FINAL.includes(job.status);
    text(row, "phase", running ? PHASES[job.phase] || job.phase : "");
    text(row, "counts", job.total ? number(job.current) + " of " + number(job.total) : (job.current ? number(job.current) : ""));
    text(row, "eta", job.eta_seconds && running ? "about " + words(job.eta_seconds) + " left" : "");
    text(row, "message", running ? job.message : "");
    text(row, "duration", duration(row.dataset));
    row.querySelectorAll('[data-field="cancel"]').forEach(function (cancel) { cancel.hidden = !running; });
    if (scope !== "all" && ended) reloadBody();
    const empty = document.querySelector("[data-empty]");
    if (empty) empty.hidden = holder.querySelector("[data-job-id]") !== null;
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
      if (message.type === "jobs.snapshot") message.jobs.forEach(function (job) { render(job, false); });
      else if (message.job) render(message.job, message.mine);
    };
    socket.onclose = function (event) {
      if (state) state.textContent = event.code === 4401 ? "log in again for live updates" : "reconnecting…";
      if (event.code === 4401 || event.code === 4404) return;
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  // Browser notifications for the user's own jobs, asked for on a click and remembered in this browser; shown only
  // while the tab is in the background (in front, the page itself shows the end).
  const KIND = { analyze: "Analyze", organize: "Organize", thumbnails: "Thumbnails", duplicates: "Duplicates" };
  const ENDED = { SUCCESS: "finished", FAILURE: "failed", CANCELLED: "was cancelled" };
  const notifyButton = document.querySelector("[data-notify]");
  const notifyState = document.querySelector("[data-notify-state]");
  function notifying() {
    return "Notification" in window && Notification.permission === "granted" && localStorage.getItem("vam-notify") === "on";
  }
  function showNotifyState() {
    if (!notifyButton) return;
    if (!("Notification" in window)) {
      notifyButton.hidden = true;
      return;
    }
    notifyButton.hidden = false;
    const blocked = Notification.permission === "denied";
    notifyButton.disabled = blocked;
    notifyButton.textContent = notifying() ? "Stop notifying me" : "Notify me when my jobs end";
    if (notifyState) {
      notifyState.textContent = blocked ? "Notifications are blocked for this site in the browser's settings."
        : notifying() ? "This browser tells you when one of your jobs ends while this tab is in the background." : "";
    }
  }
  function tell(job) {
    if (!notifying() || !document.hidden) return;
    const title = (KIND[job.kind] || job.kind) + " " + (ENDED[job.status] || job.status.toLowerCase());
    const note = new Notification("VAM: " + title, { body: job.error || job.message || "", tag: job.job_id });
    note.onclick = function () {
      window.focus();
      location.href = "/jobs/" + job.job_id + "/";
    };
  }
  if (notifyButton) {
    notifyButton.addEventListener("click", function () {
      if (notifying()) {
        localStorage.removeItem("vam-notify");
        showNotifyState();
        return;
      }
      Notification.requestPermission().then(function (answer) {
        if (answer === "granted") localStorage.setItem("vam-notify", "on");
        showNotifyState();
      });
    });
    showNotifyState();
  }
  // A form that asks first (a rollback): its question, asked here since the page allows no inline script.
  document.addEventListener("submit", function (event) {
    const form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });
  tick();
  setInterval(tick, 1000);
  connect();
})();
