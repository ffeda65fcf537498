// The admin's scheduled events: the coming week (events, lock windows, fallbacks), a new
// schedule, and every schedule with edit, fire now, enable/disable and delete. Every time is
// on the channel's clock (`[schedules] time_zone`), whatever the browser's zone, and says so.
import { $, api, channel, h, say, wallInput, wallTime, watchHealth, wireTopBar } from "./common.js";

const base = `/api/v1/channels/${encodeURIComponent(channel)}`;
const names = {};
const clock = (iso) => wallTime(iso, { weekday: undefined, day: undefined, month: undefined, named: false });
let editing = null; // the schedule the form edits (as listed), or null: the form makes a new one

async function loadPlaylists() {
  const lists = await api(`${base}/playlists?include_hidden=true`);
  const opts = (sel, none) => { sel.replaceChildren(...(none ? [h("option", { value: "" }, "None")] : []), ...lists.filter((p) => !p.promo_type).map((p) => h("option", { value: p.playlist_id }, `${p.name} (${p.item_count} ${p.item_count === 1 ? "item" : "items"})`))); };
  for (const p of lists) names[p.playlist_id] = p.name;
  opts($("playlist"), false);
  opts($("fallback"), true);
}

async function loadWeek() {
  const [week, fires] = await Promise.all([api(`${base}/schedules/upcoming`), api(`${base}/schedules/fires`)]);
  $("week").replaceChildren(...week.occurrences.map((o) => h("li", {}, h("strong", {}, o.label), ` ${wallTime(o.fire_at)} → ${clock(o.ends_at)}`,
    h("span", { class: "muted" }, ` · locked from ${clock(o.lock_from)}${o.immutable ? " until the last item begins" : ""}${o.fallback_playlist_id ? ` · then ${names[o.fallback_playlist_id] || "the fallback"}` : ""}`))));
  $("week-empty").hidden = week.occurrences.length > 0;
  const running = fires.fires.find((f) => f.running);
  $("running").textContent = running ? ` "${running.label}" is on (until about ${wallTime(running.estimated_end_at)}).` : " No event is on.";
  $("lift-btn").hidden = !running;
}

async function loadSchedules() {
  const out = await api(`${base}/schedules`);
  const act = (label, fn) => h("button", { type: "button", class: "btn btn-small", onclick: async () => { try { await fn(); } catch (e) { say($("form-error"), e.message); } refresh(); } }, label);
  $("schedules").querySelector("tbody").replaceChildren(...out.schedules.map((s) => h("tr", {},
    h("td", { "data-label": "Label" }, s.label, s.immutable ? "" : h("span", { class: "muted" }, " (mutable)")),
    h("td", { "data-label": "Next", class: "when" }, s.next_at ? wallTime(s.next_at, { named: false }) : "—"),
    h("td", { "data-label": "Lock" }, `${s.lock_minutes} min`),
    h("td", { "data-label": "Repeats" }, s.rrule || "once"),
    h("td", { "data-label": "Fallback" }, s.fallback_playlist_id ? names[s.fallback_playlist_id] || s.fallback_playlist_id : "—"),
    h("td", { "data-label": "State" }, s.active ? "active" : "off"),
    h("td", {}, h("button", { type: "button", class: "btn btn-small", onclick: () => edit(s) }, "Edit"), " ",
      act("Fire now", () => api(`${base}/schedules/${s.schedule_id}/fire`, { method: "POST" })), " ",
      act(s.active ? "Disable" : "Enable", () => api(`${base}/schedules/${s.schedule_id}`, { method: "PATCH", body: { active: !s.active } })), " ",
      act("Delete", () => api(`${base}/schedules/${s.schedule_id}`, { method: "DELETE" }))))));
  $("schedules-empty").hidden = out.schedules.length > 0;
}

async function refresh() { await Promise.all([loadWeek(), loadSchedules()]); }

/** The form, filled with a schedule to change, or emptied for a new one. */
function edit(s) {
  editing = s;
  say($("form-error"), "");
  $("form-h").textContent = s ? `Edit "${s.label}"` : "New schedule";
  $("add-btn").textContent = s ? "Save changes" : "Add schedule";
  $("cancel-edit").hidden = !s;
  $("playlist").value = s ? s.playlist_id : $("playlist").value;
  $("label").value = s ? s.label : "";
  $("fire_at").value = s ? wallInput(s.fire_at) : "";
  $("lock_minutes").value = s ? String(s.lock_minutes) : "";
  $("fallback").value = s ? s.fallback_playlist_id || "" : "";
  $("rrule").value = s ? s.rrule || "" : "";
  $("immutable").checked = s ? s.immutable : true;
  if (s) $("form-card").scrollIntoView({ block: "start" });
}

function fields() {
  const lock = $("lock_minutes").value;
  return {
    playlist_id: $("playlist").value,
    label: $("label").value.trim(),
    fire_at: $("fire_at").value,
    lock_minutes: lock === "" ? null : Number(lock),
    fallback_playlist_id: $("fallback").value || null,
    rrule: $("rrule").value.trim() || null,
    immutable: $("immutable").checked,
  };
}

async function save(ev) {
  ev.preventDefault();
  say($("form-error"), "");
  const f = fields();
  try {
    if (editing) {
      // Only what was changed: a setting left alone keeps its value (a default lock stays the default).
      const was = { ...editing, fire_at: wallInput(editing.fire_at), lock_minutes: editing.lock_minutes };
      const body = Object.fromEntries(Object.entries(f).filter(([k, v]) => v !== was[k]));
      if (!Object.keys(body).length) { say($("form-error"), "Nothing was changed."); return; }
      body.expected_version = editing.version;
      const out = await api(`${base}/schedules/${editing.schedule_id}`, { method: "PATCH", body });
      edit(null);
      say($("form-error"), `"${out.label}" is changed.`, true);
    } else {
      const body = Object.fromEntries(Object.entries(f).filter(([k, v]) => v !== null || !["lock_minutes", "fallback_playlist_id", "rrule"].includes(k)));
      await api(`${base}/schedules`, { method: "POST", body });
      say($("form-error"), `"${f.label}" is scheduled.`, true);
      $("label").value = "";
    }
  } catch (e) { say($("form-error"), e.message); }
  refresh();
}

wireTopBar();
watchHealth();
$("new-form").addEventListener("submit", save);
$("cancel-edit").addEventListener("click", () => edit(null));
$("lift-btn").addEventListener("click", async () => { try { await api(`${base}/schedules/lift`, { method: "POST" }); } catch (e) { say($("form-error"), e.message); } refresh(); });
(async () => { await loadPlaylists(); await refresh(); setInterval(refresh, 15000); })();
