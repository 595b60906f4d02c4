// Agent console: plain JavaScript, no build step. All data is put on the page with
// textContent, never innerHTML, because caller names come from the phone network.
"use strict";

(function () {
  const boot = JSON.parse(document.getElementById("boot").textContent);
  const T = boot.i18n;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (sel, root) => (root || document).querySelector(sel);

  function t(key, values) {
    let text = T[key] || key;
    if (values) for (const k of Object.keys(values)) text = text.split("{" + k + "}").join(values[k]);
    return text;
  }

  // a text the server sends as a message code and its parameters (error_catalogue.py):
  // rendered with the catalogue's texts of the user's language (boot.problems)
  function problem(code, params) {
    const text = (boot.problems || {})[code];
    if (!text) return code;
    return text.replace(/\{(\w+)\}/g, (m, k) => (params && k in params ? String(params[k]) : m));
  }
  // a callback's question: the rules' reasons come as codes, an agent's own words as text
  const questionOf = (cb) => (cb.question_code ? problem(cb.question_code, cb.question_params) : cb.question || "");

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    if (attrs) for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) if (c != null) node.append(c);
    return node;
  }

  // --- REST ---------------------------------------------------------------------------
  // One Idempotency-Key per user action: a double-click or a retry of the same action
  // sends the same key, so the server does it once (CONTRACTS.md); a new key after the
  // action succeeded or after `ttl` ms.
  const actionKeys = new Map();
  function newKey() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));  // also on plain http
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  function actionKey(action, ttl = 15000) {
    let entry = actionKeys.get(action);
    if (!entry || Date.now() - entry.at > ttl) {
      entry = { key: newKey(), at: Date.now() };
      actionKeys.set(action, entry);
    }
    return entry.key;
  }
  function actionDone(action) { actionKeys.delete(action); }

  async function api(method, path, body, key) {
    const headers = { "Content-Type": "application/json", "X-CSRF-Token": csrf };
    if (key) headers["Idempotency-Key"] = key;
    const res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
    if (res.status === 401) { window.location.href = "/login"; throw new Error("signed out"); }
    const data = res.headers.get("Content-Type", "").includes("json") ? await res.json() : {};
    if (!res.ok) {
      const err = new Error(window.problemText(data, res.statusText));
      err.errorId = data.error_id;
      throw err;
    }
    return data;
  }

  function toast(text, bad) {
    const box = $("#toast");
    box.textContent = text;
    box.className = "toast show" + (bad ? " bad" : "");
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.className = "toast"; }, 3500);
  }

  const fail = (err) => toast(t("error.generic", { message: err.message }), true);

  // --- time -----------------------------------------------------------------------------
  let clockSkew = 0; // server now - local now, ms
  const now = () => Date.now() + clockSkew;
  function duration(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const mm = String(m).padStart(2, "0"), rr = String(r).padStart(2, "0");
    return h ? `${h}:${mm}:${rr}` : `${mm}:${rr}`;
  }
  const fmtTime = (iso) => iso ? new Date(iso).toLocaleString(boot.lang, { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" }) : "";

  // --- agent state ----------------------------------------------------------------------
  const reasonSelect = $("#pause-reason");
  for (const r of boot.pause_reasons) reasonSelect.append(el("option", { value: r, text: t("reason." + r) }));

  function showState(st) {
    const pill = $("#state-pill");
    pill.dataset.status = st.status;
    pill.textContent = t("state." + st.status) + (st.paused && st.reason ? " · " + t("reason." + st.reason) : "");
    $("#state-queues").textContent = st.queues && st.queues.length ? st.queues.join(" · ") : "";
    $("#state-since").dataset.since = st.since || "";
    const out = st.status === "logged_out";
    $("#btn-sign-in").hidden = !out || !boot.me.has_phone;
    $("#btn-sign-out").hidden = out;
    $("#pause-group").hidden = out || st.paused;
    $("#btn-resume").hidden = out || !st.paused;
  }

  function stateAction(action, extra) {
    return () => api("POST", "/api/agent/state", Object.assign({ action }, extra ? extra() : {}))
      .then(showState).catch(fail);
  }
  $("#btn-sign-in").addEventListener("click", stateAction("sign_in"));
  $("#btn-sign-out").addEventListener("click", stateAction("sign_out"));
  $("#btn-resume").addEventListener("click", stateAction("resume"));
  $("#btn-pause").addEventListener("click", stateAction("pause", () => ({ reason: reasonSelect.value })));
  $("#language").addEventListener("change", (e) => e.target.form.submit());

  // --- call cards -------------------------------------------------------------------------
  const cards = new Map(); // call_id -> {node, data}
  const ACTIVE = new Set(["ringing", "talking", "held"]);

  function stateLabel(state) {
    const key = { ringing: "call.ringing", talking: "call.talking", held: "call.held", transferred: "call.transferred",
      ended: "call.ended", abandoned: "call.abandoned" }[state];
    return key ? t(key) : state;
  }

  function renderCustomer(card, data) {
    const view = $(".customer-view", card.node);
    const form = $(".customer-form", card.node);
    view.replaceChildren();
    const c = data.customer;
    $(".vip", card.node).hidden = !(c && c.vip_level > 0);
    if (c) {
      $(".vip", card.node).textContent = "VIP " + c.vip_level;
      $(".caller-name", card.node).textContent = c.name || data.caller_name || data.caller_number;
      const dl = el("dl", { class: "facts" });
      const add = (k, v) => { if (v) dl.append(el("dt", { text: t(k) }), el("dd", { text: v })); };
      add("customer.name", c.name);
      add("customer.company", c.company);
      add("customer.title_field", c.title);
      add("customer.notes", c.notes);
      view.append(dl);
      const phones = el("ul", { class: "phones" });
      for (const p of c.phones || []) {
        phones.append(el("li", null, el("span", { class: "mono", text: p.raw || p.e164 }), " ",
          el("button", { class: "btn tiny", type: "button", text: t("customer.dial"),
            onclick: () => dial(p.e164 || p.raw, c.id) })));
      }
      view.append(el("div", { class: "label", text: t("customer.phones") }), phones);
      view.append(el("button", { class: "btn tiny ghost", type: "button", text: t("customer.edit"),
        onclick: () => { form.hidden = !form.hidden; } }));
      fillForm(form, c, data.caller_number);
      form.hidden = true;
    } else if (data.details || data.customer_known === false) {
      view.append(el("div", { class: "new-customer", text: t("customer.new") }),
        el("p", { class: "muted", text: t("customer.unknown") }));
      fillForm(form, { name: data.caller_name || "" }, data.caller_number);
      form.hidden = false;
    } else {
      view.append(el("p", { class: "muted", text: t("customer.loading") }));
    }
    const d = data.details || {};
    const lists = [
      [".last-calls", d.recent_calls, (x) => [fmtTime(x.started_at), t("outcome." + x.outcome), x.agent || "", x.disposition ? t("disp." + x.disposition) : "", x.notes || ""].filter(Boolean).join(" · "), "history.none"],
      [".open-cases", d.open_cases, (x) => `#${x.id} ${x.subject} (${x.status})`, "cases.none"],
      [".open-callbacks", d.open_callbacks, (x) => `${fmtTime(x.due_at)} · ${t("cb.reason." + x.reason)} · ${questionOf(x)}`, "callbacks.none"],
    ];
    for (const [sel, items, fmt, none] of lists) {
      const ul = $(sel, card.node);
      ul.replaceChildren();
      if (!items || !items.length) ul.append(el("li", { class: "muted", text: t(none) }));
      else for (const x of items) ul.append(el("li", { text: fmt(x) }));
    }
    showCampaign(card, d.campaign);
  }

  // a campaign call: its name, script and the contact's attempts; its own disposition codes
  function showCampaign(card, camp) {
    const box = $(".script.campaign", card.node);
    if (!camp || !box.hidden) return;
    box.hidden = false;
    $(".script.greeting", card.node).hidden = true; // the campaign's script opens this call
    $(".campaign-name", box).textContent = camp.name;
    $(".script-text", box).textContent = camp.script || "";
    if (camp.contact) {
      const last = camp.contact.last_result ? t("result." + camp.contact.last_result) : "—";
      $(".campaign-contact", box).textContent = t("campaign.contact", { n: camp.contact.attempts, last });
    }
    if (camp.dispositions && camp.dispositions.length) {
      const dispo = $('select[name="disposition"]', card.node);
      dispo.replaceChildren(...camp.dispositions.map((c) => el("option", { value: c, text: t("disp." + c) })));
    }
    $(".opt-campaign", card.node).hidden = false;
    $(".opt-satisfaction", card.node).hidden = camp.kind !== "follow_up";
  }

  function fillForm(form, c, phone) {
    form.elements.name.value = c.name || "";
    form.elements.company.value = c.company || "";
    form.elements.title.value = c.title || "";
    form.elements.vip_level.value = String(c.vip_level || 0);
    form.elements.notes.value = c.notes || "";
    form.elements.phone.value = phone || "";
  }

  function renderCard(card) {
    const d = card.data;
    const n = card.node;
    if (!d.customer) $(".caller-name", n).textContent = d.caller_name || d.caller_number || "—";
    $(".caller-number", n).textContent = d.caller_number || "";
    $(".caller-queue", n).textContent = d.queue || "";
    const badge = $(".state-badge", n);
    badge.textContent = (d.waiting && d.state === "ringing" ? t("call.waiting") + " · " : "") + stateLabel(d.state);
    badge.dataset.state = d.state;
    n.dataset.state = d.state;
    $(".act-hold", n).textContent = d.state === "held" ? t("call.unhold") : t("call.hold");
    $(".call-actions", n).hidden = !(d.state === "talking" || d.state === "held");
    $(".act-close", n).hidden = ACTIVE.has(d.state);
    $("form.wrapup", n).hidden = d.state === "ringing";
    renderCustomer(card, d);
    tick();
  }

  function makeCard(data) {
    const node = document.importNode($("#tpl-card").content, true).firstElementChild;
    node.dataset.callId = data.call_id;
    $(".greeting .script-text", node).textContent = t("greeting", { company: boot.company });
    $(".closing .script-text", node).textContent = t("closing", { company: boot.company });
    const dispo = $('select[name="disposition"]', node);
    for (const d of boot.dispositions) dispo.append(el("option", { value: d, text: t("disp." + d) }));
    const dept = $('select[name="department"]', node);
    for (const d of boot.departments) dept.append(el("option", { value: d, text: t("dept." + d) }));
    const form = $("form.wrapup", node);
    const at = new Date(now() + boot.callback_minutes * 60000);
    form.elements.callback_at.value = new Date(at.getTime() - at.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
    form.addEventListener("change", () => {
      const r = form.elements.result.value;
      $(".opt-callback", node).hidden = r !== "callback";
      $(".opt-escalate", node).hidden = r !== "escalate";
    });
    form.addEventListener("submit", (e) => { e.preventDefault(); saveWrapup(data.call_id, form); });
    $(".act-close", node).addEventListener("click", () => api("POST", `/api/calls/${encodeURIComponent(data.call_id)}/dismiss`).catch(fail));
    $(".act-hold", node).addEventListener("click", () => {
      const card = cards.get(data.call_id);
      api("POST", `/api/calls/${encodeURIComponent(data.call_id)}/hold`, { hold: card.data.state !== "held" }).catch(fail);
    });
    $(".act-transfer", node).addEventListener("click", () => {
      const target = $(".transfer-target", node).value.trim();
      if (!target) return;
      api("POST", `/api/calls/${encodeURIComponent(data.call_id)}/transfer`, { target, kind: $(".transfer-kind", node).value }).catch(fail);
    });
    $(".customer-form", node).addEventListener("submit", (e) => { e.preventDefault(); saveCustomer(data.call_id, e.target); });
    return node;
  }

  function upsertCard(data) {
    let card = cards.get(data.call_id);
    if (!card) {
      card = { node: makeCard(data), data: {} };
      cards.set(data.call_id, card);
      const box = $("#calls");
      // the newest ringing call goes first unless another call is already in progress
      if (data.waiting) box.append(card.node); else box.prepend(card.node);
    }
    Object.assign(card.data, data);
    renderCard(card);
    $("#no-call").hidden = cards.size > 0;
    return card;
  }

  function removeCard(callId) {
    const card = cards.get(callId);
    if (card) { card.node.remove(); cards.delete(callId); }
    $("#no-call").hidden = cards.size > 0;
  }

  async function saveWrapup(callId, form) {
    const card = cards.get(callId);
    const result = form.elements.result.value;
    const body = {
      disposition: form.elements.disposition.value,
      notes: form.elements.notes.value,
      result,
      customer_id: card && card.data.customer ? card.data.customer.id : null,
      disposition_reason: form.elements.disposition_reason.value,
    };
    if (form.elements.satisfaction.value) body.satisfaction = Number(form.elements.satisfaction.value);
    if (result === "callback") body.callback_at = new Date(form.elements.callback_at.value).toISOString();
    if (result === "escalate") { body.escalate_to = form.elements.escalate_to.value; body.department = form.elements.department.value; }
    try {
      const action = "wrapup:" + callId;
      await api("POST", `/api/calls/${encodeURIComponent(callId)}/wrapup`, body, actionKey(action, 600000));
      actionDone(action);
      toast(t("wrapup.saved"));
      removeCard(callId);
      setTimeout(loadHistory, 600);
      loadCallbacks();
    } catch (err) { fail(err); }
  }

  async function saveCustomer(callId, form) {
    const card = cards.get(callId);
    const fields = { name: form.elements.name.value, company: form.elements.company.value,
      title: form.elements.title.value, vip_level: Number(form.elements.vip_level.value), notes: form.elements.notes.value };
    try {
      let customer;
      if (card.data.customer) {
        const phone = form.elements.phone.value.trim();
        const known = (card.data.customer.phones || []).some((p) => p.raw === phone || p.e164 === phone);
        customer = await api("PATCH", `/api/customers/${card.data.customer.id}`, Object.assign(fields, phone && !known ? { add_phones: [phone] } : {}));
      } else {
        customer = await api("POST", "/api/customers", Object.assign(fields, { phones: [form.elements.phone.value] }),
          actionKey("customer:" + form.elements.phone.value));
      }
      card.data.customer = customer;
      renderCard(card);
      toast(t("customer.saved"));
    } catch (err) { fail(err); }
  }

  function dial(number, customerId) {
    const status = $("#dial-status");
    status.textContent = t("dial.placing") + " " + number;
    api("POST", "/api/dial", { number, customer_id: customerId || null }, actionKey("dial:" + number, 5000))
      .catch((err) => { status.textContent = ""; fail(err); });
  }
  $("#dial-form").addEventListener("submit", (e) => { e.preventDefault(); const v = $("#dial-number").value.trim(); if (v) dial(v); });

  // --- preview dialing: read the next contact's card, then dial or skip --------------------
  let previewing = null;
  async function previewNext() {
    try {
      const res = await api("POST", "/api/campaigns/preview/next");
      previewing = res.contact ? res : null;
      renderPreview();
      $("#preview-status").textContent = res.contact ? "" : t("preview.none");
    } catch (err) { fail(err); }
  }
  function renderPreview() {
    const box = $("#preview-card");
    box.hidden = !previewing;
    if (!previewing) return;
    const { campaign, contact, card } = previewing;
    $(".preview-campaign", box).textContent = campaign ? campaign.name : "";
    $(".preview-name", box).textContent = (card.customer && card.customer.name) || contact.name || "—";
    $(".preview-phone", box).textContent = contact.phone;
    const last = contact.last_result ? t("result." + contact.last_result) : "—";
    $(".preview-meta", box).textContent = t("campaign.contact", { n: contact.attempts, last });
    $(".preview-script", box).textContent = campaign ? campaign.script || "" : "";
    const ul = $(".preview-history", box);
    ul.replaceChildren(...(card.recent_calls || []).slice(0, 3).map((x) =>
      el("li", { text: [fmtTime(x.started_at), t("outcome." + x.outcome), x.disposition ? t("disp." + x.disposition) : ""].filter(Boolean).join(" · ") })));
  }
  function previewPath(action) {
    return `/api/campaigns/${previewing.campaign.id}/contacts/${previewing.contact.id}/${action}`;
  }
  $("#btn-preview-next").addEventListener("click", previewNext);
  $("#btn-preview-dial").addEventListener("click", async () => {
    if (!previewing) return;
    try {
      await api("POST", previewPath("dial"), {});
      $("#preview-status").textContent = t("dial.placing") + " " + previewing.contact.phone;
      previewing = null;
      renderPreview();
    } catch (err) { fail(err); }
  });
  $("#btn-preview-skip").addEventListener("click", async () => {
    if (!previewing) return;
    try {
      await api("POST", previewPath("skip"), { reason: $("#preview-skip-reason").value });
      previewing = null;
      renderPreview();
      toast(t("preview.skipped"));
    } catch (err) { fail(err); }
  });

  // --- callbacks and history ----------------------------------------------------------------
  let callbacks = [];
  const attention = new Set(); // callbacks a reminder asked the agent to act on now

  async function loadCallbacks() {
    try {
      const data = await api("GET", "/api/callbacks?status=open");
      callbacks = data.callbacks;
      renderCallbacks();
    } catch (err) { fail(err); }
  }

  function renderCallbacks() {
    const ul = $("#callbacks");
    ul.replaceChildren();
    $("#cb-count").textContent = String(callbacks.length);
    if (!callbacks.length) ul.append(el("li", { class: "muted", text: t("callbacks.none") }));
    for (const cb of callbacks) {
      const countdown = el("span", { class: "countdown", "data-due": cb.due_at });
      const li = el("li", { class: attention.has(cb.id) ? "cb attention" : "cb", "data-id": String(cb.id) },
        el("div", { class: "cb-top" }, el("span", { class: "mono", text: cb.phone_display || cb.phone }), countdown),
        el("div", { class: "muted small", text: t("cb.reason." + cb.reason) + (questionOf(cb) ? " · " + questionOf(cb) : "")
          + (cb.next_attempt_at ? " · " + t("cb.next_try", { t: fmtTime(cb.next_attempt_at) }) : "") }),
        el("div", { class: "cb-actions" },
          el("button", { class: "btn tiny", type: "button", text: t("customer.dial"), onclick: () => dial(cb.phone, cb.customer_id) }),
          ...["reached", "no_answer", "busy"].map((r) => el("button", { class: "btn tiny ghost", type: "button", text: t("cb." + r),
            onclick: () => api("POST", `/api/callbacks/${cb.id}/attempts`, { result: r }, actionKey(`attempt:${cb.id}:${r}`, 5000))
              .then(() => { attention.delete(cb.id); loadCallbacks(); }).catch(fail) }))));
      ul.append(li);
    }
    tick();
  }

  async function loadHistory() {
    try {
      const data = await api("GET", "/api/calls?limit=15");
      const tbody = $("#history tbody");
      tbody.replaceChildren();
      if (!data.calls.length) tbody.append(el("tr", null, el("td", { colspan: "7", class: "muted", text: t("hist.empty") })));
      for (const c of data.calls) {
        tbody.append(el("tr", { "data-call-id": c.call_id },
          el("td", { text: fmtTime(c.started_at) }),
          el("td", { text: (c.caller_name ? c.caller_name + " " : "") + c.caller_number }),
          el("td", { text: c.queue || "" }),
          el("td", { text: t("outcome." + c.outcome) }),
          el("td", { class: "mono", text: duration(c.talk_seconds * 1000) }),
          el("td", { text: c.disposition ? t("disp." + c.disposition) : "" }),
          el("td", { class: "notes", text: c.wrapup_notes || "" })));
      }
    } catch (err) { fail(err); }
  }

  // --- timers ---------------------------------------------------------------------------
  function tick() {
    const n = now();
    for (const node of document.querySelectorAll(".countdown")) {
      const left = new Date(node.dataset.due).getTime() - n;
      node.textContent = left >= 0 ? t("cb.due_in", { t: duration(left) }) : t("cb.overdue", { t: duration(-left) });
      node.classList.toggle("late", left < 0);
      node.classList.toggle("soon", left >= 0 && left < 10 * 60000);
    }
    for (const card of cards.values()) {
      const d = card.data;
      const since = d.state === "ringing" ? d.ring_started_at : d.answered_at;
      const timer = $(".timer", card.node);
      timer.textContent = since && ACTIVE.has(d.state) ? duration(n - new Date(since).getTime()) : "";
      timer.classList.toggle("late", d.state === "ringing" && since && n - new Date(since).getTime() > boot.ring_limit_seconds * 1000);
    }
    const since = $("#state-since").dataset.since;
    $("#state-since").textContent = since ? duration(n - new Date(since).getTime()) : "";
  }
  setInterval(tick, 1000);

  // --- WebSocket ------------------------------------------------------------------------
  let lastSeq = -1;
  let socket = null;
  let backoff = 500;

  function setOnline(on) {
    const c = $("#conn");
    c.dataset.online = on ? "1" : "0";
    c.textContent = on ? t("conn.online") : t("conn.offline");
  }

  function handle(msg) {
    if (msg.type === "snapshot") {
      lastSeq = msg.seq;
      if (msg.now) clockSkew = new Date(msg.now).getTime() - Date.now();
      for (const id of [...cards.keys()]) removeCard(id);
      for (const c of msg.calls || []) upsertCard(c);
      showState(msg.agent_state);
      return;
    }
    if (msg.type === "heartbeat") {
      if (msg.seq > lastSeq && lastSeq >= 0) socket.send(JSON.stringify({ type: "resume", after: lastSeq }));
      return;
    }
    if (typeof msg.seq === "number" && msg.type !== "pong" && msg.type !== "error") {
      if (msg.seq <= lastSeq) return; // already applied (replay overlap)
      lastSeq = msg.seq;
    }
    switch (msg.type) {
      case "screen_pop": upsertCard(msg); break;
      case "screen_pop_customer": {
        const card = cards.get(msg.call_id);
        if (card) { card.data.customer = msg.customer; card.data.details = msg; card.data.customer_known = msg.known; renderCard(card); }
        break;
      }
      case "call_update":
        if (msg.removed) removeCard(msg.call_id);
        else if (cards.has(msg.call_id)) upsertCard(msg);
        if (msg.state === "ended") setTimeout(loadHistory, 1500);
        break;
      case "agent_state": showState(msg); break;
      case "callbacks_changed": loadCallbacks(); break;
      case "callback_reminder":
        attention.add(msg.callback_id);
        toast(t(msg.retry ? "cb.remind.retry" : "cb.remind.due", { t: fmtTime(msg.due_at) }));
        loadCallbacks();
        break;
      case "dial_result":
        $("#dial-status").textContent = msg.success ? "" : t("dial.failed");
        $("#preview-status").textContent = msg.success ? "" : t("dial.failed");
        break;
      case "error": toast(window.problemText(msg), true); break;
      default: document.dispatchEvent(new CustomEvent("console:" + msg.type, { detail: msg }));
    }
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    // batch=1: several queued messages may arrive as one JSON array (handled below)
    const url = `${proto}//${location.host}/ws?batch=1` + (lastSeq >= 0 ? `&after=${lastSeq}` : "");
    socket = new WebSocket(url);
    socket.onopen = () => { setOnline(true); backoff = 500; };
    socket.onmessage = (ev) => {
      const data = JSON.parse(ev.data);
      if (Array.isArray(data)) data.forEach(handle); else handle(data);
    };
    socket.onclose = (ev) => {
      setOnline(false);
      if (ev.code === 4001) { window.location.href = "/login"; return; }
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    };
  }

  window.consoleDebug = { cards, get lastSeq() { return lastSeq; } };
  connect();
  loadCallbacks();
  loadHistory();
  setInterval(loadCallbacks, 60000);
})();
