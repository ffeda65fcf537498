// The live queue: now playing with its progress, then every item with its ETA and who bought it.
import { $, h, api, badge, channel, fmtDuration, fmtIn, kindBadge, liveQueue, me, say, wallTime, watchHealth, wireTopBar } from "./common.js";

let last = null;
let lastAt = 0;
let likedItem = null;  // the item this page liked (the button says so until the next item)

const likesInWords = (n) => (n ? `${n} like${n === 1 ? "" : "s"}` : "No likes yet");

/** The like button and the live count: the count comes with every frame of the socket. */
function renderLikes(np) {
  const itemId = np && np.item ? np.item.item_id : null;
  $("like-count").textContent = likesInWords(np && np.likes);
  const btn = $("like-btn");
  if (!btn) return;
  const liked = itemId !== null && likedItem === itemId;
  btn.setAttribute("aria-pressed", liked ? "true" : "false");
  btn.textContent = liked ? "♥ Liked" : "♥ Like";
  btn.classList.toggle("on", liked);
  if (btn.dataset.item !== itemId) { btn.dataset.item = itemId || ""; say($("like-note"), ""); }
}

async function like() {
  const btn = $("like-btn");
  const itemId = btn.dataset.item;
  if (!itemId) return;
  btn.dataset.busy = "yes"; btn.disabled = true;
  try {
    await api(`/api/v1/channels/${encodeURIComponent(channel)}/likes`, { method: "POST", body: { item_id: itemId } });
    likedItem = itemId;
    say($("like-note"), "Thanks: your like counts.", true);
  } catch (e) {
    if (e.code === "already_liked") likedItem = itemId;
    say($("like-note"), e.message);
  } finally {
    btn.dataset.busy = ""; btn.disabled = false;
    renderLikes(last && last.now_playing);
  }
}

function render(q) {
  last = q; lastAt = Date.now();
  $("position").textContent = q.position;
  const lock = q.lock;
  $("lock-banner").hidden = !lock;
  if (lock) $("lock-banner").textContent = `Pay-to-play is closed: ${lock.label}${lock.until ? ` until ${wallTime(lock.until)}` : ""}.`;
  const np = q.now_playing;
  $("now-empty").hidden = !!(np && np.item);
  $("now-body").hidden = !(np && np.item);
  if (np && np.item) {
    $("now-title").textContent = np.item.title || np.item.media.id;
    $("now-badges").replaceChildren(kindBadge(np.item.kind), np.item.pay ? badge(`bought by ${np.item.pay.paid_by}`, "pending") : "");
  } else if (np) $("now-empty").textContent = `Playing an item CyTube knows as uid ${np.uid}; its details are on their way.`;
  renderLikes(np);
  tick();
  const body = $("queue-table").tBodies[0];
  body.replaceChildren(...q.items.map((it, i) => {
    const who = it.pay ? [badge(`bought by ${it.pay.paid_by}`, it.pay.paid_by === me.user ? "good" : "pending"), " ", it.pay.tier === "playnext" ? badge("play next", "neutral") : ""] : [it.queued_by || "–"];
    if (it.pay && it.pay.owner_away_reason) who.push(" ", badge(`${it.pay.owner_away_reason === "owner_afk" ? "away" : "left"}: cancels ${fmtIn((new Date(it.pay.cancels_at) - Date.now()) / 1000)}`, "bad"));
    return h("tr", { class: it.pay && it.pay.paid_by === me.user ? "mine" : null, "data-item": it.item_id },
      h("td", { class: "pos" }, i + 1),
      h("td", { class: "title" }, it.title || it.media.id, it.temp ? [" ", badge("temp")] : ""),
      h("td", { "data-label": "Kind" }, kindBadge(it.kind), it.promo_type ? [" ", badge(it.promo_type)] : ""),
      h("td", { "data-label": "By", class: it.pay || it.queued_by ? null : "blank" }, ...who),
      h("td", { class: "num", "data-label": "Length" }, fmtDuration(it.duration_sec)),
      h("td", { class: "num", "data-label": "Starts" }, fmtIn(it.eta_sec)));
  }));
  $("queue-empty").hidden = q.items.length > 0;
}

/** Between frames, the progress moves with the clock (the frame says where it was). */
function tick() {
  const np = last?.now_playing;
  if (!np || !np.item) return;
  const passed = (Date.now() - lastAt) / 1000;
  const elapsed = Math.min((np.elapsed_sec || 0) + passed, np.item.duration_sec || Infinity);
  const length = np.item.duration_sec || 0;
  $("now-progress").max = Math.max(length, 1);
  $("now-progress").value = Math.min(elapsed, length);
  $("now-elapsed").textContent = fmtDuration(elapsed);
  $("now-length").textContent = fmtDuration(length);
  $("now-left").textContent = fmtDuration(Math.max(length - elapsed, 0));
}

wireTopBar();
watchHealth();
if ($("like-btn")) $("like-btn").addEventListener("click", like);
liveQueue(render);
setInterval(tick, 1000);

/** The next scheduled event (its lock, when on, is a banner on every page). */
async function events() {
  let s;
  try { s = await api(`/api/v1/channels/${encodeURIComponent(channel)}/schedules/status`); } catch { return; }
  const lock = s.lock;
  const next = s.next;
  $("next-event").hidden = !next || (lock && lock.label === next.label);
  if (next) $("next-event").textContent = `Next event: "${next.label}" at ${wallTime(next.fire_at)} (pay-to-play closes at ${wallTime(next.lock_from, { named: false })}).`;
}
events();
setInterval(events, 15000);
