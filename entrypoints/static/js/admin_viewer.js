// The admin projections viewer: projections and rebuilds, rows, the event log, the live queue
// with time travel, promo settings and the lock. Moved from its own page into the layout; it
// works with an admin session (the cookie) or a pasted admin token, as before.
import { wireTopBar, watchHealth } from "./common.js";

wireTopBar();
watchHealth();

const $ = id => document.getElementById(id);
const esc = t => String(t ?? "").replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
const fmt = s => s == null ? "–" : `${Math.floor(s / 3600) ? Math.floor(s / 3600) + ":" : ""}${String(Math.floor(s % 3600 / 60)).padStart(2, "0")}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
let token = sessionStorage.getItem("wq-token") || "";
let channel = "lobby";
const csrf = document.querySelector('meta[name="wq-csrf"]')?.content || "";
const sessionAdmin = $("signin").dataset.sessionAdmin === "yes";

/** With a pasted token, the bearer header; signed in as an admin, the session cookie (and
 *  the CSRF token on writes). */
function authHeaders(method) {
  if (token) return {"authorization": `Bearer ${token}`};
  return method && method !== "GET" && csrf ? {"x-csrf-token": csrf} : {};
}

async function api(path, options = {}) {
  const headers = {...authHeaders(options.method), ...(options.body ? {"content-type": "application/json"} : {})};
  const r = await fetch(path, {...options, headers});
  const text = await r.text();
  let body = null; try { body = text ? JSON.parse(text) : null; } catch { body = text; }
  if (!r.ok) throw Object.assign(new Error(body?.error?.message || r.statusText), {status: r.status, body});
  return body;
}

async function signIn(candidate) {
  token = candidate.trim();
  try {
    const me = await api(token ? "/api/v1/tokens/me" : "/api/v1/me");
    if (me.role !== "admin") throw new Error(`${me.user} is ${me.role}; the viewer needs an admin token.`);
    if (token) { sessionStorage.setItem("wq-token", token); $("signout").hidden = false; }
    $("who").textContent = `${me.user} (admin${token ? ", by token" : ""})`;
    const channels = await (await fetch("/api/v1/channels")).json();
    channel = channels[0] || "lobby";
    $("signin").hidden = true; $("app").hidden = false;
    start();
  } catch (e) { $("signin-error").textContent = e.message; sessionStorage.removeItem("wq-token"); }
}
$("signin-btn").onclick = () => signIn($("token").value);
$("token").onkeydown = e => { if (e.key === "Enter") signIn($("token").value); };
$("signout").onclick = () => { sessionStorage.removeItem("wq-token"); location.reload(); };
document.querySelectorAll("#tabs button").forEach(b => b.onclick = () => {
  document.querySelectorAll("#tabs button").forEach(x => x.classList.toggle("on", x === b));
  document.querySelectorAll("#app section").forEach(s => s.classList.toggle("on", s.id === b.dataset.tab));
  if (b.dataset.tab === "promos") loadPromos();
  if (b.dataset.tab === "rules") loadRules();
  if (b.dataset.tab === "money") loadAudit();
  if (b.dataset.tab === "viewers") loadViewers();
  if (b.dataset.tab === "instances") loadInstances();
});

// ---- instances and leases ------------------------------------------------------------------
async function loadInstances() {
  const verdict = $("instances-verdict");
  let r;
  try { r = await api("/api/v1/admin/instances"); }
  catch (e) { verdict.textContent = e.message; verdict.className = "error"; return; }
  const holds = (r.holds || []).length ? r.holds.join(", ") : "no lease";
  verdict.textContent = r.instance == null ? "Leases are off."
    : `This instance: ${r.instance} (${r.takes_leases ? "takes leases" : "takes no lease: front only"}), holds ${holds}; `
      + `${(r.alive || []).length} instance(s) alive, ${(r.instances || []).length} holding leases; TTL ${r.ttl_sec} s.` + (r.error ? ` The lease bucket failed: ${r.error}` : "")
      + (r.log_copies ? ` The log: ${r.log_copies.detail}${r.log_copies.status === "ok" ? "" : ` (${r.log_copies.status})`}.` : "");
  verdict.className = r.error || (r.log_copies && r.log_copies.status !== "ok") ? "error" : "muted";
  $("lease-table").tBodies[0].innerHTML = r.leases.length
    ? r.leases.map(l => `<tr data-lease="${esc(l.lease)}" class="${l.this_instance ? "mine" : ""}"><td class="mono title">${esc(l.lease)}</td>
      <td class="mono" data-label="Instance">${esc(l.holder)}${l.this_instance ? " (this one)" : ""}</td><td class="mono" data-label="Node">${esc(l.node)}</td>
      <td data-label="Held since">${esc(new Date(l.acquired_at).toLocaleString())}</td><td class="num" data-label="Renewed (s ago)">${l.renewed_ago_sec}</td><td class="num" data-label="Revision">${l.revision}</td></tr>`).join("")
    : `<tr><td colspan="6" class="muted">No lease is held.</td></tr>`;
  const alive = r.alive || [];
  $("alive-table").tBodies[0].innerHTML = alive.length
    ? alive.map(i => `<tr data-instance="${esc(i.instance)}" class="${i.this_instance ? "mine" : ""}"><td class="mono title">${esc(i.instance)}${i.this_instance ? " (this one)" : ""}</td>
      <td class="mono" data-label="Node">${esc(i.node)}</td><td data-label="Up since">${esc(new Date(i.since).toLocaleString())}</td><td class="num" data-label="Seen (s ago)">${i.renewed_ago_sec}</td>
      <td class="mono" data-label="Holds">${i.leases.length ? i.leases.map(esc).join(", ") : "standby (no lease)"}</td></tr>`).join("")
    : `<tr><td colspan="5" class="muted">No instance has announced itself.</td></tr>`;
}
$("instances-run").onclick = loadInstances;

// ---- money audit -------------------------------------------------------------------------
const n = v => v == null ? "–" : Number(v).toLocaleString("en");
async function loadAudit() {
  const verdict = $("audit-verdict");
  const stuck = parseInt($("audit-stuck").value, 10) || 600;
  verdict.textContent = "Auditing…"; verdict.className = "muted";
  let r;
  try { r = await api(`/api/v1/admin/audit?channel=${encodeURIComponent(channel)}&stuck_after=${stuck}`); }
  catch (e) { verdict.textContent = e.message; verdict.className = "error"; return; }
  const t = r.totals;
  verdict.textContent = `${r.ok ? "OK" : `${t.findings} finding(s)`}: ${n(t.purchases)} purchases over ${n(r.commits)} commits; `
    + `captured ${n(t.captured)} = refunded ${n(t.refunded)} + kept ${n(t.kept)}; ${n(t.played)} played; `
    + (r.wallet_in_log ? "wallets from the log." : "the wallets are kryten-economy's (not in the log): the queue half only.");
  verdict.className = r.ok ? "okc" : "error";
  $("audit-findings").tBodies[0].innerHTML = r.findings.length
    ? r.findings.map(f => `<tr class="finding"><td>${esc(f.kind)}</td><td class="mono">${esc(f.request_id || "")}</td><td>${esc(f.user || "")}</td><td>${esc(f.detail)}</td></tr>`).join("")
    : `<tr><td colspan="4" class="muted">None.</td></tr>`;
  $("audit-users").tBodies[0].innerHTML = r.users.map(u => `<tr data-user="${esc(u.user)}"><td>${esc(u.user)}</td><td class="num">${n(u.purchases)}</td>
    <td class="num">${n(u.captured)}</td><td class="num">${n(u.refunded)}</td><td class="num kept">${n(u.kept)}</td>
    <td class="num">${n(u.wallet_debited)}</td><td class="num">${n(u.wallet_refunded)}</td><td class="num">${n(u.balance)}</td></tr>`).join("");
  $("audit-purchases").tBodies[0].innerHTML = r.purchases.slice(-200).reverse().map(p => `<tr data-request="${esc(p.request_id)}"><td class="mono">${esc(p.request_id)}</td>
    <td>${esc(p.user)}</td><td class="mono">${esc(p.media)}</td><td class="status">${esc(p.status)}</td><td class="num">${n(p.captured)}</td>
    <td class="num">${n(p.refunded)}</td><td class="num">${n(p.kept)}</td><td class="num">${n(p.price)}</td><td>${p.played ? "yes" : ""}</td></tr>`).join("");
}
$("audit-run").onclick = loadAudit;

// ---- purchases and spend per viewer (stats) ------------------------------------------------
async function loadViewers() {
  const summary = $("viewers-summary");
  let r;
  try { r = await api(`/api/v1/channels/${encodeURIComponent(channel)}/stats/viewers`); }
  catch (e) { summary.textContent = e.message; summary.className = "error"; return; }
  const v = r.viewers;
  const sum = k => v.reduce((a, x) => a + x[k], 0);
  summary.className = "muted";
  summary.textContent = v.length
    ? `${n(v.length)} viewer(s), ${n(sum("purchases"))} purchases, ${n(sum("played"))} played, ${n(sum("refunded"))} refunded; `
      + `${n(sum("spent"))} coins spent (captured ${n(sum("captured"))} − refunded ${n(sum("refunded_coins"))}); as of log position ${n(r.position)}.`
    : `Nobody has bought anything in ${channel} yet (as of log position ${n(r.position)}).`;
  $("viewers-table").tBodies[0].innerHTML = v.map(x => `<tr data-user="${esc(x.user)}"><td>${esc(x.user)}</td>
    <td class="num purchases">${n(x.purchases)}</td><td class="num declined">${n(x.declined)}</td><td class="num played">${n(x.played)}</td>
    <td class="num refunded">${n(x.refunded)}</td><td class="num captured">${n(x.captured)}</td><td class="num refunded-coins">${n(x.refunded_coins)}</td>
    <td class="num spent">${n(x.spent)}</td></tr>`).join("");
}
$("viewers-reload").onclick = loadViewers;

// ---- projections -------------------------------------------------------------------------
let projectionList = [];
const rebuildRefused = {};  // name -> why the last Rebuild click was refused (another instance writes)
async function loadProjections() {
  projectionList = await api("/api/v1/admin/projections");
  $("projection-table").tBodies[0].innerHTML = projectionList.map(p => {
    const rb = p.rebuild, running = rb && !rb.finished_at;
    const pct = rb && rb.total ? Math.round(100 * rb.done / rb.total) : (rb && rb.finished_at ? 100 : 0);
    return `<tr data-projection="${esc(p.name)}"><td>${esc(p.name)}</td><td class="num">${p.position}</td><td class="num">${p.head}</td>
      <td class="num lag">${p.lag}</td><td>${Object.entries(p.tables).map(([t, n]) => `${esc(t)}: ${n}`).join("<br>")}</td>
      <td class="err">${esc([p.last_error, rebuildRefused[p.name]].filter(Boolean).join(" "))}</td>
      <td><button type="button" class="btn btn-small rebuild" data-name="${esc(p.name)}" ${running ? "disabled" : ""}>Rebuild</button>
      ${rb ? `<progress max="100" value="${pct}" title="${rb.done}/${rb.total}"></progress>
      <span class="muted progress">${running ? `${rb.done}/${rb.total}` : (rb.error ? `failed: ${esc(rb.error)}` : `done ${rb.done}/${rb.total}`)}</span>` : ""}</td></tr>`;
  }).join("");
  document.querySelectorAll("button.rebuild").forEach(b => b.onclick = async () => {
    try {
      await api(`/api/v1/admin/projections/${b.dataset.name}/rebuild`, {method: "POST"});
      delete rebuildRefused[b.dataset.name];
    } catch (e) { rebuildRefused[b.dataset.name] = `Rebuild refused: ${e.message}`; }
    loadProjections();
  });
  fillRowSelectors();
  const busy = projectionList.some(p => p.rebuild && !p.rebuild.finished_at);
  clearTimeout(loadProjections.timer);
  loadProjections.timer = setTimeout(loadProjections, busy ? 300 : 3000);
}

// ---- rows --------------------------------------------------------------------------------
let rowsState = {page: 1, sort: null, desc: false};
function fillRowSelectors() {
  const sel = $("rows-projection");
  if (sel.options.length) return;
  sel.innerHTML = projectionList.map(p => `<option>${esc(p.name)}</option>`).join("");
  sel.onchange = () => { fillTables(); };
  fillTables();
}
function fillTables() {
  const p = projectionList.find(x => x.name === $("rows-projection").value);
  $("rows-table").innerHTML = Object.keys(p.tables).map(t => `<option>${esc(t)}</option>`).join("");
  $("rows-table").onchange = () => { rowsState = {page: 1, sort: null, desc: false}; loadRows(); };
  rowsState = {page: 1, sort: null, desc: false}; loadRows();
}
async function loadRows() {
  const q = new URLSearchParams({page: rowsState.page, size: 25});
  if (rowsState.sort) { q.set("sort", rowsState.sort); q.set("desc", rowsState.desc); }
  const page = await api(`/api/v1/admin/projections/${$("rows-projection").value}/tables/${$("rows-table").value}?${q}`);
  const view = $("rows-table-view");
  view.tHead.innerHTML = `<tr>${page.columns.map(c => `<th class="sortable" data-col="${esc(c)}">${esc(c)}${rowsState.sort === c ? (rowsState.desc ? " ▼" : " ▲") : ""}</th>`).join("")}</tr>`;
  view.tBodies[0].innerHTML = page.rows.map(r => `<tr>${page.columns.map(c => `<td>${esc(typeof r[c] === "object" && r[c] !== null ? JSON.stringify(r[c]) : r[c])}</td>`).join("")}</tr>`).join("");
  view.tHead.querySelectorAll("th").forEach(th => th.onclick = () => {
    rowsState.desc = rowsState.sort === th.dataset.col ? !rowsState.desc : false; rowsState.sort = th.dataset.col; loadRows();
  });
  const pages = Math.max(1, Math.ceil(page.total / page.size));
  $("rows-page").textContent = `page ${page.page} of ${pages} (${page.total} rows)`;
  $("rows-prev").onclick = () => { if (rowsState.page > 1) { rowsState.page--; loadRows(); } };
  $("rows-next").onclick = () => { if (rowsState.page < pages) { rowsState.page++; loadRows(); } };
}

// ---- events ------------------------------------------------------------------------------
let lastPosition = 0;
function eventQuery(after) {
  const q = new URLSearchParams({limit: 200});
  for (const [k, id] of [["channel", "ev-channel"], ["type", "ev-type"], ["since", "ev-since"], ["until", "ev-until"]]) if ($(id).value) q.set(k, $(id).value);
  if (after) q.set("after_position", after);
  return q;
}
function eventRowsFrom(text) {
  const agg = $("ev-aggregate").value;
  return text.split("\n").filter(Boolean).map(l => JSON.parse(l)).filter(e => !agg || e.aggregate === agg);
}
function renderEvents(rows, append) {
  const body = $("event-table").tBodies[0];
  const html = rows.map(e => `<tr class="clickable" data-position="${e.position}"><td class="num">${e.position}</td><td>${esc(e.at)}</td>
    <td>${esc(e.channel)}</td><td>${esc(e.aggregate)}</td><td>${esc(e.type)}</td><td>${esc(e.actor)}</td></tr>`).join("");
  if (append) body.insertAdjacentHTML("afterbegin", html); else body.innerHTML = html;
  body.querySelectorAll("tr").forEach(tr => tr.onclick = () => openCommit(+tr.dataset.position, tr));
}
async function loadEvents() {
  const r = await fetch(`/api/v1/events?${eventQuery(0)}`, {headers: authHeaders("GET")});
  const rows = eventRowsFrom(await r.text());
  lastPosition = rows.length ? rows[rows.length - 1].position : lastPosition;
  renderEvents(rows.reverse(), false);
}
async function followEvents() {
  if ($("ev-follow").checked) {
    const r = await fetch(`/api/v1/events?${eventQuery(lastPosition)}`, {headers: authHeaders("GET")});
    const rows = eventRowsFrom(await r.text());
    if (rows.length) { lastPosition = rows[rows.length - 1].position; renderEvents(rows.reverse(), true); }
  }
  setTimeout(followEvents, 1000);
}
async function openCommit(position, tr) {
  document.querySelectorAll("#event-table tr.sel").forEach(x => x.classList.remove("sel"));
  if (tr) tr.classList.add("sel");
  const c = await api(`/api/v1/admin/commits/${position}`);
  $("commit-card").hidden = false;
  $("commit-position").textContent = `#${c.position}`;
  $("commit-meta").innerHTML = `${esc(c.channel)} · ${esc(c.aggregate)}/${esc(c.aggregate_id)} v${c.version} · ${esc(c.at)} · actor ${esc(c.actor)}<br>
    commit <code>${esc(c.commit_id)}</code> · causation <code id="commit-causation">${esc(c.causation_id ?? "none")}</code> · correlation <code id="commit-correlation">${esc(c.correlation_id ?? "none")}</code>`;
  $("commit-events").textContent = JSON.stringify(c.events, null, 2);
}
$("ev-load").onclick = loadEvents;

// ---- queue: live and time travel -----------------------------------------------------------
let socket = null, travelling = false;
function renderQueue(q) {
  const np = q.now_playing, card = $("now-playing");
  if (np && np.item) {
    const pct = np.item.duration_sec ? Math.min(100, 100 * (np.elapsed_sec || 0) / np.item.duration_sec) : 0;
    card.innerHTML = `<strong>Now playing:</strong> ${esc(np.item.title || np.item.media.id)} ${badges(np.item)}
      <span class="muted">${fmt(np.elapsed_sec)} / ${fmt(np.item.duration_sec)}</span><progress max="100" value="${pct}"></progress>`;
  } else card.textContent = "Nothing is playing.";
  $("queue-table").tBodies[0].innerHTML = q.items.map((it, i) => `<tr data-item="${esc(it.item_id)}" ${it.lead_in_for ? `data-lead-in-for="${esc(it.lead_in_for)}"` : ""}>
    <td>${i + 1}</td><td>${esc(it.title || it.media.id)}</td><td>${badges(it)}</td><td>${details(it)}</td>
    <td class="num">${fmt(it.duration_sec)}</td><td class="num">${fmt(it.eta_sec)}</td></tr>`).join("");
  document.querySelectorAll("#queue-table tr[data-lead-in-for]").forEach(tr => {
    tr.onmouseenter = () => document.querySelector(`#queue-table tr[data-item="${tr.dataset.leadInFor}"]`)?.classList.add("target");
    tr.onmouseleave = () => document.querySelectorAll("#queue-table tr.target").forEach(x => x.classList.remove("target"));
  });
  $("tt-slider").max = Math.max(1, q.position);
  if (!travelling) { $("tt-slider").value = q.position; $("queue-mode").textContent = `live · log position ${q.position}`; }
}
function badges(it) {
  let b = `<span class="badge ${esc(it.kind)}">${esc(it.kind)}</span>`;
  if (it.promo_type) b += `<span class="badge promo">${esc(it.promo_type)}</span>`;
  if (it.temp) b += `<span class="badge">temp</span>`;
  return b;
}
function details(it) {
  const parts = [];
  if (it.pay) {
    parts.push(`paid by <strong>${esc(it.pay.paid_by)}</strong> · ${esc(it.pay.tier)} · ${it.pay.cost} · ${esc(it.pay.status)}`);
    if (it.pay.owner_away_reason) parts.push(`<span class="badge away">${esc(it.pay.owner_away_reason)} since ${esc(it.pay.owner_away_since)}, cancels ${esc(it.pay.cancels_at)}</span>`);
  }
  if (it.lead_in_for) parts.push(`lead-in for <code>${esc(it.lead_in_for)}</code>`);
  return parts.join("<br>");
}
function connectLive() {
  socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/v1/channels/${encodeURIComponent(channel)}/live`);
  socket.onmessage = ev => { if (!travelling) renderQueue(JSON.parse(ev.data)); };
  socket.onclose = () => setTimeout(connectLive, 1000);
}
async function travel(asOf) {
  travelling = true;
  const q = await api(`/api/v1/channels/${encodeURIComponent(channel)}/queue?as_of=${encodeURIComponent(asOf)}`);
  renderQueue(q);
  $("queue-mode").textContent = `as of ${asOf} (log position ${q.position})`;
}
$("tt-slider").onchange = () => travel($("tt-slider").value);
$("tt-go").onclick = () => travel($("tt-at").value || $("tt-slider").value);
$("tt-live").onclick = async () => {
  travelling = false;
  const q = await api(`/api/v1/channels/${encodeURIComponent(channel)}/queue`);
  renderQueue(q);
};

// ---- request rules -------------------------------------------------------------------------
// A form: one field per limit with its unit and a box to turn it on or off, the exempt roles and
// the fair order as boxes, the block lists as rows. Every edit (debounced) is checked by POST
// rules/check, which changes nothing and names the field it refuses; Save puts the whole form
// (in effect on the next purchase).
const rulesPath = () => `/api/v1/channels/${encodeURIComponent(channel)}/rules`;
const rulesForm = $("rules-form");
const limitInputs = () => [...rulesForm.querySelectorAll("input[data-off]")];
let rulesTimer = null;

function mediaRow(m = {media_type: "yt", media_id: "", reason: ""}) {
  const tr = document.createElement("tr");
  tr.innerHTML = `<td><input class="bm-type mono short" value="${esc(m.media_type)}" aria-label="Media type"></td>
    <td><input class="bm-id mono" value="${esc(m.media_id)}" aria-label="Media id"></td>
    <td><input class="bm-reason" value="${esc(m.reason)}" aria-label="Reason"></td>
    <td><button type="button" class="btn btn-small remove" aria-label="Remove this medium">Remove</button></td>`;
  return tr;
}
function userRow(u = {user: "", reason: ""}) {
  const tr = document.createElement("tr");
  tr.innerHTML = `<td><input class="bu-user" value="${esc(u.user)}" aria-label="User"></td>
    <td><input class="bu-reason" value="${esc(u.reason)}" aria-label="Reason"></td>
    <td><button type="button" class="btn btn-small remove" aria-label="Remove this user">Remove</button></td>`;
  return tr;
}
function numberRows() {  // each row's field name, as the check names a bad one
  [...$("blocked-media").tBodies[0].rows].forEach((tr, i) => {
    tr.dataset.field = `blocked_media[${i}]`;
    tr.querySelector(".bm-reason").dataset.field = `blocked_media[${i}].reason`;
  });
  [...$("blocked-users").tBodies[0].rows].forEach((tr, i) => {
    tr.dataset.field = `blocked_users[${i}]`;
    tr.querySelector(".bu-reason").dataset.field = `blocked_users[${i}].reason`;
  });
}
function showRules(r) {
  for (const input of limitInputs()) {
    const name = input.dataset.field, value = r[name];
    const on = value != null && !(input.dataset.off === "zero" && value === 0);
    $(`rule-${name}-on`).checked = on;
    input.disabled = !on;
    input.value = on ? value : "";
  }
  rulesForm.querySelectorAll("input[data-exempt]").forEach(b => b.checked = (r.exempt_roles || []).includes(b.dataset.exempt));
  $("rule-fair_order").checked = !!r.fair_order;
  $("blocked-media").tBodies[0].replaceChildren(...(r.blocked_media || []).map(mediaRow));
  $("blocked-users").tBodies[0].replaceChildren(...(r.blocked_users || []).map(userRow));
  numberRows();
  clearRulesError();
}
/** The whole form as a rules body; {error, field} when a number cannot be read. */
function rulesBody() {
  const body = {};
  for (const input of limitInputs()) {
    const name = input.dataset.field;
    if (!$(`rule-${name}-on`).checked) { body[name] = input.dataset.off === "zero" ? 0 : null; continue; }
    const text = input.value.trim();
    const value = input.dataset.kind === "int" ? Number(text) : parseFloat(text);
    if (text === "" || !Number.isFinite(value) || (input.dataset.kind === "int" && !Number.isInteger(value)))
      return {error: `${input.labels[0].textContent} needs ${input.dataset.kind === "int" ? "a whole number" : "a number"}`, field: name};
    body[name] = value;
  }
  body.exempt_roles = [...rulesForm.querySelectorAll("input[data-exempt]:checked")].map(b => b.dataset.exempt);
  body.fair_order = $("rule-fair_order").checked;
  body.blocked_media = [...$("blocked-media").tBodies[0].rows].map(tr => ({
    media_type: tr.querySelector(".bm-type").value.trim(), media_id: tr.querySelector(".bm-id").value.trim(),
    reason: tr.querySelector(".bm-reason").value.trim()}));
  body.blocked_users = [...$("blocked-users").tBodies[0].rows].map(tr => ({
    user: tr.querySelector(".bu-user").value.trim(), reason: tr.querySelector(".bu-reason").value.trim()}));
  return {body};
}
function clearRulesError() {
  rulesForm.querySelectorAll("[aria-invalid]").forEach(e => e.removeAttribute("aria-invalid"));
}
function showRulesError(message, field) {
  clearRulesError();
  const at = field ? rulesForm.querySelector(`[data-field="${CSS.escape(field)}"]`) : null;
  if (at) at.setAttribute("aria-invalid", "true");
  $("rules-check").innerHTML = `<span class="err">${esc(message)}${field ? ` (${esc(field)})` : ""}</span>`;
}
// The like rules: three whole numbers, saved with PUT likes/rules (a 422 names the field).
const likeRulesPath = () => `/api/v1/channels/${encodeURIComponent(channel)}/likes/rules`;
const likeFields = ["rate_limit", "rate_window_seconds", "dedupe_window_seconds"];
function showLikeRules(r) {
  for (const f of likeFields) { $(`like-${f}`).value = r[f]; $(`like-${f}`).removeAttribute("aria-invalid"); }
}
$("like-rules-save").onclick = async () => {
  const body = {};
  for (const f of likeFields) {
    const v = Number($(`like-${f}`).value.trim());
    if ($(`like-${f}`).value.trim() === "" || !Number.isInteger(v)) {
      $(`like-${f}`).setAttribute("aria-invalid", "true");
      $("like-rules-msg").innerHTML = `<span class="err">${esc(f)} needs a whole number</span>`;
      return;
    }
    body[f] = v;
  }
  try {
    showLikeRules(await api(likeRulesPath(), {method: "PUT", body: JSON.stringify(body)}));
    $("like-rules-msg").innerHTML = '<span class="okc">saved</span>';
  } catch (e) {
    const field = e.body?.error?.field;
    if (field) $(`like-${field}`)?.setAttribute("aria-invalid", "true");
    $("like-rules-msg").innerHTML = `<span class="err">${esc(e.message)}</span>`;
  }
};
async function loadRules() {
  showLikeRules(await api(likeRulesPath()));
  $("like-rules-msg").textContent = "";
  showRules(await api(rulesPath()));
  $("rules-check").innerHTML = '<span class="muted">as in effect now</span>';
  const stats = await api(`/api/v1/channels/${encodeURIComponent(channel)}/stats/`);
  const counts = Object.entries(stats.refusals_by_rule || {});
  $("rules-refusals").innerHTML = counts.length
    ? counts.map(([k, v]) => `<p><span class="badge">${esc(k)}</span> ${n(v)}</p>`).join("")
    : "No purchase has been refused by a rule.";
}
async function checkRules() {
  const made = rulesBody();
  if (made.error) return showRulesError(made.error, made.field);
  try {
    await api(`${rulesPath()}/check`, {method: "POST", body: JSON.stringify(made.body)});
    clearRulesError();
    $("rules-check").innerHTML = '<span class="okc">valid</span> <span class="muted">(not saved yet)</span>';
  } catch (e) { showRulesError(e.message, e.body?.error?.field); }
}
function edited() { clearTimeout(rulesTimer); rulesTimer = setTimeout(checkRules, 300); }
rulesForm.addEventListener("input", edited);
rulesForm.addEventListener("change", e => {
  const on = e.target.dataset?.on;
  if (on) {
    const input = $(`rule-${on}`);
    input.disabled = !e.target.checked;
    if (e.target.checked && input.value === "") input.focus();
  }
  edited();
});
rulesForm.addEventListener("click", e => {
  if (!e.target.classList.contains("remove")) return;
  e.target.closest("tr").remove(); numberRows(); edited();
});
rulesForm.addEventListener("submit", e => e.preventDefault());
$("add-blocked-media").onclick = () => { const tr = mediaRow(); $("blocked-media").tBodies[0].append(tr); numberRows(); tr.querySelector(".bm-id").focus(); edited(); };
$("add-blocked-user").onclick = () => { const tr = userRow(); $("blocked-users").tBodies[0].append(tr); numberRows(); tr.querySelector(".bu-user").focus(); edited(); };
$("rules-save").onclick = async () => {
  const made = rulesBody();
  if (made.error) return showRulesError(made.error, made.field);
  try {
    showRules(await api(rulesPath(), {method: "PUT", body: JSON.stringify(made.body)}));
    $("rules-check").innerHTML = '<span class="okc">saved</span>';
  } catch (e) { showRulesError(e.message, e.body?.error?.field); }
};

// ---- promos and lock -----------------------------------------------------------------------
async function loadPromos() {
  const q = await api(`/api/v1/channels/${encodeURIComponent(channel)}/queue`);
  showLock(q.lock);
  $("promo-config").value = JSON.stringify(await api(`/api/v1/channels/${encodeURIComponent(channel)}/promos/config`), null, 2);
  const pools = (await api(`/api/v1/channels/${encodeURIComponent(channel)}/promos/pools`)).pools;
  $("pools").innerHTML = Object.entries(pools).map(([k, p]) => `<p><span class="badge promo">${esc(k)}</span>
    ${p.items.length ? p.items.map(m => esc(m.title || m.media_id)).join(", ") : '<span class="muted">empty</span>'}</p>`).join("");
}
$("promo-save").onclick = async () => {
  try {
    await api(`/api/v1/channels/${encodeURIComponent(channel)}/promos/config`, {method: "PUT", body: $("promo-config").value});
    $("promo-msg").innerHTML = '<span class="okc">saved</span>';
  } catch (e) { $("promo-msg").innerHTML = `<span class="err">${esc(e.message)}${e.body?.error?.field ? ` (${esc(e.body.error.field)})` : ""}</span>`; }
};
$("lock-on").onclick = async () => {
  try {
    const body = {label: $("lock-label").value}; if ($("lock-until").value) body.until = $("lock-until").value;
    const lock = await api(`/api/v1/channels/${encodeURIComponent(channel)}/lock`, {method: "POST", body: JSON.stringify(body)});
    showLock(lock); $("lock-msg").innerHTML = '<span class="okc">locked</span>';
  } catch (e) { $("lock-msg").innerHTML = `<span class="err">${esc(e.message)}</span>`; }
};
$("lock-off").onclick = async () => {
  showLock(await api(`/api/v1/channels/${encodeURIComponent(channel)}/lock`, {method: "DELETE"}));
  $("lock-msg").textContent = "unlocked";
};
function showLock(lock) {
  $("lock-state").textContent = lock && lock.locked !== false && lock.label
    ? `Locked: "${lock.label}" until ${lock.until || "reopened"}` : "Pay-to-play is open.";
}

function start() { loadProjections(); connectLive(); loadEvents(); followEvents(); }
if (token || sessionAdmin) signIn(token);
