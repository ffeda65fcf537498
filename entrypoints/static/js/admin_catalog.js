// The admin's catalog page: start a refresh, follow it live (Server-Sent Events), and the
// latest snapshots with their counts, errors and the changes each one brought.
import { $, api, channel, checkHealth, fmtClock, h, say, watchHealth, wireTopBar } from "./common.js";

const base = `/api/v1/channels/${encodeURIComponent(channel)}/catalog`;
const PHASES = { listing: "Listing the library", details: "Reading item details", indexing: "Writing the snapshot", completed: "Completed", failed: "Failed", idle: "Idle" };
let source = null;

function show(p) {
  const words = $("progress-words");
  const bar = $("progress-bar");
  if (!p.refresh_id) { words.textContent = "No refresh has run since the service started."; bar.hidden = true; return; }
  let done = 0, total = 0, what = "";
  if (p.phase === "listing") { done = p.listed; total = p.total || 0; what = `${p.listed.toLocaleString("en")}${p.total ? ` of ${p.total.toLocaleString("en")}` : ""} items listed`; }
  else if (p.phase === "details") { done = p.detailed; total = p.details_needed; what = `${p.detailed} of ${p.details_needed} details read`; }
  else if (p.phase === "indexing") { done = p.indexed; total = p.item_count; what = `${p.indexed.toLocaleString("en")} of ${p.item_count.toLocaleString("en")} items written`; }
  else if (p.phase === "completed") { done = total = 1; what = `${p.item_count.toLocaleString("en")} items; it is the current snapshot now`; }
  else if (p.phase === "failed") { what = p.error || ""; }
  words.replaceChildren(h("strong", { id: "phase" }, PHASES[p.phase] || p.phase), what ? `: ${what}` : "", h("span", { class: "muted" }, ` · started ${fmtClock(p.started_at)} by ${p.by}`));
  words.className = p.phase === "failed" ? "error" : "";
  bar.hidden = !["listing", "details", "indexing", "completed"].includes(p.phase);
  bar.max = Math.max(total, 1); bar.value = Math.min(done, bar.max);
  $("progress-warnings").replaceChildren(...(p.warnings || []).map((w) => h("li", { class: "banner banner-warn" }, w)));
  const running = ["listing", "details", "indexing"].includes(p.phase);
  $("refresh-btn").dataset.busy = running ? "yes" : "";
  $("refresh-btn").disabled = running;
  if (!running) { checkHealth(); loadSnapshots(p.refresh_id); }
}

function follow() {
  if (source) source.close();
  source = new EventSource(`${base}/refresh/events`);
  source.addEventListener("progress", (ev) => {
    const p = JSON.parse(ev.data);
    show(p);
    if (!["listing", "details", "indexing"].includes(p.phase)) { source.close(); source = null; }
  });
  source.onerror = () => { if (source) { source.close(); source = null; } setTimeout(async () => show(await api(`${base}/refresh`)), 1000); };
}

async function refresh() {
  say($("refresh-error"), "");
  try { show(await api(`${base}/refresh`, { method: "POST", body: { full: $("full").checked } })); follow(); }
  catch (e) { say($("refresh-error"), e.message); }
}

/** The table; after a refresh ended, read again until the read model has its end too (it
 *  follows the log a moment behind). */
async function loadSnapshots(ended = null, tries = 20) {
  let snaps;
  try { snaps = await api(`${base}/snapshots?limit=20`); } catch (e) { say($("refresh-error"), e.message); return; }
  const row = ended && snaps.find((s) => s.snapshot_id === ended);
  if (ended && tries > 0 && (!row || row.status === "running")) { setTimeout(() => loadSnapshots(ended, tries - 1), 250); }
  $("snapshots-empty").hidden = snaps.length > 0;
  const tone = { completed: "good", running: "pending", failed: "bad" };
  $("snapshots").querySelector("tbody").replaceChildren(...snaps.map((s) => h("tr", { class: "clickable", "data-id": s.snapshot_id, tabindex: 0, onclick: () => diff(s.snapshot_id), onkeydown: (ev) => { if (ev.key === "Enter") diff(s.snapshot_id); } },
    h("td", { class: "when" }, fmtClock(s.started_at)),
    h("td", {}, h("span", { class: `badge badge-${tone[s.status] || "neutral"}` }, s.status), s.current ? " " : "", s.current ? h("span", { class: "badge badge-pending" }, "current") : ""),
    h("td", { class: "num", "data-label": "Items" }, s.item_count.toLocaleString("en")),
    h("td", { class: "num", "data-label": "Added" }, s.added.toLocaleString("en")), h("td", { class: "num", "data-label": "Removed" }, s.removed.toLocaleString("en")), h("td", { class: "num", "data-label": "Changed" }, s.changed.toLocaleString("en")),
    h("td", { "data-label": "By" }, s.by),
    h("td", { class: s.reason ? "error" : "muted" }, s.reason || (s.warnings.length ? s.warnings.join(" ") : s.source)))));
}

async function diff(id) {
  const d = await api(`${base}/snapshots/${encodeURIComponent(id)}`);
  $("diff").hidden = false;
  const s = d.snapshot;
  $("diff-summary").textContent = `${fmtClock(s.started_at)}: ${s.added.toLocaleString("en")} added, ${s.removed.toLocaleString("en")} removed, ${s.changed.toLocaleString("en")} changed${d.changes.length < s.added + s.removed + s.changed ? ` (the first ${d.changes.length} are listed)` : ""}.`;
  const tone = { added: "good", removed: "bad", changed: "pending" };
  $("diff-list").replaceChildren(...d.changes.map((c) => h("li", {}, h("span", { class: `badge badge-${tone[c.kind]}` }, c.kind), " ", c.title, c.fields.length ? h("span", { class: "muted" }, ` (${c.fields.join(", ").replaceAll("_", " ")})`) : "")));
  if (!d.changes.length) $("diff-list").append(h("li", { class: "muted" }, "Nothing changed."));
}

wireTopBar();
watchHealth();
$("refresh-btn").addEventListener("click", refresh);
(async () => { const p = await api(`${base}/refresh`); show(p); if (["listing", "details", "indexing"].includes(p.phase)) follow(); })();
loadSnapshots();
