// My purchases (their states, live), cancelling a pending one for a refund, my wallet and
// where I am signed in.
import { $, api, badge, browserName, cancellable, channel, coins, fmtClock, h, liveQueue, me, say, statusInfo, watchHealth, wireTopBar } from "./common.js";

const base = `/api/v1/channels/${encodeURIComponent(channel)}`;

async function loadPurchases() {
  if (!me.user) return;
  let list;
  try { list = await api(`${base}/purchases`); } catch (e) { return say($("cancel-error"), e.message); }
  $("purchases-empty").hidden = list.length > 0;
  $("purchases").tBodies[0].replaceChildren(...list.map((p) => {
    const info = statusInfo(p);
    const action = cancellable(p)
      ? h("button", { type: "button", class: "btn btn-small btn-danger", "data-needs": "log", "data-cancel": p.request_id, onclick: () => cancel(p) }, "Cancel and refund")
      : "";
    return h("tr", { "data-request": p.request_id },
      h("td", { class: "title" }, p.title || p.media_id, h("br"), h("span", { class: "muted" }, `${p.tier === "playnext" ? "play next" : "queue"} · ${fmtClock(p.requested_at)}`)),
      h("td", { "data-label": "Status" }, h("span", { class: `badge badge-${info.tone} status` }, info.label), h("br"), h("span", { class: "muted" }, info.words)),
      h("td", { class: "num", "data-label": "Paid" }, coins(p.cost)),
      h("td", { class: "num refunded", "data-label": "Back" }, p.refunded ? coins(p.refunded) : "–"),
      h("td", {}, action));
  }));
}

async function cancel(p) {
  const title = p.title || p.media_id;
  if (!confirm(`Cancel “${title}”? It comes off the queue and ${coins(p.cost)} coins go back to your wallet.`)) return;
  try {
    await api(`${base}/pay-items/${encodeURIComponent(p.request_id)}`, { method: "DELETE" });
    say($("cancel-error"), `Cancelled “${title}”; the refund is on its way.`, true);
  } catch (e) { say($("cancel-error"), e.message); }
  loadPurchases();
  setTimeout(loadPurchases, 500);
}

async function loadWallet() {
  try { $("balance").textContent = coins((await api(`${base}/wallets/${encodeURIComponent(me.user)}`)).balance); }
  catch (e) { $("balance").textContent = "unknown"; }
}

async function loadSessions() {
  const list = await api("/api/v1/sessions");
  $("sessions").tBodies[0].replaceChildren(...list.map((s) => h("tr", {},
    h("td", { class: "title" }, browserName(s.user_agent), s.current ? [" ", badge("this one", "good")] : ""),
    h("td", { "data-label": "Address" }, s.ip),
    h("td", { "data-label": "Last used", class: "when" }, fmtClock(s.last_seen)),
    h("td", {}, s.current ? "" : h("button", { type: "button", class: "btn btn-small", onclick: async () => { await api(`/api/v1/sessions/${s.session}`, { method: "DELETE" }); loadSessions(); } }, "Sign it out")))));
}

wireTopBar();
watchHealth();
$("signout-all-btn").addEventListener("click", async () => {
  if (!confirm("Sign out on every browser and device, this one too?")) return;
  await api("/api/v1/signout/everywhere", { method: "POST" });
  location.href = "/signin";
});
loadPurchases(); loadWallet(); loadSessions();
// A frame is announced before its rows are stored (application/queue/live.py): read at once
// and a moment later.
const refresh = () => { if (me.user) { loadPurchases(); loadWallet(); } };
liveQueue(() => { refresh(); setTimeout(refresh, 400); });
setInterval(refresh, 5000);
