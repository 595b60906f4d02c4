// Operator's campaign page: create, load contacts (row report), start/pause/stop, watch
// progress. Plain JS; progress is re-read every 5 s (a campaign runs for hours).
"use strict";
(() => {
  const T = JSON.parse(document.getElementById("lead-i18n").textContent);
  const t = (key, values) => {
    let text = T[key] || key;
    if (values) for (const k of Object.keys(values)) text = text.split("{" + k + "}").join(values[k]);
    return text;
  };
  // the API's rejections are code + params, rendered in the page's language (problems.js)
  const problem = (code, params, fallback) => window.problemText({ code, params }, "") || fallback;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (sel, root) => (root || document).querySelector(sel);
  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  const pct = (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)}%`);

  // the create form's Idempotency-Key: the same for every submit of this form until one
  // succeeds, so a double-click on 创建 creates one campaign (CONTRACTS.md)
  function newKey() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  let createKey = newKey();

  async function api(method, path, body, raw, key) {
    const headers = raw ? { "X-CSRF-Token": csrf, "Content-Type": "text/csv" } : { "X-CSRF-Token": csrf, "Content-Type": "application/json" };
    if (key) headers["Idempotency-Key"] = key;
    const res = await fetch(path, {
      method,
      headers,
      body: raw || (body === undefined ? undefined : JSON.stringify(body)),
      credentials: "same-origin",
    });
    if (res.status === 401) { window.location.href = "/login"; throw new Error("signed out"); }
    const data = (res.headers.get("Content-Type") || "").includes("json") ? await res.json() : {};
    if (!res.ok) throw new Error(window.problemText(data, res.statusText));
    return data;
  }
  function status(text, bad) {
    const box = $("#cp-status");
    box.textContent = text;
    box.className = "wb-status " + (bad ? "wb-off" : "wb-on");
  }

  const ACTIONS = { draft: ["start", "stop"], running: ["pause", "stop"], paused: ["start", "stop"], stopped: [], finished: [] };
  let uploadFor = null;

  async function refresh() {
    try {
      const { campaigns } = await api("GET", "/api/campaigns");
      const results = await Promise.all(campaigns.map((c) => api("GET", `/api/campaigns/${c.id}/results`)));
      const body = $("#cp-table tbody");
      body.replaceChildren();
      campaigns.forEach((c, i) => {
        const r = results[i];
        const tr = el("tr", { "data-id": c.id, "data-status": c.status });
        const cells = [c.name, t("camp.mode." + c.mode), t("camp.status." + c.status), c.queue || "–",
          r.contacts, r.dialled, r.reached, pct(r.abandon_rate), pct(r.occupancy), r.attempts_left];
        for (const v of cells) tr.append(el("td", {}, v));
        if (c.wait) {
          // running, but dialing no one: say why and when it starts (campaign's time zone)
          const hint = el("small", { class: "cp-wait", "data-wait": c.wait.reason },
            t("camp.wait." + c.wait.reason, { time: c.wait.until_local, timezone: c.wait.timezone }));
          tr.children[2].append(el("br"), hint);
          tr.dataset.waiting = c.wait.reason;
        }
        const rate = tr.children[7];
        if (r.abandon_rate !== null && r.abandon_rate > 0.03) rate.className = "lvl-bad";
        const acts = el("td", { class: "cp-actions" });
        for (const a of ACTIONS[c.status] || []) {
          const b = el("button", { type: "button", "data-action": a }, t("camp.do." + a));
          b.addEventListener("click", () => act(c.id, a));
          acts.append(b);
        }
        if (c.status !== "stopped" && c.status !== "finished") {
          const up = el("button", { type: "button", "data-action": "upload" }, t("camp.upload"));
          up.addEventListener("click", () => { uploadFor = c.id; $("#cp-file").click(); });
          acts.append(up);
        }
        acts.append(el("a", { href: `/api/campaigns/${c.id}/results?format=csv` }, "CSV"));
        tr.append(acts);
        body.append(tr);
      });
      $("#cp-empty").hidden = campaigns.length > 0;
      status(t("camp.updated", { time: new Date().toLocaleTimeString() }));
    } catch (err) { status(err.message, true); }
  }

  async function act(id, action) {
    try { await api("POST", `/api/campaigns/${id}/${action}`); await refresh(); }
    catch (err) { status(err.message, true); }
  }

  $("#cp-file").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    e.target.value = "";
    if (!file || uploadFor === null) return;
    try {
      const report = await api("POST", `/api/campaigns/${uploadFor}/contacts`, undefined, await file.arrayBuffer());
      showReport(report);
      await refresh();
    } catch (err) { status(err.message, true); }
  });

  function showReport(report) {
    const box = $("#cp-report");
    box.hidden = false;
    $(".cp-report-summary", box).textContent = t("camp.import.summary", {
      accepted: report.accepted, merged: report.merged, rejected: report.rejected.length, encoding: report.encoding,
    });
    const body = $(".cp-rejected tbody", box);
    body.replaceChildren(...report.rejected.map((r) => {
      const tr = el("tr");
      const reason = problem(r.code, r.params, t("camp.reject." + r.reason, r.params || {}));
      // the English technical detail stays out of the text, as the cell's tooltip
      tr.append(el("td", {}, r.row), el("td", { title: r.detail || "", "data-code": r.code || "" }, reason));
      return tr;
    }));
  }

  $("#cp-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target.elements;
    const body = {
      name: f.name.value.trim(), queue: f.queue.value, mode: f.mode.value,
      calling_hours_start: f.calling_hours_start.value, calling_hours_end: f.calling_hours_end.value,
      timezone: f.timezone.value.trim(), max_attempts: Number(f.max_attempts.value),
      retry_busy_minutes: Number(f.retry_busy_minutes.value), retry_no_answer_minutes: Number(f.retry_no_answer_minutes.value),
      retry_failed_minutes: Number(f.retry_failed_minutes.value), caller_id: f.caller_id.value.trim(),
      dispositions: f.dispositions.value.split(",").map((s) => s.trim()).filter(Boolean), script: f.script.value,
    };
    try {
      await api("POST", "/api/campaigns", body, undefined, createKey);
      createKey = newKey();
      e.target.reset();
      await refresh();
      status(t("camp.created"));
    } catch (err) { status(err.message, true); }
  });

  refresh();
  setInterval(refresh, 5000);
})();
