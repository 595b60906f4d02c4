// Team lead's wallboard and report charts. Plain JS, no libraries, no polling:
// figures arrive over the console's WebSocket (wallboard_snapshot, wallboard_update, alert).
"use strict";
(() => {
  const SVG = "http://www.w3.org/2000/svg";
  const i18n = document.getElementById("lead-i18n");
  const T = i18n ? JSON.parse(i18n.textContent) : {};
  function t(key, fallback, values) {
    let text = T[key] || fallback || key;
    if (values) for (const k of Object.keys(values)) text = text.split("{" + k + "}").join(values[k]);
    return text;
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svgEl(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }

  function pct(v) { return v === null || v === undefined ? "–" : `${Math.round(v * 100)}%`; }
  function secs(v) {
    if (v === null || v === undefined) return "–";
    const s = Math.max(0, Math.round(v));
    return s < 60 ? `${s}s` : `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }
  function level(v, good, warn, higherIsBetter) {
    if (v === null || v === undefined) return "lvl-none";
    if (higherIsBetter) return v >= good ? "lvl-good" : v >= warn ? "lvl-warn" : "lvl-bad";
    return v <= good ? "lvl-good" : v <= warn ? "lvl-warn" : "lvl-bad";
  }

  // Bars of the day per hour: offered (grey), answered (green), abandoned (red).
  // The SVG stretches to its box (no text inside it); hour/day labels are HTML below.
  function barChart(series, labels, height) {
    const w = 12 * series.length, h = height;
    const max = Math.max(1, ...series.map((s) => s[0]));
    const box = el("div", { class: "chart-box" });
    const svg = svgEl("svg", { viewBox: `0 0 ${w} ${h}`, preserveAspectRatio: "none", class: "chart", role: "img" });
    series.forEach((s, i) => {
      const x = i * 12;
      const hOff = (s[0] / max) * h, hAns = (s[1] / max) * h, hAb = (s[2] / max) * h;
      svg.appendChild(svgEl("rect", { x: x + 1, y: h - hOff, width: 10, height: hOff, class: "bar-off" }));
      svg.appendChild(svgEl("rect", { x: x + 2, y: h - hAns, width: 4, height: hAns, class: "bar-ans" }));
      svg.appendChild(svgEl("rect", { x: x + 6, y: h - hAb, width: 4, height: hAb, class: "bar-ab" }));
    });
    box.appendChild(svg);
    const axis = el("div", { class: "chart-axis" });
    for (const label of labels) axis.appendChild(el("span", {}, label));
    box.appendChild(axis);
    return box;
  }

  // --- wallboard -------------------------------------------------------------------------
  const board = document.getElementById("wallboard");
  if (board) {
    const csrf = document.querySelector('meta[name="csrf-token"]').content;
    const state = { board: null, receivedAt: Date.now(), alerts: [] };
    const status = document.getElementById("wb-status");
    const message = document.getElementById("wb-message");

    function tile(label, value, cls) {
      const box = el("div", { class: `tile ${cls || ""}` });
      box.appendChild(el("div", { class: "tile-value" }, value));
      box.appendChild(el("div", { class: "tile-label" }, label));
      return box;
    }

    function renderQueues(b) {
      const root = document.getElementById("wb-queues");
      root.replaceChildren();
      for (const q of b.queues) {
        if (q.name === "-" && q.offered === 0 && q.callbacks_due === 0) continue;
        const card = el("article", { class: "queue", "data-queue": q.name });
        card.appendChild(el("h2", {}, q.name === "-" ? t("lead.no_queue") : q.name));
        const tiles = el("div", { class: "tiles" });
        tiles.appendChild(tile(t("lead.tile.waiting"), q.waiting, q.waiting > 3 ? "lvl-bad" : q.waiting > 0 ? "lvl-warn" : "lvl-good"));
        tiles.appendChild(tile(t("lead.tile.longest_wait"), secs(q.longest_wait_seconds), level(q.longest_wait_seconds, 20, 60, false)));
        tiles.appendChild(tile(t("lead.tile.service_level", "service level {s}s", { s: b.service_level_seconds }), pct(q.service_level), level(q.service_level, 0.8, 0.6, true)));
        tiles.appendChild(tile(t("lead.tile.within_3_rings"), pct(q.within_3_rings), level(q.within_3_rings, 0.95, 0.85, true)));
        tiles.appendChild(tile(t("lead.tile.offered"), q.offered));
        tiles.appendChild(tile(t("lead.tile.answered"), q.answered));
        tiles.appendChild(tile(t("lead.tile.abandoned"), q.abandoned, level(q.abandon_rate, 0.05, 0.1, false)));
        tiles.appendChild(tile(t("lead.tile.asa"), secs(q.asa_seconds), level(q.asa_seconds, 15, 30, false)));
        tiles.appendChild(tile(t("lead.tile.aht"), secs(q.aht_seconds)));
        tiles.appendChild(tile(t("lead.tile.callbacks_due"), q.callbacks_due, q.callbacks_overdue > 0 ? "lvl-bad" : "lvl-none"));
        tiles.appendChild(tile(t("lead.tile.overdue"), q.callbacks_overdue, q.callbacks_overdue > 0 ? "lvl-bad" : "lvl-good"));
        card.appendChild(tiles);
        const labels = q.hourly.map((_, i) => (i % 3 === 0 ? `${i}h` : ""));
        card.appendChild(barChart(q.hourly, labels, 40));
        root.appendChild(card);
      }
      if (!root.children.length) root.appendChild(el("p", { class: "empty" }, "No calls yet today."));
    }

    function actionButton(label, member, path, body) {
      const b = el("button", { type: "button", class: "act", "data-member": member, "data-path": path }, label);
      b.addEventListener("click", () => act(member, path, body, label));
      return b;
    }

    async function act(member, path, body, label) {
      const what = label || path;
      message.textContent = `${what} ${member}…`;
      try {
        const res = await fetch(`/api/agents/${encodeURIComponent(member)}/${path}`, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
          body: JSON.stringify(body || {}),
        });
        const data = await res.json().catch(() => ({}));
        message.textContent = res.ok
          ? t("lead.act.done", "{what} {who}: done", { what, who: member })
          : t("lead.act.failed", "{what} {who}: {why}", { what, who: member, why: window.problemText(data, String(res.status)) });
      } catch (err) {
        message.textContent = t("lead.act.failed", "{what} {who}: {why}", { what, who: member, why: String(err) });
      }
    }

    function renderAgents(b) {
      const body = document.querySelector("#wb-agents tbody");
      body.replaceChildren();
      const extra = (Date.now() - state.receivedAt) / 1000;
      for (const a of b.agents) {
        const tr = el("tr", { class: `st-${a.status}`, "data-agent": a.name });
        const who = el("td", {}, a.display_name);
        if (a.display_name !== a.name) who.appendChild(el("small", {}, ` ${a.name}`));
        tr.appendChild(who);
        const st = el("td", {});
        st.appendChild(el("span", { class: `badge st-${a.status}` }, t("state." + a.status, a.status.replace("_", " "))));
        if (a.pause_reason) st.appendChild(el("small", {}, ` ${t("reason." + a.pause_reason, a.pause_reason)}`));
        tr.appendChild(st);
        const inState = a.seconds_in_state === null ? null : a.seconds_in_state + extra;
        tr.appendChild(el("td", { class: "num" }, secs(inState)));
        tr.appendChild(el("td", {}, a.call ? `${a.call.customer || t("lead.call")} · ${secs((a.call.seconds || 0) + extra)}` : ""));
        tr.appendChild(el("td", { class: "num" }, a.calls_today));
        tr.appendChild(el("td", { class: `num ${a.missed_today > 0 ? "lvl-bad" : ""}` }, a.missed_today));
        const acts = el("td", { class: "acts" });
        if (a.call) {
          for (const mode of ["listen", "whisper", "barge"]) acts.appendChild(actionButton(t("lead.act." + mode), a.name, "spy", { mode }));
        }
        if (a.status !== "logged_out") {
          acts.appendChild(a.paused ? actionButton(t("lead.act.resume"), a.name, "resume") : actionButton(t("lead.act.pause"), a.name, "pause", { reason: "supervisor" }));
          acts.appendChild(actionButton(t("lead.act.logout"), a.name, "logout"));
        }
        tr.appendChild(acts);
        body.appendChild(tr);
      }
    }

    function renderAlerts() {
      const list = document.getElementById("wb-alerts");
      list.replaceChildren();
      for (const al of state.alerts.slice(-30).reverse()) {
        const li = el("li", { class: `alert al-${al.kind}` });
        li.appendChild(el("time", {}, new Date(al.at).toLocaleTimeString()));
        li.appendChild(el("span", { class: "al-kind" }, t("lead.alert." + al.kind, al.kind.replace(/_/g, " "))));
        li.appendChild(el("span", {}, t("lead.alertmsg." + al.kind, al.message, al.values)));
        list.appendChild(li);
      }
    }

    // a component down (the CRM database, Redis, the PBX link): said plainly at the top,
    // with what it means for the records (buffered, written when it is back)
    function renderOutages(b) {
      const banner = document.getElementById("wb-banner");
      const outages = b.outages || [];
      banner.hidden = outages.length === 0;
      banner.replaceChildren(...outages.map((o) => el("p", {},
        t("lead.outage." + o.component, t("lead.outage.other", "", { name: o.component }), {
          since: new Date(o.since).toLocaleTimeString(), detail: o.detail,
        }))));
    }

    function render() {
      if (!state.board) return;
      renderOutages(state.board);
      renderQueues(state.board);
      renderAgents(state.board);
      renderAlerts();
    }

    function accept(b) {
      state.board = b;
      state.receivedAt = Date.now();
      state.alerts = b.alerts.slice();
      render();
    }

    function connect() {
      const proto = location.protocol === "https:" ? "wss:" : "ws:";
      const socket = new WebSocket(`${proto}//${location.host}/ws?batch=1`);
      socket.addEventListener("open", () => {
        status.textContent = t("lead.live");
        status.className = "wb-status wb-on";
      });
      socket.addEventListener("message", (ev) => {
        const data = JSON.parse(ev.data);
        for (const msg of Array.isArray(data) ? data : [data]) {
          if (msg.type === "snapshot") socket.send(JSON.stringify({ type: "wallboard_subscribe" }));
          else if (msg.type === "wallboard_snapshot" || msg.type === "wallboard_update") accept(msg.board);
          else if (msg.type === "alert") {
            state.alerts.push(msg.alert);
            renderAlerts();
            board.classList.add("flash");
            setTimeout(() => board.classList.remove("flash"), 1500);
          }
        }
      });
      socket.addEventListener("close", (ev) => {
        status.textContent = t("lead.reconnecting");
        status.className = "wb-status wb-off";
        if (ev.code === 4001) { window.location.href = "/login"; return; }
        setTimeout(connect, 2000);
      });
    }

    const clock = document.getElementById("wb-clock");
    setInterval(() => {
      clock.textContent = new Date().toLocaleTimeString();
      if (state.board) renderAgents(state.board);
    }, 1000);
    connect();
  }

  // --- report page chart ---------------------------------------------------------------------
  const data = document.getElementById("rp-data");
  const chart = document.getElementById("rp-chart");
  if (data && chart) {
    const report = JSON.parse(data.textContent);
    // a year in 365 hair-thin bars says nothing: the annual chart has a bar a month
    const buckets = new Map();
    for (const d of report.days) {
      const key = report.period === "annual" ? d.day.slice(0, 7) : d.day;
      const sum = buckets.get(key) || [0, 0, 0];
      buckets.set(key, [sum[0] + d.calls_in, sum[1] + d.answered, sum[2] + d.abandoned]);
    }
    const keys = [...buckets.keys()];
    const series = keys.map((k) => buckets.get(k));
    const step = Math.max(1, Math.ceil(series.length / 12));
    const labels = keys.map((k, i) => (i % step === 0 ? k.slice(5) : ""));
    if (series.length) chart.appendChild(barChart(series, labels, 60));
    else chart.appendChild(el("p", { class: "empty" }, t("lead.chart.empty")));
  }
})();
