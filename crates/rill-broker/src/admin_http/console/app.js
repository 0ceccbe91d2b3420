// Rill's web console: a small single-page app over the admin JSON API (/api/v1).
// Plain JavaScript, no build step and nothing fetched from elsewhere. Views (the VIEWS list
// at the end: one entry and one function per view): overview, topics (create, delete,
// partitions and offsets), message browser, consumer groups, transactions, ACLs, SCRAM users,
// client quotas.
// When the API answers 401 a login form asks for a user and password (sent as HTTP Basic) or
// a bearer token; the Authorization value is kept in sessionStorage (this tab only) and sent
// with every request. Charts are SVG drawn here. Every text from the server is escaped
// before it is shown.
"use strict";

const view = document.getElementById("view");
let timer = null; // the current view's refresh timer
let routeToken = 0; // bumped on every route change; stale renders are dropped

// ---------- helpers ----------
function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  }[c]));
}
function num(n) {
  return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US");
}
function bytes(n) {
  if (n === null || n === undefined) return "–";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return (i === 0 ? v.toFixed(0) : v.toFixed(1)) + " " + u[i];
}
function rate(n, unit) {
  if (unit === "B") return bytes(n) + "/s";
  return (n >= 100 ? n.toFixed(0) : n.toFixed(1)) + " " + unit + "/s";
}
function time(ms) {
  if (ms === null || ms === undefined || ms < 0) return "–";
  const d = new Date(ms);
  return d.toISOString().replace("T", " ").replace("Z", "");
}
function ids(list) {
  return (list || []).join(", ");
}
// ---------- session ----------
const AUTH_KEY = "rill.authorization"; // "Basic ..." or "Bearer ..." (sessionStorage)
let loginShown = false;

async function api(path, options) {
  const opts = { ...(options || {}) };
  // X-Requested-With: the server then challenges with Bearer only, so the browser shows
  // no password dialog of its own.
  const headers = { "X-Requested-With": "rill-console", ...(opts.headers || {}) };
  const sent = sessionStorage.getItem(AUTH_KEY);
  if (sent) headers.Authorization = sent;
  opts.headers = headers;
  const res = await fetch(path, opts);
  let body = null;
  const text = await res.text();
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = { error: { message: text } }; }
  if (!res.ok) {
    const e = (body && body.error) || {};
    const err = new Error(e.message || res.status + " " + res.statusText);
    err.status = res.status;
    err.kafkaError = e.kafka_error;
    if (res.status === 401) {
      // Credentials that were sent and refused are dropped; the login form says why.
      if (sent && sessionStorage.getItem(AUTH_KEY) === sent) {
        sessionStorage.removeItem(AUTH_KEY);
        showLogin(err.message);
      } else if (!sent) {
        showLogin(null);
      }
    }
    throw err;
  }
  return body;
}

// UTF-8 safe base64 for HTTP Basic.
function base64(s) {
  return btoa(Array.from(new TextEncoder().encode(s), (b) => String.fromCharCode(b)).join(""));
}

function showLogin(message) {
  if (loginShown && !message) return;
  loginShown = true;
  clearInterval(timer);
  routeToken++; // renders in flight are dropped
  drawWho(null);
  const badge = document.getElementById("node-badge");
  badge.textContent = "sign in";
  badge.className = "badge notready";
  view.innerHTML = `<div class="panel login" data-testid="login"><h1>Sign in</h1>
    ${message ? `<div class="error-box" data-testid="login-error">${esc(message)}</div>` : ""}
    <form id="login-form" autocomplete="on">
      <label>User<input name="username" autocomplete="username"></label>
      <label>Password<input name="password" type="password" autocomplete="current-password"></label>
      <div class="muted">or a bearer token (an OAUTHBEARER JWT)</div>
      <label>Token<textarea name="token" rows="3"></textarea></label>
      <button type="submit" id="login">Sign in</button>
    </form>
    <p class="muted">A SCRAM user of the cluster (its password is checked like a Kafka client's), or a token from the identity provider the Kafka listeners trust.</p></div>`;
  const form = document.getElementById("login-form");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const token = String(f.get("token") || "").trim();
    const user = String(f.get("username") || "").trim();
    if (!token && !user) { toast("Give a user and password, or a token", true); return; }
    sessionStorage.setItem(AUTH_KEY, token ? "Bearer " + token : "Basic " + base64(user + ":" + String(f.get("password") || "")));
    let who;
    try { who = await api("/api/v1/whoami"); } catch (_) { return; } // the form shows why
    loginShown = false;
    drawWho(who);
    refreshBadge();
    route();
  });
}

function logout() {
  sessionStorage.removeItem(AUTH_KEY);
  loginShown = false;
  showLogin(null);
}

// The principal in the header, with a logout when the API authenticates.
function drawWho(who) {
  const box = document.getElementById("who");
  if (!who || !who.authentication) { box.hidden = true; box.innerHTML = ""; return; }
  box.hidden = false;
  box.innerHTML = `<span data-testid="principal">${esc(who.principal)}</span> <button class="secondary small" id="logout">Log out</button>`;
  document.getElementById("logout").addEventListener("click", logout);
}

function toast(message, isError) {
  const box = document.getElementById("toast");
  const div = document.createElement("div");
  div.className = "msg" + (isError ? " error" : "");
  div.textContent = message;
  box.appendChild(div);
  setTimeout(() => div.remove(), isError ? 8000 : 4000);
}
function errorBox(e) {
  return `<div class="error-box" data-testid="error">${esc(e.kafkaError ? e.kafkaError + ": " : "")}${esc(e.message)}</div>`;
}
function healthTags(h) {
  const t = [];
  if (h.offline) t.push('<span class="tag bad">offline</span>');
  if (h.under_replicated) t.push('<span class="tag warn">under-replicated</span>');
  if (h.under_min_isr) t.push('<span class="tag warn">under min ISR</span>');
  return t.length ? t.join("") : '<span class="tag ok">ok</span>';
}
function every(ms, fn) {
  clearInterval(timer);
  timer = setInterval(fn, ms);
}

// ---------- charts (SVG) ----------
// The smallest 1, 2, 2.5 or 5 times a power of ten at or above v (at least 1), so axis
// ticks at quarters are round numbers.
function niceMax(v) {
  const x = Math.max(1, v);
  const p = Math.pow(10, Math.floor(Math.log10(x)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

// series: [{name, color, points: [[x, y], ...]}]; x in ms; fmt formats y values.
function lineChart(series, fmt, height) {
  const W = 900, H = height || 220, L = 70, R = 12, T = 12, B = 26;
  const all = series.flatMap((s) => s.points);
  if (all.length < 2) {
    return `<div class="muted">Collecting samples (one every 5 s)…</div>`;
  }
  const xs = all.map((p) => p[0]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs);
  const ymax = niceMax(Math.max(...all.map((p) => p[1])));
  const sx = (x) => L + ((x - x0) / Math.max(1, x1 - x0)) * (W - L - R);
  const sy = (y) => T + (1 - y / ymax) * (H - T - B);
  let g = "";
  for (let i = 0; i <= 4; i++) {
    const y = (ymax * i) / 4;
    g += `<line class="grid" x1="${L}" x2="${W - R}" y1="${sy(y)}" y2="${sy(y)}"/>`;
    g += `<text x="${L - 6}" y="${sy(y) + 4}" text-anchor="end">${esc(fmt(y))}</text>`;
  }
  for (let i = 0; i <= 4; i++) {
    const x = x0 + ((x1 - x0) * i) / 4;
    const label = new Date(x).toTimeString().slice(0, 8);
    const anchor = i === 0 ? "start" : i === 4 ? "end" : "middle";
    g += `<text x="${sx(x)}" y="${H - 6}" text-anchor="${anchor}">${label}</text>`;
  }
  g += `<line class="axis" x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}"/>`;
  for (const s of series) {
    const d = s.points.map((p, i) => `${i ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join("");
    g += `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`;
  }
  const legend = series.map((s) => `<span><i style="background:${s.color}"></i>${esc(s.name)}</span>`).join("");
  return `<svg viewBox="0 0 ${W} ${H}" role="img">${g}</svg><div class="legend">${legend}</div>`;
}

// bars: [{label, value}] drawn as vertical bars.
function barChart(bars, color) {
  const W = 900, H = 220, L = 60, R = 12, T = 12, B = 46;
  if (!bars.length) return `<div class="muted">No partitions.</div>`;
  // At least 4 so quarter ticks of small integer lags stay whole numbers.
  const ymax = Math.max(4, niceMax(Math.max(...bars.map((b) => b.value || 0))));
  const slot = (W - L - R) / bars.length;
  const bw = Math.max(2, Math.min(48, slot * 0.7));
  const sy = (y) => T + (1 - y / ymax) * (H - T - B);
  let g = "";
  for (let i = 0; i <= 4; i++) {
    const y = (ymax * i) / 4;
    g += `<line class="grid" x1="${L}" x2="${W - R}" y1="${sy(y)}" y2="${sy(y)}"/>`;
    g += `<text x="${L - 6}" y="${sy(y) + 4}" text-anchor="end">${num(Math.round(y))}</text>`;
  }
  bars.forEach((b, i) => {
    const x = L + slot * i + (slot - bw) / 2;
    const v = b.value || 0;
    g += `<rect x="${x.toFixed(1)}" y="${sy(v).toFixed(1)}" width="${bw.toFixed(1)}" height="${(H - B - sy(v)).toFixed(1)}" fill="${color}" rx="2"><title>${esc(b.label)}: ${num(b.value)}</title></rect>`;
    if (bars.length <= 40) {
      g += `<text x="${(x + bw / 2).toFixed(1)}" y="${H - B + 14}" text-anchor="middle">${esc(b.label)}</text>`;
    }
  });
  g += `<line class="axis" x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}"/>`;
  return `<svg viewBox="0 0 ${W} ${H}" role="img" data-testid="lag-chart">${g}</svg>`;
}

// ---------- header badge ----------
async function refreshBadge() {
  const badge = document.getElementById("node-badge");
  try {
    const c = await api("/api/v1/cluster");
    badge.textContent = `node ${c.node_id} · ${c.ready ? "ready" : "not ready"}`;
    badge.className = "badge " + (c.ready ? "ready" : "notready");
    badge.title = c.not_ready_reason || "";
  } catch (e) {
    badge.textContent = e.status === 401 ? "sign in" : "unreachable";
    badge.className = "badge notready";
  }
}

// ---------- overview ----------
async function overview(token) {
  view.innerHTML = `<h1>Overview</h1><div id="ov-body">Loading…</div>`;
  const draw = async () => {
    let c, t;
    try {
      [c, t] = await Promise.all([api("/api/v1/cluster"), api("/api/v1/throughput")]);
    } catch (e) {
      if (token === routeToken) document.getElementById("ov-body").innerHTML = errorBox(e);
      return;
    }
    if (token !== routeToken) return;
    const p = c.partitions;
    const q = c.quorum;
    const card = (label, value, cls, small) =>
      `<div class="card ${cls || ""}"><div class="label">${label}</div><div class="value ${small ? "small" : ""}">${value}</div></div>`;
    const brokers = c.brokers.map((b) => `<tr data-broker="${b.id}">
        <td>${b.id}${b.is_self ? ' <span class="tag">this node</span>' : ""}</td>
        <td>${esc(b.host)}:${b.port}</td><td>${esc(b.rack || "–")}</td>
        <td>${b.fenced ? '<span class="tag bad">fenced</span>' : '<span class="tag ok">active</span>'}</td>
        <td>${b.is_controller ? '<span class="tag">controller</span>' : ""}</td></tr>`).join("");
    const points = t.points;
    const chartIn = lineChart([
      { name: `bytes in/s (node ${t.node_id})`, color: "#2563eb", points: points.map((x) => [x.at_ms, x.bytes_in_per_s]) },
      { name: `bytes out/s (node ${t.node_id})`, color: "#0f9d76", points: points.map((x) => [x.at_ms, x.bytes_out_per_s]) },
    ], (y) => bytes(y) + "/s");
    const clusterPoints = points.filter((x) => x.cluster_records_in_per_s !== null)
      .map((x) => [x.at_ms, x.cluster_records_in_per_s]);
    const chartRec = lineChart([
      { name: "cluster records in/s (all nodes)", color: "#0891b2", points: clusterPoints },
      { name: `records in/s (node ${t.node_id})`, color: "#7c3aed", points: points.map((x) => [x.at_ms, x.records_in_per_s]) },
      { name: `records out/s (node ${t.node_id})`, color: "#d97706", points: points.map((x) => [x.at_ms, x.records_out_per_s]) },
    ], (y) => rate(y, "rec"), 180);
    const last = points.length ? points[points.length - 1] : null;
    document.getElementById("ov-body").innerHTML = `
      <div class="cards" data-testid="overview-cards">
        ${card("Health", c.ready ? "ready" : "not ready", c.ready ? "ok" : "bad")}
        ${card("Cluster id", esc(c.cluster_id), "", true)}
        ${card("Mode", esc(c.mode), "", true)}
        ${card("Controller", c.controller_id >= 0 ? "node " + c.controller_id : "none", c.controller_id >= 0 ? "" : "bad")}
        ${card("Brokers", c.brokers.filter((b) => !b.fenced).length + " / " + c.brokers.length)}
        ${card("Topics", num(c.topics))}
        ${card("Partitions", num(p.partitions))}
        ${card("Offline", num(p.offline), p.offline ? "bad" : "ok")}
        ${card("Under-replicated", num(p.under_replicated), p.under_replicated ? "bad" : "ok")}
        ${card("Under min ISR", num(p.under_min_isr), p.under_min_isr ? "bad" : "ok")}
        ${q ? card("Raft term", num(q.term)) + card("Raft commit index", num(q.commit_index)) : ""}
      </div>
      ${c.not_ready_reason ? `<div class="error-box">${esc(c.not_ready_reason)}</div>` : ""}
      <div class="panel chart" data-testid="throughput-chart">
        <h2>Throughput (last ${Math.round((points.length * t.interval_ms) / 60000) || "<1"} min)
          ${last ? `<span class="muted">· node ${t.node_id} now ${bytes(last.bytes_in_per_s)}/s in, ${bytes(last.bytes_out_per_s)}/s out${last.cluster_records_in_per_s !== null ? `; cluster ${rate(last.cluster_records_in_per_s, "rec")} in` : ""}</span>` : ""}</h2>
        ${chartIn}
        <div style="height:10px"></div>
        ${chartRec}
        <div class="muted" style="margin-top:6px">Since start: ${bytes(t.totals.bytes_in)} / ${num(t.totals.records_in)} records in, ${bytes(t.totals.bytes_out)} / ${num(t.totals.records_out)} records out.</div>
      </div>
      <div class="split">
        <div class="panel"><h2>Brokers</h2>
          <table data-testid="brokers"><thead><tr><th>Id</th><th>Address</th><th>Rack</th><th>State</th><th></th></tr></thead>
          <tbody>${brokers}</tbody></table></div>
        <div class="panel"><h2>Metadata quorum</h2>${q ? `
          <table><thead><tr><th>Voter</th><th class="num">Log end index</th><th class="num">Last contact</th></tr></thead><tbody>
          ${q.voters.map((v) => `<tr><td>${v.node_id}${v.node_id === q.leader_id ? ' <span class="tag">leader</span>' : ""}</td>
            <td class="num">${num(v.log_end_index)}</td><td class="num">${v.last_contact_ms === null ? "–" : v.last_contact_ms + " ms"}</td></tr>`).join("")}
          </tbody></table>` : `<div class="muted">Single node: a local metadata log, this node is the controller.</div>`}
        </div>
      </div>`;
  };
  await draw();
  every(5000, draw);
}

// ---------- topics ----------
function parseConfigs(text) {
  const out = {};
  for (const line of text.split("\n")) {
    const l = line.trim();
    if (!l || l.startsWith("#")) continue;
    const i = l.indexOf("=");
    if (i <= 0) throw new Error(`config line '${l}' is not key=value`);
    out[l.slice(0, i).trim()] = l.slice(i + 1).trim();
  }
  return out;
}

async function topics(token) {
  view.innerHTML = `<h1>Topics</h1>
    <div class="panel"><h2>Create a topic</h2>
      <form id="create-topic-form" class="row" autocomplete="off">
        <label>Name<input name="name" required placeholder="orders" size="28"></label>
        <label>Partitions<input name="partitions" type="number" min="1" value="3" style="width:100px"></label>
        <label>Replication factor<input name="replication_factor" type="number" min="1" value="1" style="width:120px"></label>
        <label>Configs (key=value per line)<textarea name="configs" rows="1" cols="34" placeholder="retention.ms=86400000"></textarea></label>
        <button type="submit" id="create-topic">Create topic</button>
      </form>
    </div>
    <div class="panel"><div class="row" style="justify-content:space-between;margin-bottom:8px">
      <h2 style="margin:0">All topics</h2>
      <label style="flex-direction:row;align-items:center;gap:6px"><input type="checkbox" id="show-internal"> internal topics</label></div>
      <div id="topic-list">Loading…</div></div>`;
  const form = document.getElementById("create-topic-form");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    let body;
    try {
      body = {
        name: String(f.get("name")).trim(),
        partitions: Number(f.get("partitions")),
        replication_factor: Number(f.get("replication_factor")),
        configs: parseConfigs(String(f.get("configs") || "")),
      };
    } catch (e) { toast(e.message, true); return; }
    const button = document.getElementById("create-topic");
    button.disabled = true;
    try {
      const r = await api("/api/v1/topics", {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
      });
      toast(`Topic ${r.name} created with ${r.partitions} partitions`);
      form.reset();
      await drawList();
    } catch (e) {
      toast(`Cannot create topic: ${e.kafkaError ? e.kafkaError + ": " : ""}${e.message}`, true);
    } finally {
      button.disabled = false;
    }
  });
  const internal = document.getElementById("show-internal");
  internal.addEventListener("change", () => drawList());
  const drawList = async () => {
    let list;
    try {
      list = await api("/api/v1/topics" + (internal.checked ? "?internal=true" : ""));
    } catch (e) {
      if (token === routeToken) document.getElementById("topic-list").innerHTML = errorBox(e);
      return;
    }
    if (token !== routeToken) return;
    const rows = list.map((t) => `<tr data-topic="${esc(t.name)}">
        <td><a href="#/topics/${encodeURIComponent(t.name)}">${esc(t.name)}</a></td>
        <td class="num">${t.partitions}</td><td class="num">${t.replication_factor}</td>
        <td class="num" data-field="records">${num(t.records)}</td><td class="num">${bytes(t.local_size_bytes)}</td>
        <td>${t.health.offline ? `<span class="tag bad">${t.health.offline} offline</span>` : ""}${t.health.under_replicated ? `<span class="tag warn">${t.health.under_replicated} under-replicated</span>` : ""}${!t.health.offline && !t.health.under_replicated ? '<span class="tag ok">ok</span>' : ""}</td>
        <td><a href="#/messages?topic=${encodeURIComponent(t.name)}">messages</a></td>
        <td>${t.internal ? "" : `<button class="danger" data-delete="${esc(t.name)}">Delete</button>`}</td></tr>`).join("");
    document.getElementById("topic-list").innerHTML = list.length ? `
      <table data-testid="topics"><thead><tr><th>Name</th><th class="num">Partitions</th><th class="num">Replication</th>
        <th class="num">Records</th><th class="num">Size here</th><th>Health</th><th></th><th></th></tr></thead><tbody>${rows}</tbody></table>`
      : `<div class="muted">No topics yet.</div>`;
    for (const b of document.querySelectorAll("button[data-delete]")) {
      b.addEventListener("click", async () => {
        const name = b.getAttribute("data-delete");
        if (!confirm(`Delete topic ${name} and all its data?`)) return;
        try {
          await api("/api/v1/topics/" + encodeURIComponent(name), { method: "DELETE" });
          toast(`Topic ${name} deleted`);
          await drawList();
        } catch (e) { toast(`Cannot delete ${name}: ${e.message}`, true); }
      });
    }
  };
  await drawList();
  every(10000, drawList);
}

async function topicDetail(token, name) {
  view.innerHTML = `<h1>Topic <span data-testid="topic-name">${esc(name)}</span></h1><div id="topic-body">Loading…</div>`;
  const draw = async () => {
    let t;
    try { t = await api("/api/v1/topics/" + encodeURIComponent(name)); } catch (e) {
      if (token === routeToken) document.getElementById("topic-body").innerHTML = errorBox(e);
      return;
    }
    if (token !== routeToken) return;
    const compacted = String(t.configs["cleanup.policy"] || "").includes("compact");
    const rows = t.partitions.map((p) => `<tr data-partition="${p.partition}">
        <td class="num">${p.partition}</td><td>${p.leader >= 0 ? p.leader : "none"}</td>
        <td>${ids(p.replicas)}</td><td>${ids(p.isr)}</td>
        <td class="num" data-field="log_start_offset">${num(p.log_start_offset)}</td>
        <td class="num" data-field="high_watermark">${num(p.high_watermark)}</td>
        <td class="num" data-field="last_stable_offset">${num(p.last_stable_offset)}</td>
        <td class="num" data-field="log_end_offset">${num(p.log_end_offset)}</td>
        <td class="num">${bytes(p.size_bytes)}</td><td class="num">${num(p.segments)}</td>
        ${compacted ? `<td class="num" data-field="dirty_ratio">${p.dirty_ratio == null ? "–" : (100 * p.dirty_ratio).toFixed(1) + "%"}</td>` : ""}
        <td>${healthTags(p)}</td><td class="muted">${esc(p.offsets_from)}</td>
        <td><a href="#/messages?topic=${encodeURIComponent(t.name)}&partition=${p.partition}">browse</a></td></tr>`).join("");
    const overrides = Object.keys(t.config_overrides);
    const configs = Object.entries(t.configs).map(([k, v]) =>
      `<tr><td>${esc(k)}${overrides.includes(k) ? ' <span class="tag">set</span>' : ""}</td><td>${esc(v)}</td></tr>`).join("");
    document.getElementById("topic-body").innerHTML = `
      <div class="muted" style="margin-bottom:12px">id ${esc(t.topic_id)} · replication factor ${t.replication_factor} ·
        cleanup policy <span data-testid="cleanup-policy">${esc(t.configs["cleanup.policy"] || "delete")}</span> ·
        <a href="#/messages?topic=${encodeURIComponent(t.name)}">browse messages</a></div>
      <div class="panel"><h2>Partitions</h2>
        <table data-testid="partitions"><thead><tr><th class="num">Partition</th><th>Leader</th><th>Replicas</th><th>ISR</th>
          <th class="num">Log start</th><th class="num">High watermark</th>
          <th class="num" title="Last stable offset: read_committed consumers read below it (open transactions hold it back)">Last stable</th><th class="num">Log end</th>
          <th class="num">Size</th><th class="num">Segments</th>${compacted ? '<th class="num" title="Share of the cleanable log not yet compacted">Dirty</th>' : ""}<th>Health</th><th>Offsets from</th><th></th></tr></thead>
        <tbody>${rows}</tbody></table></div>
      <div class="panel"><h2>Configs</h2><table><tbody>${configs}</tbody></table></div>`;
  };
  await draw();
  every(5000, draw);
}

// ---------- message browser ----------
function decodeB64(s) {
  if (s === null || s === undefined) return null;
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
// Shows bytes as text, JSON (pretty; `strict` marks values that are not JSON, others fall
// back to text quietly) or hex.
function showBytes(b64, format, strict) {
  const b = decodeB64(b64);
  if (b === null) return '<span class="muted">null</span>';
  if (format === "hex") {
    let s = "";
    for (let i = 0; i < b.length; i++) s += b[i].toString(16).padStart(2, "0") + (i % 16 === 15 ? "\n" : " ");
    return `<pre class="value">${esc(s.trim())}</pre>`;
  }
  const text = new TextDecoder("utf-8", { fatal: false }).decode(b);
  if (format === "json") {
    try { return `<pre class="value">${esc(JSON.stringify(JSON.parse(text), null, 2))}</pre>`; } catch (_) {
      return `<pre class="value">${esc(text)}</pre>${strict ? '<span class="tag warn">not JSON</span>' : ""}`;
    }
  }
  return `<pre class="value">${esc(text)}</pre>`;
}

async function messages(token, params) {
  let topicList = [];
  try { topicList = await api("/api/v1/topics"); } catch (e) { view.innerHTML = errorBox(e); return; }
  if (token !== routeToken) return;
  const sel = params.get("topic") || (topicList[0] && topicList[0].name) || "";
  const opts = topicList.map((t) => `<option ${t.name === sel ? "selected" : ""}>${esc(t.name)}</option>`).join("");
  view.innerHTML = `<h1>Messages</h1>
    <div class="panel"><form id="browse-form" class="row">
      <label>Topic<select name="topic">${opts}</select></label>
      <label>Partition<input name="partition" type="number" min="0" value="${Number(params.get("partition") || 0)}" style="width:90px"></label>
      <label>From<select name="from">
        <option value="latest">latest</option><option value="earliest">earliest</option>
        <option value="offset">offset</option><option value="timestamp">time</option></select></label>
      <label>Offset<input name="offset" type="number" min="0" value="0" style="width:110px"></label>
      <label>Time (UTC)<input name="time" type="datetime-local" step="1"></label>
      <label>Limit<input name="limit" type="number" min="1" max="500" value="20" style="width:80px"></label>
      <label>Show values as<select name="format"><option value="text">text</option><option value="json">JSON</option><option value="hex">hex</option></select></label>
      <button type="submit" id="browse">Show</button>
    </form></div>
    <div id="messages-body" class="panel">${topicList.length ? "Choose and press Show." : "No topics yet."}</div>`;
  const form = document.getElementById("browse-form");
  let last = null;
  const render = () => {
    if (!last) return;
    const format = new FormData(form).get("format");
    const m = last;
    const rows = m.messages.map((r) => `<tr data-offset="${r.offset}">
        <td class="num">${r.offset}</td><td>${time(r.timestamp)}<div class="muted">${r.timestamp_type}</div></td>
        <td>${showBytes(r.key, format)}</td>
        <td>${showBytes(r.value, format, true)}${r.truncated ? '<span class="tag warn">cut at 64 KiB</span>' : ""}
          <div class="muted">${r.value_size === null ? "" : bytes(r.value_size)}</div></td>
        <td>${r.headers.map((h) => `<div><b>${esc(h.key)}</b>: ${showBytes(h.value, format)}</div>`).join("")}</td></tr>`).join("");
    document.getElementById("messages-body").innerHTML = `
      <div class="muted" style="margin-bottom:8px">${esc(m.topic)}-${m.partition}: log start ${num(m.log_start_offset)},
        high watermark ${num(m.high_watermark)}; showing ${m.messages.length} from offset ${num(m.start_offset)}
        (read ${m.read_from === "local" ? "on this node" : "from the leader"}).
        ${m.next_offset < m.high_watermark ? `<a href="#" id="next-page">next ›</a>` : ""}</div>
      ${m.messages.length ? `<table data-testid="messages"><thead><tr><th class="num">Offset</th><th>Timestamp</th><th>Key</th><th>Value</th><th>Headers</th></tr></thead>
      <tbody>${rows}</tbody></table>` : '<div class="muted">No records there.</div>'}`;
    const next = document.getElementById("next-page");
    if (next) next.addEventListener("click", (ev) => {
      ev.preventDefault();
      form.elements.from.value = "offset";
      form.elements.offset.value = m.next_offset;
      load();
    });
  };
  const load = async () => {
    const f = new FormData(form);
    const q = new URLSearchParams({ partition: f.get("partition"), from: f.get("from"), limit: f.get("limit") });
    if (f.get("from") === "offset") q.set("offset", f.get("offset"));
    if (f.get("from") === "timestamp") {
      const t = Date.parse(f.get("time") + "Z");
      if (Number.isNaN(t)) { toast("Choose a time", true); return; }
      q.set("timestamp", String(t));
    }
    try {
      last = await api(`/api/v1/topics/${encodeURIComponent(f.get("topic"))}/messages?${q}`);
      render();
    } catch (e) {
      last = null;
      document.getElementById("messages-body").innerHTML = errorBox(e);
    }
  };
  form.addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  form.elements.format.addEventListener("change", render);
  if (sel) await load();
}

// ---------- consumer groups ----------
async function groups(token) {
  view.innerHTML = `<h1>Consumer groups</h1><div class="panel" id="groups-body">Loading…</div>`;
  const draw = async () => {
    let list;
    try { list = await api("/api/v1/groups"); } catch (e) {
      if (token === routeToken) document.getElementById("groups-body").innerHTML = errorBox(e);
      return;
    }
    if (token !== routeToken) return;
    const rows = list.map((g) => `<tr data-group="${esc(g.group_id)}">
        <td><a href="#/groups/${encodeURIComponent(g.group_id)}">${esc(g.group_id)}</a></td>
        <td>${esc(g.state || "–")}</td><td>${esc(g.protocol_type)}</td>
        <td class="num">${num(g.members)}</td><td class="num">${num(g.partitions)}</td>
        <td class="num" data-field="total_lag">${num(g.total_lag)}</td></tr>`).join("");
    document.getElementById("groups-body").innerHTML = list.length ? `
      <table data-testid="groups"><thead><tr><th>Group</th><th>State</th><th>Protocol</th><th class="num">Members</th>
        <th class="num">Partitions</th><th class="num">Total lag</th></tr></thead><tbody>${rows}</tbody></table>`
      : `<div class="muted">No consumer groups.</div>`;
  };
  await draw();
  every(5000, draw);
}

async function groupDetail(token, id) {
  view.innerHTML = `<h1>Group <span data-testid="group-name">${esc(id)}</span></h1><div id="group-body">Loading…</div>`;
  const draw = async () => {
    let g;
    try { g = await api("/api/v1/groups/" + encodeURIComponent(id)); } catch (e) {
      if (token === routeToken) document.getElementById("group-body").innerHTML = errorBox(e);
      return;
    }
    if (token !== routeToken) return;
    const members = g.members.map((m) => `<tr><td>${esc(m.member_id)}</td><td>${esc(m.client_id)}</td><td>${esc(m.client_host)}</td>
        <td>${Object.entries(m.assignment).map(([t, ps]) => `${esc(t)}: ${ps.join(", ")}`).join("<br>") || '<span class="muted">none</span>'}</td></tr>`).join("");
    const parts = g.partitions.map((p) => `<tr data-partition="${esc(p.topic)}-${p.partition}">
        <td>${esc(p.topic)}</td><td class="num">${p.partition}</td>
        <td class="num" data-field="committed_offset">${num(p.committed_offset)}</td>
        <td class="num" data-field="high_watermark">${num(p.high_watermark)}</td>
        <td class="num" data-field="lag">${num(p.lag)}</td><td>${esc(p.client_id || "–")}</td></tr>`).join("");
    const bars = g.partitions.map((p) => ({ label: `${p.topic}-${p.partition}`, value: p.lag }));
    document.getElementById("group-body").innerHTML = `
      <div class="cards">
        <div class="card"><div class="label">State</div><div class="value small" data-testid="group-state">${esc(g.state)}</div></div>
        <div class="card"><div class="label">Assignor</div><div class="value small">${esc(g.protocol || "–")}</div></div>
        <div class="card"><div class="label">Members</div><div class="value">${g.members.length}</div></div>
        <div class="card ${g.total_lag ? "bad" : "ok"}"><div class="label">Total lag</div><div class="value" data-testid="total-lag">${num(g.total_lag)}</div></div>
      </div>
      <div class="panel chart"><h2>Lag per partition</h2>${barChart(bars, "#d97706")}</div>
      <div class="panel"><h2>Partitions</h2><table data-testid="group-partitions"><thead><tr><th>Topic</th><th class="num">Partition</th>
        <th class="num">Committed</th><th class="num">High watermark</th><th class="num">Lag</th><th>Owner</th></tr></thead>
        <tbody>${parts}</tbody></table></div>
      <div class="panel"><h2>Members</h2>${g.members.length ? `<table data-testid="members"><thead><tr><th>Member</th><th>Client id</th><th>Host</th><th>Assignment</th></tr></thead>
        <tbody>${members}</tbody></table>` : '<div class="muted">No members (the group is empty).</div>'}</div>`;
  };
  await draw();
  every(5000, draw);
}

// ---------- transactions ----------
async function transactions(token) {
  view.innerHTML = `<h1>Transactions</h1><div class="panel" id="txn-body">Loading…</div>`;
  const draw = async () => {
    let list;
    try { list = await api("/api/v1/transactions"); } catch (e) {
      if (token === routeToken) document.getElementById("txn-body").innerHTML = errorBox(e);
      return;
    }
    if (token !== routeToken) return;
    const age = (t) => (t === null || t === undefined || t < 0) ? "–" : `${Math.max(0, Math.round((Date.now() - t) / 1000))} s`;
    const rows = list.map((t) => `<tr data-txn="${esc(t.transactional_id)}">
        <td>${esc(t.transactional_id)}</td><td data-field="state">${esc(t.state)}</td>
        <td class="num">${t.producer_id}</td><td class="num">${num(t.producer_epoch)}</td>
        <td class="num">${t.coordinator}</td><td class="num">${age(t.start_time_ms)}</td>
        <td class="num">${num(t.timeout_ms)}</td>
        <td data-field="partitions">${t.partitions ? esc(t.partitions.join(", ")) || "–" : "–"}</td></tr>`).join("");
    const open = list.filter((t) => ["Ongoing", "PrepareCommit", "PrepareAbort"].includes(t.state)).length;
    document.getElementById("txn-body").innerHTML = list.length ? `
      <div class="muted" data-testid="open-transactions">${open} open</div>
      <table data-testid="transactions"><thead><tr><th>Transactional id</th><th>State</th><th class="num">Producer id</th>
        <th class="num">Epoch</th><th class="num">Coordinator</th><th class="num">Open for</th><th class="num">Timeout ms</th>
        <th>Partitions</th></tr></thead><tbody>${rows}</tbody></table>`
      : `<div class="muted">No transactional ids.</div>`;
  };
  await draw();
  every(5000, draw);
}

// ---------- ACLs ----------
const ACL_OPERATIONS = ["ALL", "READ", "WRITE", "CREATE", "DELETE", "ALTER", "DESCRIBE",
  "CLUSTER_ACTION", "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "IDEMPOTENT_WRITE"];
const ACL_FIELDS = ["resource_type", "resource_name", "pattern_type", "principal", "host", "operation", "permission"];
const options = (list) => list.map((v) => `<option>${esc(v)}</option>`).join("");

async function acls(token) {
  view.innerHTML = `<h1>ACLs</h1>
    <div class="panel"><h2>Add an ACL</h2>
      <form id="acl-form" class="row" autocomplete="off">
        <label>Principal<input name="principal" required placeholder="User:alice" size="16"></label>
        <label>Permission<select name="permission">${options(["ALLOW", "DENY"])}</select></label>
        <label>Operation<select name="operation">${options(ACL_OPERATIONS)}</select></label>
        <label>Resource type<select name="resource_type">${options(["TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID"])}</select></label>
        <label>Resource name<input name="resource_name" required placeholder="orders" size="18"></label>
        <label>Pattern<select name="pattern_type">${options(["LITERAL", "PREFIXED"])}</select></label>
        <label>Host<input name="host" value="*" size="10"></label>
        <button type="submit" id="create-acl">Add ACL</button>
      </form>
    </div>
    <div class="panel"><h2>ACLs of the cluster</h2><div id="acl-list">Loading…</div></div>`;
  const form = document.getElementById("acl-form");
  form.elements.resource_type.addEventListener("change", () => {
    if (form.elements.resource_type.value === "CLUSTER") form.elements.resource_name.value = "kafka-cluster";
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const body = Object.fromEntries(ACL_FIELDS.map((k) => [k, String(f.get(k) || "").trim()]));
    try {
      const a = await api("/api/v1/acls", {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
      });
      toast(`${a.permission} ${a.operation} on ${a.resource_type} ${a.resource_name} for ${a.principal}`);
      form.elements.resource_name.value = "";
      await draw();
    } catch (e) { toast(`Cannot add the ACL: ${e.kafkaError ? e.kafkaError + ": " : ""}${e.message}`, true); }
  });
  let shown = [];
  const draw = async () => {
    let list;
    try { list = await api("/api/v1/acls"); } catch (e) {
      if (token === routeToken) document.getElementById("acl-list").innerHTML = errorBox(e);
      return;
    }
    if (token !== routeToken) return;
    shown = list;
    const rows = list.map((a, i) => `<tr data-acl="${esc(a.principal + "|" + a.resource_type + "|" + a.resource_name + "|" + a.operation + "|" + a.permission)}">
        <td>${esc(a.principal)}</td><td><span class="tag ${a.permission === "DENY" ? "bad" : "ok"}">${esc(a.permission)}</span></td>
        <td>${esc(a.operation)}</td><td>${esc(a.resource_type)}</td><td>${esc(a.resource_name)}</td>
        <td>${esc(a.pattern_type)}</td><td>${esc(a.host)}</td>
        <td><button class="danger" data-delete-acl="${i}">Delete</button></td></tr>`).join("");
    document.getElementById("acl-list").innerHTML = list.length ? `
      <table data-testid="acls"><thead><tr><th>Principal</th><th>Permission</th><th>Operation</th><th>Resource type</th>
        <th>Resource</th><th>Pattern</th><th>Host</th><th></th></tr></thead><tbody>${rows}</tbody></table>`
      : `<div class="muted">No ACLs.</div>`;
    for (const b of document.querySelectorAll("button[data-delete-acl]")) {
      b.addEventListener("click", async () => {
        const a = shown[Number(b.getAttribute("data-delete-acl"))];
        if (!a || !confirm(`Delete ${a.permission} ${a.operation} on ${a.resource_type} ${a.resource_name} for ${a.principal}?`)) return;
        const q = new URLSearchParams(ACL_FIELDS.map((k) => [k, a[k]]));
        try {
          await api("/api/v1/acls?" + q.toString(), { method: "DELETE" });
          toast("ACL deleted");
          await draw();
        } catch (e) { toast(`Cannot delete the ACL: ${e.message}`, true); }
      });
    }
  };
  await draw();
  every(10000, draw);
}

// ---------- SCRAM users ----------
async function users(token) {
  view.innerHTML = `<h1>Users</h1>
    <div class="panel"><h2>Create or update a user (SCRAM credential)</h2>
      <form id="user-form" class="row" autocomplete="off">
        <label>Name<input name="name" required placeholder="alice" size="16"></label>
        <label>Password<input name="password" type="password" required autocomplete="new-password" size="16"></label>
        <label>Mechanism<select name="mechanism">${options(["SCRAM-SHA-512", "SCRAM-SHA-256"])}</select></label>
        <label>Iterations<input name="iterations" type="number" min="4096" max="16384" value="4096" style="width:110px"></label>
        <button type="submit" id="create-user">Save user</button>
      </form>
    </div>
    <div class="panel"><h2>Users with SCRAM credentials</h2><div id="user-list">Loading…</div></div>`;
  const form = document.getElementById("user-form");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const body = {
      name: String(f.get("name")).trim(), password: String(f.get("password")),
      mechanism: String(f.get("mechanism")), iterations: Number(f.get("iterations")),
    };
    try {
      const r = await api("/api/v1/users", {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
      });
      toast(`User ${r.name} saved (${r.mechanisms.join(", ")})`);
      form.reset();
      await draw();
    } catch (e) { toast(`Cannot save the user: ${e.kafkaError ? e.kafkaError + ": " : ""}${e.message}`, true); }
  });
  const draw = async () => {
    let list;
    try { list = await api("/api/v1/users"); } catch (e) {
      if (token === routeToken) document.getElementById("user-list").innerHTML = errorBox(e);
      return;
    }
    if (token !== routeToken) return;
    const rows = list.map((u) => `<tr data-user="${esc(u.name)}"><td>${esc(u.name)}</td>
        <td data-field="credentials">${u.credentials.map((c) => `<span class="tag">${esc(c.mechanism)} · ${c.iterations}</span>`).join("")}</td>
        <td><button class="danger" data-delete-user="${esc(u.name)}">Delete</button></td></tr>`).join("");
    document.getElementById("user-list").innerHTML = list.length ? `
      <table data-testid="users"><thead><tr><th>User</th><th>Credentials (mechanism · iterations)</th><th></th></tr></thead>
        <tbody>${rows}</tbody></table>`
      : `<div class="muted">No SCRAM users.</div>`;
    for (const b of document.querySelectorAll("button[data-delete-user]")) {
      b.addEventListener("click", async () => {
        const name = b.getAttribute("data-delete-user");
        if (!confirm(`Delete every SCRAM credential of ${name}?`)) return;
        try {
          await api("/api/v1/users/" + encodeURIComponent(name), { method: "DELETE" });
          toast(`User ${name} deleted`);
          await draw();
        } catch (e) { toast(`Cannot delete ${name}: ${e.message}`, true); }
      });
    }
  };
  await draw();
  every(10000, draw);
}

// ---------- client quotas ----------
const QUOTA_KEYS = ["producer_byte_rate", "consumer_byte_rate", "request_percentage", "controller_mutation_rate"];

function entityText(entity) {
  return Object.entries(entity).map(([t, n]) => `${t}=${n === null ? "<default>" : n}`).join(", ");
}

function quotaValue(key, v) {
  if (key.endsWith("byte_rate")) return `${bytes(v)}/s`;
  if (key === "request_percentage") return `${num(v)} %`;
  return `${num(v)} partitions/s`;
}

async function quotas(token) {
  view.innerHTML = `<h1>Client quotas</h1>
    <div class="panel"><h2>Set a quota</h2>
      <form id="quota-form" class="row" autocomplete="off">
        <label>User<input name="user" placeholder="alice, or empty" size="14"></label>
        <label><input type="checkbox" name="user_default"> default user</label>
        <label>Client id<input name="client_id" placeholder="app, or empty" size="14"></label>
        <label><input type="checkbox" name="client_default"> default client</label>
        <label>Quota<select name="key">${options(QUOTA_KEYS)}</select></label>
        <label>Value<input name="value" type="number" min="0" step="any" required style="width:130px"></label>
        <button type="submit" id="set-quota">Set quota</button>
      </form>
      <div class="muted">Byte rates in bytes per second, request_percentage in percent of one thread,
        controller_mutation_rate in partitions per second.</div>
    </div>
    <div class="panel"><h2>Quotas</h2><div id="quota-list">Loading…</div></div>
    <div class="panel"><h2>Sensors in use on this node</h2><div id="sensor-list">Loading…</div></div>`;
  const form = document.getElementById("quota-form");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const entity = {};
    const user = String(f.get("user") || "").trim();
    const client = String(f.get("client_id") || "").trim();
    if (user || f.get("user_default")) entity.user = user || null;
    if (client || f.get("client_default")) entity["client-id"] = client || null;
    const body = { entity, set: { [String(f.get("key"))]: Number(f.get("value")) } };
    try {
      await api("/api/v1/quotas", {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
      });
      toast(`Quota set for ${entityText(entity)}`);
      await draw();
    } catch (e) { toast(`Cannot set the quota: ${e.kafkaError ? e.kafkaError + ": " : ""}${e.message}`, true); }
  });
  const draw = async () => {
    let got;
    try { got = await api("/api/v1/quotas"); } catch (e) {
      if (token === routeToken) document.getElementById("quota-list").innerHTML = errorBox(e);
      return;
    }
    if (token !== routeToken) return;
    const rows = got.quotas.flatMap((q) => Object.entries(q.values).map(([k, v]) => {
      const id = `${entityText(q.entity)}|${k}`;
      return `<tr data-quota="${esc(id)}"><td>${esc(entityText(q.entity))}</td><td>${esc(k)}</td>
        <td data-field="value">${esc(quotaValue(k, v))}</td>
        <td><button class="danger" data-remove-quota="${esc(JSON.stringify({ entity: q.entity, remove: [k] }))}">Remove</button></td></tr>`;
    })).join("");
    document.getElementById("quota-list").innerHTML = rows ? `
      <table data-testid="quotas"><thead><tr><th>Entity</th><th>Quota</th><th>Value</th><th></th></tr></thead>
        <tbody>${rows}</tbody></table>` : `<div class="muted">No client quotas.</div>`;
    const sensors = got.sensors.map((s) => `<tr><td>${esc(s.quota)}</td><td>${esc(s.user || "—")}</td>
        <td>${esc(s.client_id || "—")}</td><td>${esc(num(s.limit))}</td><td>${esc(num(Math.round(s.value)))}</td>
        <td>${esc(num(s.throttle_ms_total))} ms</td><td>${esc(num(s.throttled_requests))}</td></tr>`).join("");
    document.getElementById("sensor-list").innerHTML = sensors ? `
      <table data-testid="sensors"><thead><tr><th>Quota</th><th>User</th><th>Client id</th><th>Limit</th>
        <th>Measured</th><th>Throttle time</th><th>Throttled requests</th></tr></thead><tbody>${sensors}</tbody></table>`
      : `<div class="muted">No client is using a quota on this node right now.</div>`;
    for (const b of document.querySelectorAll("button[data-remove-quota]")) {
      b.addEventListener("click", async () => {
        const body = JSON.parse(b.getAttribute("data-remove-quota"));
        try {
          await api("/api/v1/quotas", {
            method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
          });
          toast(`Quota removed from ${entityText(body.entity)}`);
          await draw();
        } catch (e) { toast(`Cannot remove the quota: ${e.message}`, true); }
      });
    }
  };
  await draw();
  every(10000, draw);
}

// ---------- routing ----------
// One entry per view: its route (#/<id>), its label in the navigation, and what draws it.
// `parts` are the route's path segments (parts[1]: a topic or group name), `params` its query.
const VIEWS = [
  { id: "overview", label: "Overview", render: (token) => overview(token) },
  { id: "topics", label: "Topics", render: (token, parts) => (parts[1] ? topicDetail(token, parts[1]) : topics(token)) },
  { id: "messages", label: "Messages", render: (token, _parts, params) => messages(token, params) },
  { id: "groups", label: "Consumer groups", render: (token, parts) => (parts[1] ? groupDetail(token, parts[1]) : groups(token)) },
  { id: "transactions", label: "Transactions", render: (token) => transactions(token) },
  { id: "acls", label: "ACLs", render: (token) => acls(token) },
  { id: "users", label: "Users", render: (token) => users(token) },
  { id: "quotas", label: "Quotas", render: (token) => quotas(token) },
];

function drawNav() {
  document.getElementById("nav").innerHTML = VIEWS.map((v) =>
    `<a href="#/${v.id}" data-nav="${v.id}">${esc(v.label)}</a>`).join("");
}

async function route() {
  if (loginShown) return;
  clearInterval(timer);
  const token = ++routeToken;
  const hash = location.hash.replace(/^#/, "") || "/overview";
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const v = VIEWS.find((x) => x.id === parts[0]) || VIEWS[0];
  for (const a of document.querySelectorAll("header nav a")) {
    a.classList.toggle("active", a.getAttribute("data-nav") === v.id);
  }
  try {
    await v.render(token, parts, params);
  } catch (e) {
    if (!loginShown) view.innerHTML = errorBox(e);
  }
}

async function start() {
  drawNav();
  window.addEventListener("hashchange", route);
  setInterval(refreshBadge, 5000);
  try {
    drawWho(await api("/api/v1/whoami"));
  } catch (_) {
    return; // 401: the login form is up; a signed-in user continues from there
  }
  refreshBadge();
  route();
}

start();
