// One catalog item: the price for the chosen tier (from the catalog's own length), buy, then
// the purchase's status, moved on by the live queue. Unavailable items cannot be bought.
// Blessed users add the item to their working playlist (kept in this browser for /playlists).
import { $, api, channel, checkHealth, coins, h, liveQueue, me, say, statusInfo, watchHealth, wireTopBar } from "./common.js";
import { addCatalogItem } from "./working_playlist.js";

const chan = `/api/v1/channels/${encodeURIComponent(channel)}`;
const box = $("item");
const key = box?.dataset.key;
const buyable = box?.dataset.available === "yes";
let current = null;

function tier() { return document.querySelector("input[name=tier]:checked").value; }

async function preview() {
  const text = $("preview-text");
  try {
    const p = await api(`${chan}/catalog/items/${encodeURIComponent(key)}/preview?tier=${tier()}`);
    text.replaceChildren(
      h("span", { class: "price", id: "price" }, p.cost == null ? "–" : `${coins(p.cost)} coins`), " ",
      h("span", { class: "muted" }, tier() === "playnext" ? "to play next" : "to queue"),
      h("br"),
      p.available ? h("span", { class: "okc" }, `You have ${coins(p.balance)}; it can go now.`) : h("span", { class: "error", id: "why-not" }, p.reason || "It cannot be bought now."));
    text.className = "";
  } catch (e) { text.textContent = e.message; text.className = "error"; }
}

async function buy(ev) {
  ev.preventDefault();
  const err = $("buy-error");
  say(err, "");
  const btn = $("buy-btn");
  btn.dataset.busy = "yes"; btn.disabled = true;
  try {
    const accepted = await api(`${chan}/catalog/items/${encodeURIComponent(key)}/buy`, { method: "POST", body: { tier: tier() } });
    current = accepted.request_id;
    $("status").replaceChildren(h("p", {}, h("span", { class: "badge badge-pending", id: "status-badge" }, "Paying"), " Taking the coins from your wallet."));
    setTimeout(follow, 300);
    loadWallet();
  } catch (e) { say(err, e.message); }
  finally { btn.dataset.busy = ""; checkHealth(); if (!buyable) btn.disabled = true; }
}

async function follow() {
  if (!current) return;
  let p;
  try { p = await api(`${chan}/pay-items/${encodeURIComponent(current)}`); } catch { return; }
  if (p.status !== follow.last) { follow.last = p.status; loadWallet(); preview(); }
  const info = statusInfo(p);
  $("status").replaceChildren(
    h("p", {}, h("strong", {}, p.title), " ", h("span", { class: `badge badge-${info.tone}`, id: "status-badge" }, info.label)),
    h("p", { id: "status-words" }, info.words),
    h("p", { class: "muted" }, `Paid ${coins(p.cost)}`, p.refunded ? `, back ${coins(p.refunded)}` : "", " · ", h("a", { href: "/me" }, "all your purchases")));
}

async function loadWallet() {
  try { $("balance").textContent = coins((await api(`${chan}/wallets/${encodeURIComponent(me.user)}`)).balance); }
  catch (e) { $("balance").textContent = "unknown"; $("balance").title = e.message; }
}

function addToPlaylist() {
  const added = addCatalogItem({ key, title: box.dataset.title, duration_sec: Number(box.dataset.durationSec) || 0 });
  const link = h("a", { href: "/playlists", id: "playlist-link" }, "Open the working playlist");
  const note = $("playlist-note");
  note.className = added === "already" ? "muted" : "okc";
  note.replaceChildren(added === "already" ? "It is in your working playlist already. " : `Added to your working playlist (${added} ${added === 1 ? "item" : "items"}). `, link);
}

wireTopBar();
watchHealth();
$("add-to-playlist")?.addEventListener("click", addToPlaylist);
if (key) {
  document.querySelectorAll("input[name=tier]").forEach((r) => r.addEventListener("change", preview));
  $("buy-form").addEventListener("submit", buy);
  if (!buyable) { $("buy-btn").removeAttribute("data-needs"); $("buy-btn").disabled = true; }
  preview();
  loadWallet();
  liveQueue(() => { follow(); setTimeout(follow, 400); }, null);
  setInterval(() => { if (current) follow(); }, 3000);
}
