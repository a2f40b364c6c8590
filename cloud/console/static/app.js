// The nurse console: sign-in, the live alert list (WebSocket), and the patient page.
"use strict";
(() => {
  const { t } = I18N;
  const SEVERITY_RANK = { critical: 0, warning: 1, info: 2 };
  const TOKEN_KEY = "caredge.token";
  const state = {
    token: sessionStorage.getItem(TOKEN_KEY),
    me: null,
    alerts: new Map(),   // id -> alert view (active alerts only)
    paged: new Map(),    // alert id -> latest notification for this nurse
    socket: null,
    retry: 0,
    days: 7,
    patient: null,
  };
  const $ = (id) => document.getElementById(id);

  // --- HTTP ------------------------------------------------------------------------------
  async function api(path, options = {}) {
    const headers = { ...(options.headers || {}) };
    if (state.token) headers.Authorization = `Bearer ${state.token}`;
    const response = await fetch(path, { ...options, headers });
    if (response.status === 401) { signOut(t("error.session")); throw new Error("unauthorized"); }
    const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
    if (!response.ok) throw new Error(body?.detail ? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)) : response.statusText);
    return body;
  }

  // --- sign-in ---------------------------------------------------------------------------
  async function signIn(event) {
    event.preventDefault();
    const form = event.target;
    $("login-error").textContent = "";
    const response = await fetch("/api/v1/auth/token", {
      method: "POST",
      body: new URLSearchParams({ username: form.username.value, password: form.password.value }),
    });
    if (!response.ok) { $("login-error").textContent = t("login.failed"); return; }
    const token = await response.json();
    if (token.role !== "nurse" && token.role !== "admin") { $("login-error").textContent = t("login.forbidden"); return; }
    state.token = token.access_token;
    sessionStorage.setItem(TOKEN_KEY, state.token);
    form.reset();
    await start();
  }

  function signOut(message) {
    state.token = null;
    state.me = null;
    sessionStorage.removeItem(TOKEN_KEY);
    if (state.socket) { state.socket.onclose = null; state.socket.close(); state.socket = null; }
    state.alerts.clear();
    state.paged.clear();
    location.hash = "#/login";
    route();
    $("login-error").textContent = message || "";
  }

  async function start() {
    state.me = await api("/api/v1/console/me");
    connect();
    if (!location.hash || location.hash === "#/login") location.hash = "#/alerts";
    route();
  }

  // --- live updates ----------------------------------------------------------------------
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/api/v1/console/ws`);
    state.socket = socket;
    socket.onopen = () => socket.send(JSON.stringify({ type: "auth", token: state.token }));
    socket.onmessage = (event) => receive(JSON.parse(event.data));
    socket.onclose = (event) => {
      setLive(false);
      if (event.code === 4401) { signOut(t("error.session")); return; }
      if (event.code === 4403) { signOut(t("login.forbidden")); return; }
      state.retry = Math.min(state.retry + 1, 5);
      setTimeout(() => { if (state.token && state.socket === socket) connect(); }, 500 * state.retry);
    };
  }

  function receive(message) {
    if (message.type === "hello") { state.retry = 0; setLive(true); return; }
    if (message.type === "snapshot") {
      state.alerts.clear();
      for (const alert of message.alerts) state.alerts.set(alert.id, alert);
    } else if (message.type === "alert") {
      upsert(message.alert);
    } else if (message.type === "notification") {
      state.paged.set(message.alert.id, message);
      upsert(message.alert);
    } else {
      return;
    }
    renderAlerts();
    if (state.patient) renderPatientAlerts();
  }

  function upsert(alert) {
    const known = state.alerts.get(alert.id);
    if (known && known.updated_at > alert.updated_at) return; // an older message overtaken
    if (alert.state === "resolved") state.alerts.delete(alert.id);
    else state.alerts.set(alert.id, alert);
  }

  function setLive(on) {
    $("live").dataset.state = on ? "on" : "off";
    $("live-text").textContent = t(on ? "live.on" : "live.off");
  }

  // --- alert list ------------------------------------------------------------------------
  function sorted(alerts) {
    return [...alerts].sort((a, b) =>
      (SEVERITY_RANK[a.severity] ?? 9) - (SEVERITY_RANK[b.severity] ?? 9) ||
      a.opened_at.localeCompare(b.opened_at) || a.id - b.id);
  }

  function age(iso) {
    const minutes = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 60000));
    if (minutes < 1) return t("age.now");
    if (minutes < 60) return t("age.minutes", { n: minutes });
    if (minutes < 48 * 60) return t("age.hours", { n: Math.floor(minutes / 60) });
    return t("age.days", { n: Math.floor(minutes / 1440) });
  }

  function timeText(iso) {
    return new Intl.DateTimeFormat(I18N.lang === "zh" ? "zh-CN" : "en-GB", { dateStyle: "short", timeStyle: "short" }).format(new Date(iso));
  }

  function alertItem(alert) {
    const item = $("alert-template").content.firstElementChild.cloneNode(true);
    item.dataset.alertId = alert.id;
    item.dataset.state = alert.state;
    item.dataset.severity = alert.severity;
    item.querySelector(".sev").textContent = t(`severity.${alert.severity}`);
    item.querySelector(".sev").classList.add(alert.severity);
    item.querySelector(".state").textContent = t(`state.${alert.state}`);
    item.querySelector(".state").classList.add(alert.state);
    const patient = item.querySelector(".patient");
    patient.textContent = alert.patient_name || `#${alert.patient_id}`;
    patient.href = `#/patient/${alert.patient_id}`;
    item.querySelector(".mrn").textContent = alert.patient_mrn || "";
    item.querySelector(".age").textContent = age(alert.opened_at);
    item.querySelector(".age").title = timeText(alert.opened_at);
    item.querySelector(".message").textContent = I18N.lang === "zh" ? alert.message_zh : alert.message_en;
    const details = [t("alert.opened", { time: timeText(alert.opened_at) }), t("alert.readings", { n: alert.readings_count })];
    if (alert.acknowledged_by) details.push(t("alert.acked_by", { who: alert.acknowledged_by, time: timeText(alert.acknowledged_at) }) + (alert.acknowledge_note ? ` — ${alert.acknowledge_note}` : ""));
    if (alert.resolved_by) details.push(t("alert.resolved_by", { who: alert.resolved_by, time: timeText(alert.resolved_at) }));
    item.querySelector(".details").textContent = details.join(" · ");
    const page = state.paged.get(alert.id);
    if (page && alert.state === "open") {
      const paged = item.querySelector(".paged");
      paged.hidden = false;
      paged.textContent = t(`alert.paged.${page.event}`, { level: page.level });
    }
    const note = item.querySelector(".note");
    note.placeholder = t("alert.note");
    const ack = item.querySelector(".ack");
    ack.textContent = t("alert.acknowledge");
    ack.hidden = alert.state !== "open";
    const resolve = item.querySelector(".resolve");
    resolve.textContent = t("alert.resolve");
    item.querySelector(".actions").hidden = alert.state === "resolved";
    const act = (verb) => async () => {
      ack.disabled = resolve.disabled = true;
      try {
        const updated = await api(`/api/v1/alerts/${alert.id}/${verb}`, {
          method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ note: note.value || null }),
        });
        upsert({ ...alert, ...updated });
        renderAlerts();
        if (state.patient) renderPatientAlerts();
      } catch (error) {
        item.querySelector(".action-error").textContent = t("error.generic", { detail: error.message });
        ack.disabled = resolve.disabled = false;
      }
    };
    ack.addEventListener("click", act("acknowledge"));
    resolve.addEventListener("click", act("resolve"));
    return item;
  }

  function renderList(list, alerts) {
    // Keep a note being typed: rebuild only items whose alert changed.
    const existing = new Map([...list.children].map((li) => [Number(li.dataset.alertId), li]));
    const items = alerts.map((alert) => {
      const old = existing.get(alert.id);
      const stamp = `${alert.updated_at}|${alert.state}|${state.paged.get(alert.id)?.notification_id || ""}|${I18N.lang}`;
      if (old && old.dataset.stamp === stamp) return old;
      const item = alertItem(alert);
      item.dataset.stamp = stamp;
      if (old) item.querySelector(".note").value = old.querySelector(".note").value;
      return item;
    });
    list.replaceChildren(...items);
  }

  function renderAlerts() {
    const alerts = sorted(state.alerts.values());
    renderList($("alert-list"), alerts);
    $("alert-count").textContent = t("alerts.count", { n: alerts.length });
    const empty = $("alerts-empty");
    empty.hidden = alerts.length > 0;
    empty.textContent = state.me && state.me.ward_ids && !state.me.ward_ids.length ? t("alerts.no_wards") : t("alerts.empty");
  }

  // --- patient page ----------------------------------------------------------------------
  async function showPatient(patientId) {
    state.patient = await api(`/api/v1/console/patients/${patientId}`);
    renderPatientHeader();
    renderMeters();
    await renderPatientAlerts(true);
    await renderCharts();
  }

  function renderPatientHeader() {
    const p = state.patient;
    $("patient-name").textContent = p.name;
    const meta = [p.mrn, t("patient.born", { date: p.birth_date })];
    if (p.ward) meta.push(t("patient.ward", { name: p.ward.name }));
    $("patient-meta").textContent = meta.join(" · ");
  }

  function renderMeters() {
    const rows = state.patient.meters.map((m) => {
      const tr = document.createElement("tr");
      const battery = m.battery_percent != null ? `${m.battery_percent}%` + (m.battery_low ? ` (${t("meters.battery_low")})` : "")
        : m.battery_low ? t("meters.battery_low") : t("meters.battery_unknown");
      const seen = m.last_seen_at || m.gateway_last_seen_at;
      for (const text of [m.model ? `${m.device_id} (${m.model})` : m.device_id, t(`kind.${m.kind}`),
        seen ? `${timeText(seen)} (${age(seen)})` : t("meters.never"), battery]) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.append(td);
      }
      if (m.battery_low) tr.classList.add("battery-low");
      return tr;
    });
    if (!rows.length) {
      const tr = document.createElement("tr"), td = document.createElement("td");
      td.colSpan = 4; td.textContent = t("meters.none"); tr.append(td); rows.push(tr);
    }
    $("meter-rows").replaceChildren(...rows);
  }

  async function renderPatientAlerts(fetchAll) {
    if (!state.patient) return;
    if (fetchAll) {
      const page = await api(`/api/v1/alerts?patient_id=${state.patient.id}&limit=20`);
      state.patient.alerts = page.items;
    }
    const merged = new Map((state.patient.alerts || []).map((a) => [a.id, a]));
    for (const alert of state.alerts.values()) if (alert.patient_id === state.patient.id) merged.set(alert.id, alert);
    const list = $("patient-alerts");
    const alerts = sorted([...merged.values()].map((a) => ({ patient_name: state.patient.name, patient_mrn: state.patient.mrn, ...a })));
    renderList(list, alerts);
    if (!alerts.length) { const li = document.createElement("li"); li.className = "muted"; li.textContent = t("patient.no_alerts"); list.replaceChildren(li); }
  }

  async function renderCharts() {
    const until = new Date(), since = new Date(until.getTime() - state.days * 86400000);
    const every = state.days <= 7 ? "4h" : "1d";
    for (const button of document.querySelectorAll(".range button")) {
      button.textContent = t("patient.days", { n: button.dataset.days });
      button.classList.toggle("selected", Number(button.dataset.days) === state.days);
    }
    const query = (kind) => `/api/v1/patients/${state.patient.id}/readings?kind=${kind}&every=${every}` +
      `&since=${encodeURIComponent(since.toISOString())}&until=${encodeURIComponent(until.toISOString())}`;
    const [bp, glucose] = await Promise.all([api(query("blood_pressure")), api(query("glucose"))]);
    const th = state.patient.thresholds;
    const series = (buckets, field, label, cls) => ({
      label, cls, points: buckets.filter((b) => b.fields[field]).map((b) => ({
        t: new Date(Date.parse(b.start) + (every === "4h" ? 2 : 12) * 3600000), ...b.fields[field] })),
    });
    const locale = I18N.lang === "zh" ? "zh-CN" : "en-GB";
    TrendChart.render($("chart-bp"), {
      since, until, locale, yMin: 40, yMax: 220, empty: t("chart.no_data"),
      bands: [
        { from: th.bp_crisis_systolic, to: 1000, cls: "crisis", label: `${t("chart.crisis")} > ${th.bp_crisis_systolic}` },
        { from: th.bp_high_systolic, to: th.bp_crisis_systolic, cls: "high", label: `${t("chart.high")} ≥ ${th.bp_high_systolic}` },
        { from: 0, to: th.bp_low_diastolic, cls: "low", label: `${t("chart.low")} < ${th.bp_low_diastolic}` },
      ],
      series: [series(bp, "systolic_mmhg", t("chart.systolic"), "systolic"), series(bp, "diastolic_mmhg", t("chart.diastolic"), "diastolic")],
    });
    TrendChart.render($("chart-glucose"), {
      since, until, locale, yMin: 0, yMax: 22, empty: t("chart.no_data"),
      bands: [
        { from: th.glucose_high, to: 100, cls: "high", label: `${t("chart.high")} > ${th.glucose_high}` },
        { from: th.glucose_level1_low, to: 10, cls: "target", label: `${t("chart.target")} ${th.glucose_level1_low}–10` },
        { from: th.glucose_level2_low, to: th.glucose_level1_low, cls: "low", label: `${t("chart.low")} < ${th.glucose_level1_low}` },
        { from: 0, to: th.glucose_level2_low, cls: "crisis", label: `< ${th.glucose_level2_low}` },
      ],
      series: [series(glucose, "glucose_mmol_l", t("chart.glucose_line"), "glucose")],
    });
  }

  // --- routing and chrome ----------------------------------------------------------------
  function show(view) {
    for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== `view-${view}`;
    const signedIn = Boolean(state.token);
    $("nav").hidden = $("logout").hidden = $("live").hidden = !signedIn;
    $("who").textContent = signedIn && state.me ? (state.me.display_name || state.me.username) : "";
  }

  async function route() {
    if (!state.token) { state.patient = null; show("login"); return; }
    const match = location.hash.match(/^#\/patient\/(\d+)$/);
    if (match) {
      show("patient");
      try { await showPatient(Number(match[1])); } catch (error) { console.error(error); }
    } else {
      state.patient = null;
      show("alerts");
      renderAlerts();
    }
  }

  function relabel() {
    I18N.apply();
    $("lang").textContent = t("lang.switch");
    if ($("live").dataset.state) setLive($("live").dataset.state === "on");
    show(document.querySelector(".view:not([hidden])")?.id.replace("view-", "") || "login");
    renderAlerts();
    if (state.patient) { renderPatientHeader(); renderMeters(); renderPatientAlerts(); renderCharts(); }
  }

  async function main() {
    await I18N.load();
    $("login-form").addEventListener("submit", (event) => signIn(event).catch((e) => { $("login-error").textContent = t("error.generic", { detail: e.message }); }));
    $("logout").addEventListener("click", () => signOut());
    $("lang").addEventListener("click", () => { I18N.set(I18N.lang === "zh" ? "en" : "zh"); relabel(); });
    for (const button of document.querySelectorAll(".range button")) {
      button.addEventListener("click", () => { state.days = Number(button.dataset.days); renderCharts(); });
    }
    window.addEventListener("hashchange", route);
    setInterval(() => { for (const el of document.querySelectorAll("#alert-list .age")) { const a = state.alerts.get(Number(el.closest("li").dataset.alertId)); if (a) el.textContent = age(a.opened_at); } }, 30000);
    relabel();
    if (state.token) {
      try { await start(); } catch (error) { console.error(error); }
    } else {
      route();
    }
    document.body.dataset.ready = "true";
  }

  main();
})();
