// Top played (every signed-in user) and top liked (blessed users and admins) in a time window;
// what plays now and its likes, live from the queue socket.
import { $, h, api, channel, fmtClock, liveQueue, say, watchHealth, wireTopBar } from "./common.js";

const base = `/api/v1/channels/${encodeURIComponent(channel)}`;

function rows(tableId, emptyId, items, count) {
  const body = $(tableId).tBodies[0];
  body.replaceChildren(...items.map((it, i) => h("tr", {},
    h("td", { class: "pos" }, i + 1),
    h("td", { class: "title" }, it.title || `${it.media_type}:${it.media_id}`),
    h("td", { class: "num", "data-label": count === "plays" ? "Plays" : "Likes" }, it[count]),
    h("td", { "data-label": count === "plays" ? "Last played" : "Last liked", class: "when" },
      fmtClock(count === "plays" ? it.last_played : it.last_liked)))));
  $(emptyId).hidden = items.length > 0;
}

async function load() {
  const window = $("window").value;
  const query = window ? `?window=${encodeURIComponent(window)}&limit=20` : "?limit=20";
  $("window-words").textContent = window ? `Counted over the ${$("window").selectedOptions[0].textContent.toLowerCase()}.` : "Counted since the channel's first event.";
  try {
    rows("played", "played-empty", await api(`${base}/stats/top-played${query}`), "plays");
    say($("played-error"), "");
  } catch (e) { say($("played-error"), e.message); }
  if (!$("liked")) return;
  try {
    rows("liked", "liked-empty", await api(`${base}/likes/top-liked${query}`), "likes");
    say($("liked-error"), "");
  } catch (e) { say($("liked-error"), e.message); }
}

let shown = null;
liveQueue((q) => {
  const np = q.now_playing;
  $("now-title").textContent = np && np.item ? (np.item.title || np.item.media.id) : "nothing";
  $("now-likes").textContent = np && np.item ? `${np.likes || 0} like${np.likes === 1 ? "" : "s"}` : "–";
  const key = np && np.item ? `${np.item.item_id}:${np.likes}` : "";
  if (shown !== null && key !== shown) load();  // a play or a like: the lists may have moved
  shown = key;
});

wireTopBar();
watchHealth();
$("window").addEventListener("change", load);
$("window-form").addEventListener("submit", (e) => { e.preventDefault(); load(); });
load();
