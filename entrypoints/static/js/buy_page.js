// Buying a slot: a link parsed into media type and id, the price preview with the tier, then
// the purchase's status, moved on by every change the live queue announces.
import { $, api, channel, checkHealth, coins, h, liveQueue, me, say, statusInfo, watchHealth, wireTopBar } from "./common.js";
import { parseMediaLink, TYPE_NAMES } from "./media_link.js";

const base = `/api/v1/channels/${encodeURIComponent(channel)}`;
let parsed = null;
let current = null; // request id of the purchase made on this page
let previewTimer = null;

function tier() { return document.querySelector("input[name=tier]:checked").value; }

function lengthSec() {
  const text = $("length").value.trim();
  if (!text) return null;
  const parts = text.split(":").map((p) => Number(p));
  if (parts.some((n) => !Number.isInteger(n) || n < 0) || parts.length > 3) return NaN;
  return parts.reduce((acc, n) => acc * 60 + n, 0);
}

function onLink() {
  const result = parseMediaLink($("link").value);
  const note = $("parsed");
  if (!$("link").value.trim()) { parsed = null; note.textContent = "No link yet."; note.className = "muted"; $("link").removeAttribute("aria-invalid"); return schedulePreview(); }
  if (result.error) { parsed = null; note.textContent = result.error; note.className = "error"; $("link").setAttribute("aria-invalid", "true"); }
  else { parsed = result; note.textContent = `${TYPE_NAMES[result.type] || result.type}: ${result.id}`; note.className = "muted"; $("link").removeAttribute("aria-invalid"); }
  schedulePreview();
}

function schedulePreview() { clearTimeout(previewTimer); previewTimer = setTimeout(preview, 250); }

async function preview() {
  const box = $("preview-text");
  const duration = lengthSec();
  if (!parsed) { box.textContent = "The price shows here once the link is understood."; box.className = "muted"; return; }
  if (duration === null || Number.isNaN(duration) || duration < 1) { box.textContent = "Give its length (m:ss) to see the price."; box.className = "muted"; return; }
  const q = new URLSearchParams({ media_type: parsed.type, media_id: parsed.id, duration_sec: duration, tier: tier() });
  try {
    const p = await api(`${base}/pay-items/preview?${q}`);
    // Every channel rule this purchase would break, each with its number and when it clears,
    // before anything is paid; otherwise the one reason it cannot go (or that it can).
    const rules = p.refusals || [];
    const verdict = rules.length
      ? h("ul", { class: "error", id: "preview-rules" }, ...rules.map((r) => h("li", { "data-code": r.code }, r.message)))
      : p.available ? h("span", { class: "okc" }, `You have ${coins(p.balance)}; it can go now.`) : h("span", { class: "error" }, p.reason || "It cannot be bought now.");
    box.replaceChildren(
      h("span", { class: "price" }, p.cost == null ? "–" : `${coins(p.cost)} coins`), " ",
      h("span", { class: "muted" }, tier() === "playnext" ? "to play next" : "to queue"),
      h("br"),
      ...(rules.length ? [h("span", { class: "error" }, "Not now, by the channel's rules:")] : []),
      verdict);
    box.className = "";
  } catch (e) { box.textContent = e.message; box.className = "error"; }
}

async function buy(ev) {
  ev.preventDefault();
  const err = $("buy-error");
  say(err, "");
  if (!parsed) return say(err, "Paste a link CyTube can play first.");
  const duration = lengthSec();
  if (!duration) return say(err, "Give its length (m:ss) first.");
  const btn = $("buy-btn");
  btn.dataset.busy = "yes"; btn.disabled = true;
  try {
    const body = { media_type: parsed.type, media_id: parsed.id, tier: tier(), duration_sec: duration };
    const accepted = await api(`${base}/pay-items`, { method: "POST", body });
    current = accepted.request_id;
    $("status").replaceChildren(h("p", {}, h("span", { class: "badge badge-pending", id: "status-badge" }, "Paying"), " Taking the coins from your wallet."));
    setTimeout(follow, 300);
    // The form is for the next purchase now; this one's status is beside it.
    for (const id of ["link", "length"]) $(id).value = "";
    onLink();
    $("status-h").scrollIntoView({ block: "start", behavior: "smooth" });
    loadWallet();
  } catch (e) { say(err, e.message); }
  finally { btn.dataset.busy = ""; checkHealth(); }
}

const STEPS = [["paying", "Paid"], ["adding", "Added to CyTube"], ["positioned", "In its place"], ["playing", "Playing"], ["played", "Played"]];
const ORDER = ["paying", "waiting", "adding", "positioning", "positioned", "playing", "played"];

async function follow() {
  if (!current) return;
  let p;
  try { p = await api(`${base}/pay-items/${encodeURIComponent(current)}`); } catch (e) { return; }
  if (p.status !== follow.last) { follow.last = p.status; loadWallet(); }
  const info = statusInfo(p);
  const reached = ORDER.indexOf(p.status);
  const bad = ["declined", "refunded", "refund_refused", "cancelling", "removed"].includes(p.status);
  $("status").replaceChildren(
    h("p", {}, h("strong", {}, p.title || p.media_id), " ", h("span", { class: `badge badge-${info.tone}`, id: "status-badge" }, info.label)),
    h("p", { id: "status-words" }, info.words),
    h("ol", { class: "steps" }, ...STEPS.map(([key, label]) => {
      const done = !bad && reached >= ORDER.indexOf(key) && (key !== "paying" || p.payment === "captured");
      return h("li", { class: done ? "done" : "" }, label);
    }), bad ? h("li", { class: "bad" }, info.label) : ""),
    h("p", { class: "muted" }, `Paid ${coins(p.cost)}`, p.refunded ? `, back ${coins(p.refunded)}` : "", " · ", h("a", { href: "/me" }, "all your purchases")));
}

async function loadWallet() {
  try { $("balance").textContent = coins((await api(`${base}/wallets/${encodeURIComponent(me.user)}`)).balance); }
  catch (e) { $("balance").textContent = "unknown"; $("balance").title = e.message; }
}

wireTopBar();
watchHealth();
$("link").addEventListener("input", onLink);
$("length").addEventListener("input", schedulePreview);
document.querySelectorAll("input[name=tier]").forEach((r) => r.addEventListener("change", schedulePreview));
$("buy-form").addEventListener("submit", buy);
$("topup-btn")?.addEventListener("click", async () => {
  try { await api(`/api/v1/sim/${encodeURIComponent(channel)}/wallets/${encodeURIComponent(me.user)}/top-up`, { method: "POST" }); loadWallet(); schedulePreview(); }
  catch (e) { say($("buy-error"), e.message); }
});
loadWallet();
// A frame is announced before its rows are stored (application/queue/live.py), so the status
// is read at once and again a moment later; a slow check covers what no frame announces.
liveQueue(() => { follow(); setTimeout(follow, 400); }, null);
setInterval(() => { if (current && me.user) follow(); }, 3000);
