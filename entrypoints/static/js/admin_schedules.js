// The admin's scheduled events: the coming week (events, lock windows, fallbacks), a new
// schedule, and every schedule with fire now, enable/disable and delete.
import { $, api, channel, h, say, watchHealth, wireTopBar } from "./common.js";

const base = `/api/v1/channels/${encodeURIComponent(channel)}`;
const names = {};
const when = (iso) => new Date(iso).toLocaleString([], { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });

async function loadPlaylists() {
  const lists = await api(`${base}/playlists?include_hidden=true`);
  const opts = (sel, none) => { sel.replaceChildren(...(none ? [h("option", { value: "" }, "None")] : []), ...lists.filter((p) => !p.promo_type).map((p) => h("option", { value: p.playlist_id }, `${p.name} (${p.item_count} items)`))); };
  for (const p of lists) names[p.playlist_id] = p.name;
  opts($("playlist"), false);
  opts($("fallback"), true);
}

async function loadWeek() {
  const [week, fires] = await Promise.all([api(`${base}/schedules/upcoming`), api(`${base}/schedules/fires`)]);
  $("week").replaceChildren(...week.occurrences.map((o) => h("li", {}, h("strong", {}, o.label), ` ${when(o.fire_at)} → ${when(o.ends_at)}`,
    h("span", { class: "muted" }, ` · locked from ${when(o.lock_from)}${o.immutable ? " until the last item begins" : ""}${o.fallback_playlist_id ? ` · then ${names[o.fallback_playlist_id] || "the fallback"}` : ""}`))));
  $("week-empty").hidden = week.occurrences.length > 0;
  const running = fires.fires.find((f) => f.running);
  $("running").textContent = running ? ` "${running.label}" is on (until about ${when(running.estimated_end_at)}).` : " No event is on.";
  $("lift-btn").hidden = !running;
}

async function loadSchedules() {
  const out = await api(`${base}/schedules`);
  const act = (label, fn) => h("button", { type: "button", class: "btn btn-small", onclick: async () => { try { await fn(); } catch (e) { say($("form-error"), e.message); } refresh(); } }, label);
  $("schedules").querySelector("tbody").replaceChildren(...out.schedules.map((s) => h("tr", {},
    h("td", { "data-label": "Label" }, s.label, s.immutable ? "" : h("span", { class: "muted" }, " (mutable)")),
    h("td", { "data-label": "Next", class: "when" }, s.next_at ? when(s.next_at) : "—"),
    h("td", { "data-label": "Lock" }, `${s.lock_minutes} min`),
    h("td", { "data-label": "Repeats" }, s.rrule || "once"),
    h("td", { "data-label": "Fallback" }, s.fallback_playlist_id ? names[s.fallback_playlist_id] || s.fallback_playlist_id : "—"),
    h("td", { "data-label": "State" }, s.active ? "active" : "off"),
    h("td", {}, act("Fire now", () => api(`${base}/schedules/${s.schedule_id}/fire`, { method: "POST" })), " ",
      act(s.active ? "Disable" : "Enable", () => api(`${base}/schedules/${s.schedule_id}`, { method: "PATCH", body: { active: !s.active } })), " ",
      act("Delete", () => api(`${base}/schedules/${s.schedule_id}`, { method: "DELETE" }))))));
  $("schedules-empty").hidden = out.schedules.length > 0;
}

async function refresh() { await Promise.all([loadWeek(), loadSchedules()]); }

async function add(ev) {
  ev.preventDefault();
  say($("form-error"), "");
  const body = { playlist_id: $("playlist").value, label: $("label").value.trim(), fire_at: $("fire_at").value, immutable: $("immutable").checked };
  if ($("lock_minutes").value !== "") body.lock_minutes = Number($("lock_minutes").value);
  if ($("fallback").value) body.fallback_playlist_id = $("fallback").value;
  if ($("rrule").value.trim()) body.rrule = $("rrule").value.trim();
  try {
    await api(`${base}/schedules`, { method: "POST", body });
    say($("form-error"), `"${body.label}" is scheduled.`, true);
    $("label").value = "";
  } catch (e) { say($("form-error"), e.message); }
  refresh();
}

wireTopBar();
watchHealth();
$("new-form").addEventListener("submit", add);
$("lift-btn").addEventListener("click", async () => { try { await api(`${base}/schedules/lift`, { method: "POST" }); } catch (e) { say($("form-error"), e.message); } refresh(); });
(async () => { await loadPlaylists(); await refresh(); setInterval(refresh, 15000); })();
