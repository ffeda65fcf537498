// Admins: the blessed list (changes count from the user's next request), live sessions with
// revoke, and addresses blocked from sign-in codes.
import { $, api, browserName, channel, fmtClock, h, say, watchHealth, wireTopBar } from "./common.js";

const base = `/api/v1/channels/${encodeURIComponent(channel)}/blessed`;

async function loadBlessed(list) {
  list = list || (await api(base)).users;
  $("blessed-empty").hidden = list.length > 0;
  $("blessed").tBodies[0].replaceChildren(...list.map((b) => h("tr", { "data-user": b.user },
    h("td", { class: "title" }, b.user),
    h("td", { "data-label": "By" }, b.by),
    h("td", { "data-label": "When", class: "when" }, fmtClock(b.at)),
    h("td", {}, h("button", { type: "button", class: "btn btn-small btn-danger", "data-unbless": b.user, onclick: () => unbless(b.user) }, "Un-bless")))));
}

async function unbless(user) {
  if (!confirm(`Take ${user} off the blessed list? It counts from their next request.`)) return;
  try { loadBlessed((await api(`${base}/${encodeURIComponent(user)}`, { method: "DELETE" })).users); say($("bless-error"), `${user} is no longer blessed.`, true); }
  catch (e) { say($("bless-error"), e.message); }
}

async function loadSessions() {
  const list = await api("/api/v1/sessions");
  $("all-sessions").tBodies[0].replaceChildren(...list.map((s) => h("tr", {},
    h("td", { class: "title" }, s.user),
    h("td", { "data-label": "Browser", title: s.user_agent }, browserName(s.user_agent)),
    h("td", { "data-label": "Address" }, s.ip),
    h("td", { "data-label": "Last used", class: "when" }, fmtClock(s.last_seen)),
    h("td", {}, h("button", { type: "button", class: "btn btn-small btn-danger", onclick: async () => {
      if (!confirm(`Sign ${s.user} out everywhere and void their tokens?`)) return;
      try { await api(`/api/v1/users/${encodeURIComponent(s.user)}/revoke`, { method: "POST" }); loadSessions(); } catch (e) { say($("people-error"), e.message); }
    } }, "Revoke")))));
}

async function loadBlocks(list) {
  list = list || (await api("/api/v1/ip-blocks"));
  $("blocks-empty").hidden = list.length > 0;
  $("ip-blocks").tBodies[0].replaceChildren(...list.map((b) => h("tr", {},
    h("td", { class: "title" }, b.ip),
    h("td", { "data-label": "Until" }, fmtClock(b.until)),
    h("td", { "data-label": "Why" }, b.reason === "not_requested" ? "blocked from a code try nobody asked for" : `by ${b.by}`),
    h("td", {}, h("button", { type: "button", class: "btn btn-small", onclick: async () => { loadBlocks(await api(`/api/v1/ip-blocks/${encodeURIComponent(b.ip)}`, { method: "DELETE" })); } }, "Lift")))));
}

wireTopBar();
watchHealth();
if ($("bless-form")) {
  $("bless-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const user = $("bless-name").value.trim();
    if (!user) return say($("bless-name-error"), "Type a CyTube name.");
    say($("bless-name-error"), "");
    try { loadBlessed((await api(`${base}/${encodeURIComponent(user)}`, { method: "PUT" })).users); say($("bless-error"), `${user} is blessed.`, true); $("bless-name").value = ""; }
    catch (e) { say($("bless-error"), e.message); }
  });
  loadBlessed(); loadSessions(); loadBlocks();
  setInterval(loadSessions, 15000);
}
