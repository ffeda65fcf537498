// What every page's script shares (docs/pages.md): DOM building without innerHTML, the API
// with the CSRF token, time and money in words, badges, the live queue socket, and the
// outage banners that disable actions which cannot work now.

export const $ = (id) => document.getElementById(id);
export const meta = (name) => document.querySelector(`meta[name="wq-${name}"]`)?.content || "";
export const channel = meta("channel");
export const me = { user: meta("user"), role: meta("role") };
/** The channel's time zone (`[schedules] time_zone`): schedules are entered and shown in it. */
export const zone = meta("time-zone") || "UTC";

const WALL = { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
/** A time on the channel's clock with the zone named, whatever the browser's own zone:
 *  "Fri 20 Nov, 20:00 (Europe/Berlin)", as the pages' server-rendered banners write it
 *  (entrypoints/http/pages/layout.py). `named: false` leaves the zone's name off. */
export function wallTime(iso, { named = true, ...opts } = {}) {
  const text = new Date(iso).toLocaleString("en-GB", { ...WALL, ...opts, timeZone: zone });
  return named ? `${text} (${zone})` : text;
}
/** The value a datetime-local input shows for `iso` on the channel's clock: "2026-11-20T20:00". */
export function wallInput(iso) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-CA", { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: zone })
    .formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

/** h("td", {class: "num", "data-label": "Length"}, "4:51"): an element, children as text. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v == null) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

/** fetch() for our JSON API: same-origin cookies, the CSRF token on writes, errors thrown
 *  as ApiError(status, code, message) with the server's words. */
export async function api(path, { method = "GET", body, headers = {} } = {}) {
  const h2 = { accept: "application/json", ...headers };
  if (body !== undefined) h2["content-type"] = "application/json";
  if (method !== "GET" && meta("csrf")) h2["x-csrf-token"] = meta("csrf");
  let r;
  try {
    r = await fetch(path, { method, headers: h2, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
  } catch (e) {
    throw new ApiError(0, "unreachable", "The service cannot be reached; check your connection.");
  }
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (r.status === 401 && me.user && data?.error?.code === "session_ended") {
    location.href = `/signin?next=${encodeURIComponent(location.pathname)}`;  // signed out elsewhere
  }
  if (!r.ok) throw new ApiError(r.status, data?.error?.code || "http_error", data?.error?.message || r.statusText);
  return data;
}

// ---- time and money ------------------------------------------------------------------------
const pad = (n) => String(n).padStart(2, "0");
/** 97 min as 1:37:00, 4 min 51 s as 4:51. */
export function fmtDuration(sec) {
  if (sec == null || !isFinite(sec)) return "–";
  const s = Math.max(0, Math.floor(sec));
  const hours = Math.floor(s / 3600), minutes = Math.floor((s % 3600) / 60), rest = s % 60;
  return hours ? `${hours}:${pad(minutes)}:${pad(rest)}` : `${minutes}:${pad(rest)}`;
}
/** "now", "in 12 min", "in 1 h 5 min". */
export function fmtIn(sec) {
  if (sec == null) return "–";
  if (sec < 60) return "now";
  const minutes = Math.round(sec / 60);
  if (minutes < 60) return `in ${minutes} min`;
  return `in ${Math.floor(minutes / 60)} h${minutes % 60 ? ` ${minutes % 60} min` : ""}`;
}
/** A moment: the time alone today, with a short date otherwise. */
export function fmtClock(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  if (d.toDateString() === new Date().toDateString()) return d.toLocaleTimeString([], { timeStyle: "short" });
  return d.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
}
/** "Chrome on Linux" from a user agent string. */
export function browserName(ua) {
  const name = /Edg\//.test(ua) ? "Edge" : /Firefox\//.test(ua) ? "Firefox" : /Chrome\//.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : "A browser";
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Windows/.test(ua) ? "Windows" : /Mac OS/.test(ua) ? "macOS" : /Linux/.test(ua) ? "Linux" : "";
  return os ? `${name} on ${os}` : name;
}
export const coins = (n) => (n == null ? "–" : Number(n).toLocaleString("en"));

// ---- purchases in words --------------------------------------------------------------------
const STATUS = {
  paying: ["Paying", "pending", "Taking the coins from your wallet."],
  waiting: ["Paid", "pending", "Paid; waiting for its turn to be added to CyTube."],
  adding: ["Adding", "pending", "Being added to CyTube."],
  positioning: ["Added", "pending", "On CyTube; being moved into its slot."],
  positioned: ["In place", "good", "In its slot; it plays when its turn comes."],
  playing: ["Playing", "good", "Playing now."],
  played: ["Played", "good", "It played."],
  removed: ["Removed", "bad", "It was taken off the playlist."],
  declined: ["Declined", "bad", "The payment was declined; nothing was taken."],
  cancelling: ["Cancelling", "pending", "Cancelled; the refund is on its way."],
  refunded: ["Refunded", "neutral", "Cancelled and refunded."],
  refund_refused: ["Refund refused", "bad", "Cancelled, but the refund was refused: ask an admin."],
};
const REASONS = {
  buyer_cancelled: "you cancelled it",
  admin_remove: "an admin removed it",
  owner_left: "you left the channel",
  owner_afk: "you were away (AFK)",
  add_failed: "CyTube would not add it",
  insufficient_balance: "your balance was too low",
  rule_too_short: "it is shorter than this channel allows",
  rule_too_long: "it is longer than this channel allows",
  rule_viewer_minutes: "it took your waiting items past the channel's minutes per viewer",
  rule_queue_minutes: "it took the queue past the channel's cap on paid minutes",
};
export const reasonWords = (r) => REASONS[r] || (r ? r.replaceAll("_", " ") : "");
export function statusInfo(p) {
  const [label, tone, words] = STATUS[p.status] || [p.status, "neutral", ""];
  const why = p.cancel_reason || p.decline_code;
  // A rule judged on CyTube's length says which length and which limit (`cancel_detail`).
  const detail = p.cancel_reason?.startsWith("rule_") && p.cancel_detail ? ` ${p.cancel_detail}` : "";
  return { label, tone, words: why ? `${words} Reason: ${reasonWords(why)}.${detail}` : words };
}
export const badge = (text, tone = "neutral") => h("span", { class: `badge badge-${tone}` }, text);
export const kindBadge = (kind) => h("span", { class: `badge badge-kind-${kind}` }, kind === "pay" ? "paid" : kind);
/** A pending purchase may be cancelled by its buyer (not once it plays). */
export const cancellable = (p) => ["paying", "waiting", "adding", "positioning", "positioned"].includes(p.status);

// ---- health: banners, and actions that need a part that is down ----------------------------
const PART_NAMES = { log: "the event log (NATS)", cytube: "CyTube", economy: "the economy" };
let lastHealth = null;
const healthListeners = [];
export const onHealth = (fn) => { healthListeners.push(fn); if (lastHealth) fn(lastHealth); };

/** Which parts are down now, from /health: {log, cytube, economy} -> reason or null. */
export function downParts(health) {
  const down = {};
  if (!health || !health.log_connected) down.log = "The event log (NATS) cannot be reached.";
  for (const name of ["cytube", "economy"]) {
    const part = health?.parts?.[name];
    if (part && part.status === "down") down[name] = `${PART_NAMES[name][0].toUpperCase()}${PART_NAMES[name].slice(1)} is down: ${part.detail || "no answer"}.`;
  }
  return down;
}

function applyHealth(health) {
  lastHealth = health;
  const down = downParts(health);
  const box = $("banners");
  if (box) {
    box.replaceChildren();
    if (down.log) box.append(h("div", { class: "banner banner-down", role: "alert" }, "The event log (NATS) cannot be reached: what you see may be out of date, and buying, cancelling and signing in are off until it is back."));
    for (const name of ["cytube", "economy"]) {
      const part = health?.parts?.[name];
      if (part && part.status !== "ok") box.append(h("div", { class: `banner banner-${part.status === "down" ? "down" : "warn"}`, role: "status" }, `${PART_NAMES[name][0].toUpperCase()}${PART_NAMES[name].slice(1)} is ${part.status}: ${part.detail || "no answer"}.`));
    }
  }
  for (const el of document.querySelectorAll("[data-needs]")) {
    const reasons = el.dataset.needs.split(/\s+/).map((n) => down[n]).filter(Boolean);
    el.disabled = reasons.length > 0 || el.dataset.busy === "yes";
    let note = el.nextElementSibling?.classList?.contains("needs-reason") ? el.nextElementSibling : null;
    if (reasons.length) {
      if (!note) { note = h("span", { class: "needs-reason" }); el.after(note); }
      note.textContent = `${reasons.join(" ")} This is off until it is back.`;
    } else if (note) note.remove();
  }
  healthListeners.forEach((fn) => fn(health));
}

export async function checkHealth() {
  try {
    const r = await fetch("/health", { headers: { accept: "application/json" } });
    applyHealth(await r.json());
  } catch {
    applyHealth({ log_connected: false, parts: {} });
  }
}
export function watchHealth(everyMs = 10000) {
  checkHealth();
  setInterval(checkHealth, everyMs);
  setInterval(checkEventLock, everyMs);
}

/** A scheduled event's lock (the earlier web queue's lockout banner), kept current. */
export async function checkEventLock() {
  const box = $("event-banners");
  if (!box || !channel) return;
  let s;
  try {
    const r = await fetch(`/api/v1/channels/${encodeURIComponent(channel)}/schedules/status`, { headers: { accept: "application/json" } });
    if (!r.ok) return;
    s = await r.json();
  } catch { return; }
  const lock = s.lock;
  box.replaceChildren();
  if (!lock) return;
  const text = lock.kind === "pre_fire"
    ? `Pay-to-play is closed: "${lock.label}" starts at ${wallTime(lock.fire_at)}.`
    : `Pay-to-play is closed while "${lock.label}" is on${lock.estimated_end_at ? ` (until about ${wallTime(lock.estimated_end_at)})` : ""}.`;
  box.append(h("div", { class: "banner banner-lock", role: "status" }, text));
}

// ---- the live queue ---------------------------------------------------------------------------
/** The queue over the WebSocket, reconnecting by itself. `onFrame(queue)` on every change;
 *  the status element says "live" only while the socket is open and the log is reachable. */
export function liveQueue(onFrame, statusEl = $("live")) {
  let open = false;
  const show = () => {
    if (!statusEl) return;
    // Not known yet is not "live": a page opened during an outage gets its socket before
    // /health answers (which waits on the log), and once said "live" meanwhile.
    const logUp = lastHealth ? lastHealth.log_connected : null;
    if (open && logUp) { statusEl.textContent = "live"; statusEl.className = "live on"; }
    else if (open && logUp === null) { statusEl.textContent = "not live yet: checking the event log…"; statusEl.className = "live off"; }
    else if (open) { statusEl.textContent = "not live: the event log is unreachable"; statusEl.className = "live off"; }
    else { statusEl.textContent = "not live: reconnecting…"; statusEl.className = "live off"; }
  };
  onHealth(show);
  const connect = () => {
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/v1/channels/${encodeURIComponent(channel)}/live`);
    ws.onopen = () => { open = true; show(); checkHealth(); };
    ws.onmessage = (ev) => onFrame(JSON.parse(ev.data));
    ws.onclose = () => { open = false; show(); checkHealth(); setTimeout(connect, 1500); };
  };
  connect();
}

// ---- the top bar ------------------------------------------------------------------------------
export function wireTopBar() {
  const out = $("signout-btn");
  if (out) out.addEventListener("click", async () => {
    me.user = "";  // no more requests as this user from this page
    try { await api("/api/v1/signout", { method: "POST" }); } catch { /* the cookie goes anyway */ }
    location.href = "/";
  });
}

/** Show a refusal next to the thing it is about. */
export function say(el, text, ok = false) {
  if (!el) return;
  el.textContent = text || "";
  el.className = ok ? "okc" : "error";
}
