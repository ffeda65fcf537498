// Saved playlists: the list (everyone signed in), and for blessed users the working playlist
// (add media links or catalog items, found by a search box or added from the catalog's item
// page (the list is kept in this browser: working_playlist.js), reorder by drag-and-drop or Alt+arrows, save by name, with versions), the
// marathon builder (sources A, B, …, method, pattern checked as you type, seed, preview) and
// applying a playlist to the queue (modes explained, live progress and failures).
import { $, ApiError, api, channel, checkHealth, fmtClock, fmtDuration, h, me, say, watchHealth, wireTopBar } from "./common.js";
import { parseMediaLink } from "./media_link.js";
import { loadWork, storeWork } from "./working_playlist.js";

const base = `/api/v1/channels/${encodeURIComponent(channel)}`;
const editor = me.role === "blessed" || me.role === "admin";
const LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/** The working playlist: a saved one (id, version) or a new one; `recipe` when it came from
 *  the marathon builder and is not saved yet. */
const work = { id: null, version: null, name: "", items: [], recipe: null };
let saved = [];

// ---- the saved playlists --------------------------------------------------------------------
async function loadSaved() {
  try { saved = await api(`${base}/playlists`); } catch (e) { return say($("saved-error"), e.message); }
  $("saved-empty").hidden = saved.length > 0;
  $("saved").tBodies[0].replaceChildren(...saved.map((p) => h("tr", { "data-playlist": p.playlist_id },
    h("td", { class: "title" }, p.name, h("br"), h("span", { class: "muted" }, `by ${p.created_by || "?"} · changed ${fmtClock(p.updated_at)}`)),
    h("td", { class: "num", "data-label": "Items" }, p.item_count),
    h("td", { class: "num", "data-label": "Length" }, fmtDuration(p.total_duration_sec)),
    h("td", { class: "num", "data-label": "Applied" }, p.apply_count ? `${p.apply_count}× · ${fmtClock(p.last_applied_at)}` : "never"),
    h("td", {},
      h("button", { type: "button", class: "btn btn-small", "data-open": p.playlist_id, onclick: () => open(p.playlist_id) }, "Open"),
      editor ? h("button", { type: "button", class: "btn btn-small btn-quiet", "data-needs": "log", onclick: () => duplicate(p) }, "Duplicate") : "",
      editor ? h("button", { type: "button", class: "btn btn-small btn-danger", "data-needs": "log", onclick: () => remove(p) }, "Delete") : ""))));
  if (editor) { renderSources(); renderApplySelect(); }
}

async function open(id) {
  try {
    const p = await api(`${base}/playlists/${id}`);
    Object.assign(work, { id: p.playlist_id, version: p.version, name: p.name, items: p.items.map(copyItem), recipe: null });
    if (editor) $("save-name").value = p.name;
    $("editor-title").textContent = p.name;
    $("editor-meta").textContent = `Saved by ${p.created_by || "?"} on ${fmtClock(p.created_at)}; version ${p.version}.${p.recipe ? ` A marathon (${p.recipe.method}${p.recipe.pattern ? ` ${p.recipe.pattern}` : ""}${p.recipe.seed != null ? `, seed ${p.recipe.seed}` : ""}).` : ""}`;
    render();
  } catch (e) { say($("saved-error"), e.message); }
}

async function duplicate(p) {
  try {
    const copy = await api(`${base}/playlists/${p.playlist_id}/duplicate`, { method: "POST", body: {} });
    say($("saved-error"), `Copied as “${copy.name}”.`, true);
    await loadSaved();
    open(copy.playlist_id);
  } catch (e) { say($("saved-error"), e.message); }
}

async function remove(p) {
  if (!confirm(`Delete the playlist “${p.name}”? Its ${p.item_count} items go with it; the queue is not touched.`)) return;
  try {
    await api(`${base}/playlists/${p.playlist_id}`, { method: "DELETE" });
    if (work.id === p.playlist_id) newList();
    say($("saved-error"), `Deleted “${p.name}”.`, true);
  } catch (e) { say($("saved-error"), e.message); }
  setTimeout(loadSaved, 300);
}

// ---- the working playlist -------------------------------------------------------------------
const copyItem = (i) => ({ media_type: i.media_type, media_id: i.media_id, title: i.title, duration_sec: i.duration_sec, catalog_id: i.catalog_id ?? null });
const body = (i) => (i.catalog_id ? { catalog_id: i.catalog_id } : { media_type: i.media_type, media_id: i.media_id, title: i.title, duration_sec: i.duration_sec });

function move(from, to, focus = true) {
  if (to < 0 || to >= work.items.length || from === to) return;
  const [item] = work.items.splice(from, 1);
  work.items.splice(to, 0, item);
  render();
  if (focus) $("worklist").children[to]?.focus();
  say($("save-msg"), `Moved “${item.title || item.media_id}” to position ${to + 1}.`, true);
}

function render() {
  const list = $("worklist");
  list.replaceChildren(...work.items.map((item, i) => {
    const li = h("li", { tabindex: editor ? 0 : -1, draggable: editor ? "true" : false, "data-index": i, "data-media": item.catalog_id || item.media_id, "aria-label": `${i + 1}. ${item.title || item.media_id}` },
      h("span", { class: "grow" }, item.title || item.media_id, " ", item.catalog_id ? h("span", { class: "badge" }, "catalog") : h("span", { class: "muted" }, `${item.media_type}:${item.media_id}`)),
      h("span", { class: "muted" }, fmtDuration(item.duration_sec)),
      editor ? [
        h("button", { type: "button", class: "btn btn-small btn-quiet", "aria-label": `Move ${item.title || item.media_id} up`, onclick: () => move(i, i - 1) }, "↑"),
        h("button", { type: "button", class: "btn btn-small btn-quiet", "aria-label": `Move ${item.title || item.media_id} down`, onclick: () => move(i, i + 1) }, "↓"),
        h("button", { type: "button", class: "btn btn-small btn-quiet", "aria-label": `Remove ${item.title || item.media_id}`, onclick: () => { work.items.splice(i, 1); render(); } }, "✕"),
      ] : "");
    if (editor) wireDrag(li, i);
    return li;
  }));
  $("worklist-empty").hidden = work.items.length > 0;
  const total = work.items.reduce((s, i) => s + (i.duration_sec || 0), 0);
  $("worklist-total").textContent = work.items.length ? `${work.items.length} items, ${fmtDuration(total)} in all.` : "";
  if (editor) storeWork(work);
}

/** The working playlist kept in this browser (added to from the catalog's item pages). */
function restore() {
  const kept = loadWork();
  if (!kept) return;
  Object.assign(work, { id: kept.id ?? null, version: kept.version ?? null, name: kept.name || "", items: kept.items.map(copyItem), recipe: kept.recipe ?? null });
  $("save-name").value = work.name;
  $("editor-title").textContent = work.name || "Working playlist";
  if (work.items.length) $("editor-meta").textContent = `Kept in this browser since you left it${work.id ? ` (saved as “${work.name}”, version ${work.version}: save again to keep changes)` : ", not saved yet"}.`;
}

// ---- adding from the catalog ------------------------------------------------------------------
let catalogAsked = 0;
let catalogTimer = null;
async function searchCatalog() {
  const mine = ++catalogAsked;
  const q = $("catalog-q").value.trim();
  const list = $("catalog-results");
  if (!q) { list.replaceChildren(); return say($("catalog-msg"), "", true); }
  let r;
  try { r = await api(`${base}/catalog/search?${new URLSearchParams({ q, per_page: 8, available_only: "true" })}`); }
  catch (e) { if (mine === catalogAsked) say($("catalog-msg"), e.message); return; }
  if (mine !== catalogAsked) return;
  list.replaceChildren(...r.items.map((item) => h("li", { "data-key": item.key },
    h("span", { class: "grow" }, item.title), h("span", { class: "muted" }, fmtDuration(item.duration_sec)),
    h("button", { type: "button", class: "btn btn-small", "aria-label": `Add ${item.title}`, onclick: () => addFound(item) }, "Add"))));
  say($("catalog-msg"), r.total ? `${r.total} found${r.total > r.items.length ? `, the first ${r.items.length} shown` : ""}.` : "Nothing that can be queued matches.", r.total > 0);
  $("catalog-msg").classList.add("muted");
}

function addFound(item) {
  if (work.items.some((i) => i.catalog_id === item.key)) return say($("catalog-msg"), `“${item.title}” is in the list already.`);
  work.items.push({ media_type: "", media_id: "", title: item.title, duration_sec: item.duration_sec, catalog_id: item.key });
  render();
  say($("catalog-msg"), `Added “${item.title}” (item ${work.items.length}).`, true);
}

function catalogKeys(ev) {
  if (ev.key !== "ArrowDown" && ev.key !== "ArrowUp") return;
  const buttons = [...$("catalog-results").querySelectorAll("button")];
  if (!buttons.length) return;
  const at = buttons.indexOf(document.activeElement);
  if (ev.target === $("catalog-q")) { if (ev.key === "ArrowDown") { ev.preventDefault(); buttons[0].focus(); } return; }
  if (at < 0) return;
  ev.preventDefault();
  if (ev.key === "ArrowUp" && at === 0) return $("catalog-q").focus();
  buttons[Math.min(buttons.length - 1, at + (ev.key === "ArrowDown" ? 1 : -1))].focus();
}

let dragFrom = null;
function wireDrag(li, i) {
  li.addEventListener("dragstart", (ev) => { dragFrom = i; li.classList.add("dragging"); ev.dataTransfer.effectAllowed = "move"; ev.dataTransfer.setData("text/plain", String(i)); });
  li.addEventListener("dragend", () => { li.classList.remove("dragging"); dragFrom = null; });
  li.addEventListener("dragover", (ev) => { ev.preventDefault(); li.classList.add("over"); });
  li.addEventListener("dragleave", () => li.classList.remove("over"));
  li.addEventListener("drop", (ev) => {
    ev.preventDefault();
    li.classList.remove("over");
    const from = dragFrom ?? Number(ev.dataTransfer.getData("text/plain"));
    if (Number.isInteger(from)) move(from, i, false);
  });
  li.addEventListener("keydown", (ev) => {
    if (ev.target !== li) return;
    if (ev.altKey && ev.key === "ArrowUp") { ev.preventDefault(); move(i, i - 1); }
    else if (ev.altKey && ev.key === "ArrowDown") { ev.preventDefault(); move(i, i + 1); }
    else if (ev.key === "ArrowUp") { ev.preventDefault(); li.previousElementSibling?.focus(); }
    else if (ev.key === "ArrowDown") { ev.preventDefault(); li.nextElementSibling?.focus(); }
    else if (ev.key === "Delete") { ev.preventDefault(); work.items.splice(i, 1); render(); $("worklist").children[Math.min(i, work.items.length - 1)]?.focus(); }
  });
}

function parseLength(text) {
  const t = (text || "").trim();
  if (!t) return 0;
  if (!/^\d+(:\d{1,2}){0,2}$/.test(t)) return null;
  return t.split(":").map(Number).reduce((s, n) => s * 60 + n, 0);
}

function newList() {
  Object.assign(work, { id: null, version: null, name: "", items: [], recipe: null });
  $("save-name").value = "";
  $("editor-title").textContent = "Working playlist";
  $("editor-meta").textContent = "Add media links, put them in order, and save the list under a name.";
  render();
}

async function save(asNew) {
  const name = $("save-name").value.trim();
  const msg = $("save-msg");
  if (!name) return say(msg, "Give the playlist a name first.");
  if (!work.items.length) return say(msg, "The list is empty: add something first.");
  try {
    let p;
    if (work.id && !asNew) {
      p = await api(`${base}/playlists/${work.id}`, { method: "PATCH", body: { name, items: work.items.map(body), expected_version: work.version } });
    } else if (work.recipe) {
      p = await api(`${base}/marathons`, { method: "POST", body: { ...work.recipe, name, items: work.items.map(body) } });
    } else {
      p = await api(`${base}/playlists`, { method: "POST", body: { name, items: work.items.map(body) } });
    }
    Object.assign(work, { id: p.playlist_id, version: p.version, name: p.name, recipe: null });
    storeWork(work);
    $("editor-title").textContent = p.name;
    $("editor-meta").textContent = `Saved by ${p.created_by} on ${fmtClock(p.created_at)}; version ${p.version}.`;
    say(msg, `Saved “${p.name}” (${p.item_count} ${p.item_count === 1 ? "item" : "items"}).`, true);
    setTimeout(loadSaved, 300);
  } catch (e) {
    if (e instanceof ApiError && e.code === "version_conflict") {
      say(msg, `${e.message} Open it again to see the other change; your order is still here to redo.`);
    } else say(msg, e.message);
  }
}

// ---- the marathon builder -------------------------------------------------------------------
let chosen = [];  // playlist ids in the order chosen: A, B, …
let lastPreview = null;

function renderSources() {
  chosen = chosen.filter((id) => saved.some((p) => p.playlist_id === id));
  $("sources").replaceChildren(...saved.map((p) => h("label", { class: "choice" },
    h("input", { type: "checkbox", value: p.playlist_id, checked: chosen.includes(p.playlist_id), onchange: (ev) => {
      chosen = ev.target.checked ? [...chosen, p.playlist_id] : chosen.filter((x) => x !== p.playlist_id);
      showOrder(); schedulePreview();
    } }),
    h("span", {}, p.name, " ", h("span", { class: "muted" }, `${p.item_count} items`)))));
  showOrder();
}

function showOrder() {
  $("sources-order").replaceChildren(...(chosen.length ? chosen.flatMap((id, i) => [h("span", { class: "label-chip" }, LABELS[i]), " ", saved.find((p) => p.playlist_id === id)?.name || id, i < chosen.length - 1 ? " · " : ""]) : ["None chosen."]));
}

const method = () => document.querySelector("input[name=method]:checked").value;
function showMethodFields() {
  $("pattern-box").hidden = method() !== "interleave";
  $("seed-box").hidden = method() !== "shuffle";
}

function recipe() {
  const seedText = $("seed").value.trim();
  const r = { sources: chosen, method: method(), keep_run_order: $("run-order").checked };
  if (r.method === "interleave") r.pattern = $("pattern").value;
  if (r.method === "shuffle" && seedText) r.seed = Number(seedText);
  return r;
}

let previewTimer = null;
function schedulePreview() { clearTimeout(previewTimer); previewTimer = setTimeout(preview, 250); }

async function preview() {
  const msg = $("preview-msg");
  const patternError = $("pattern-error");
  $("pattern").removeAttribute("aria-invalid");
  say(patternError, "");
  if (!chosen.length) { $("preview-list").replaceChildren(); lastPreview = null; return say(msg, "Choose at least one playlist.", false); }
  const r = recipe();
  if (r.method === "shuffle" && $("seed").value.trim() && !/^\d+$/.test($("seed").value.trim())) return say($("seed-error"), "A seed is a whole number.");
  say($("seed-error"), "");
  try {
    lastPreview = await api(`${base}/marathons/preview`, { method: "POST", body: r });
  } catch (e) {
    lastPreview = null;
    $("preview-list").replaceChildren();
    if (e instanceof ApiError && e.code === "invalid_pattern") {
      $("pattern").setAttribute("aria-invalid", "true");
      say(patternError, e.message);
      return say(msg, "");
    }
    return say(msg, e.message);
  }
  const p = lastPreview;
  $("preview-list").replaceChildren(...p.items.map((i) => h("li", { "data-media": i.media_id },
    h("span", { class: "label-chip" }, i.source), h("span", { class: "grow" }, i.title || i.media_id), h("span", { class: "muted" }, fmtDuration(i.duration_sec)))));
  const notes = [`${p.items.length} items, ${fmtDuration(p.total_duration_sec)}.`];
  if (p.seed != null) notes.push(`Seed ${p.seed} (enter it again for the same order).`);
  if (p.dropped_repeats) notes.push(`${p.dropped_repeats} repeats dropped (CyTube takes each media once).`);
  if (p.unused_sources.length) notes.push(`The pattern never names ${p.unused_sources.join(", ")}: left out.`);
  say(msg, notes.join(" "), true);
}

function usePreview() {
  if (!lastPreview) return say($("preview-msg"), "Preview first.");
  const p = lastPreview;
  Object.assign(work, { id: null, version: null, items: p.items.map(copyItem), recipe: { ...recipe(), seed: p.seed ?? undefined } });
  const name = `Marathon: ${p.sources.map((s) => s.name).join(" + ")}`.slice(0, 200);
  $("save-name").value = name;
  $("editor-title").textContent = "Working playlist (a marathon, not saved yet)";
  $("editor-meta").textContent = "Reorder it if you like, then save it under a name.";
  render();
  $("editor-card").scrollIntoView({ behavior: "smooth" });
  $("worklist").firstElementChild?.focus();
}

// ---- apply ---------------------------------------------------------------------------------
let modes = [];
function renderApplySelect() {
  const select = $("apply-playlist");
  const keep = select.value || work.id;
  select.replaceChildren(...saved.map((p) => h("option", { value: p.playlist_id, selected: p.playlist_id === keep }, `${p.name} (${p.item_count} ${p.item_count === 1 ? "item" : "items"})`)));
}

async function loadModes() {
  modes = (await api(`${base}/playlist-applies/modes`)).modes;
  const names = { preserve_current: "Preserve current", append: "Append", hard_replace: "Hard-replace" };
  $("modes").replaceChildren(...modes.map((m, i) => h("label", { class: "choice" },
    h("input", { type: "radio", name: "mode", value: m.mode, checked: i === 0, disabled: !m.allowed, onchange: showHardWarning }),
    h("span", {}, h("strong", {}, names[m.mode] || m.mode), `: ${m.explanation}`,
      m.allowed ? "" : h("span", { class: "muted" }, " You may not use this mode: it is for admins, unless the service allows it for blessed users.")))));
}
const chosenMode = () => document.querySelector("input[name=mode]:checked")?.value || "preserve_current";
function showHardWarning() { $("hard-warning").hidden = chosenMode() !== "hard_replace"; }

async function applyNow() {
  const id = $("apply-playlist").value;
  const msg = $("apply-msg");
  if (!id) return say(msg, "Save a playlist first.");
  const mode = chosenMode();
  const name = saved.find((p) => p.playlist_id === id)?.name || "this playlist";
  if (mode === "hard_replace" && !confirm(`Hard-replace: remove everything, including what is playing now, and play “${name}”?`)) return;
  try {
    const s = await api(`${base}/playlists/${id}/apply`, { method: "POST", body: { mode } });
    say(msg, `Applying “${s.playlist_name}”.`, true);
    showProgress(s);
  } catch (e) {
    say(msg, e instanceof ApiError && e.code === "apply_running" ? `${e.message}` : e.message);
  }
}

function showProgress(s) {
  if (!s) return;
  $("apply-progress").hidden = false;
  const done = s.queued + s.failed;
  $("apply-bar").max = Math.max(1, s.total);
  $("apply-bar").value = done;
  const state = s.status === "running" ? (s.cleared ? "adding" : "clearing the queue") : s.status;
  $("apply-summary").textContent = `“${s.playlist_name}” (${s.mode.replace("_", " ")}): ${state}; ${s.queued} of ${s.total} queued${s.failed ? `, ${s.failed} failed` : ""}${s.removed ? `; ${s.removed} removed from the queue` : ""}.`;
  $("apply-failures").replaceChildren(...s.failures.map((f) => h("li", { class: "bad" }, `${f.position + 1}. ${f.title || f.media_id}: ${f.reason.replaceAll("_", " ")}${f.detail ? ` (${f.detail})` : ""}`)));
  if (s.status !== "running") setTimeout(loadSaved, 500);
}

function liveApplies() {
  const status = $("apply-live");
  const connect = () => {
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${base}/playlist-applies/live`);
    ws.onopen = () => { status.textContent = "live"; status.className = "live on"; };
    ws.onmessage = (ev) => showProgress(JSON.parse(ev.data));
    ws.onclose = () => { status.textContent = "not live: reconnecting…"; status.className = "live off"; checkHealth(); setTimeout(connect, 1500); };
  };
  connect();
}

// ---- wiring --------------------------------------------------------------------------------
wireTopBar();
watchHealth();
if (editor) restore();
render();
loadSaved();
if (editor) {
  $("catalog-form").addEventListener("submit", (ev) => { ev.preventDefault(); clearTimeout(catalogTimer); searchCatalog(); });
  $("catalog-q").addEventListener("input", () => { clearTimeout(catalogTimer); catalogTimer = setTimeout(searchCatalog, 150); });
  $("catalog-form").addEventListener("keydown", catalogKeys);
  // an item added from the catalog in another tab shows here too
  window.addEventListener("storage", () => { restore(); render(); });
  $("add-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const parsed = parseMediaLink($("item-link").value);
    if (parsed.error) return say($("item-link-error"), parsed.error);
    const seconds = parseLength($("item-length").value);
    if (seconds == null) return say($("item-length-error"), "Write the length as m:ss or h:mm:ss.");
    if (work.items.some((i) => i.media_type === parsed.type && i.media_id === parsed.id)) return say($("item-link-error"), "That media is in the list already (CyTube takes each once).");
    say($("item-link-error"), ""); say($("item-length-error"), "");
    work.items.push({ media_type: parsed.type, media_id: parsed.id, title: $("item-title").value.trim(), duration_sec: seconds, catalog_id: null });
    for (const id of ["item-link", "item-title", "item-length"]) $(id).value = "";
    render();
    $("item-link").focus();
  });
  $("save-btn").addEventListener("click", () => save(false));
  $("save-new-btn").addEventListener("click", () => save(true));
  $("new-btn").addEventListener("click", newList);
  for (const r of document.querySelectorAll("input[name=method]")) r.addEventListener("change", () => { showMethodFields(); schedulePreview(); });
  for (const id of ["pattern", "seed"]) $(id).addEventListener("input", schedulePreview);
  $("run-order").addEventListener("change", schedulePreview);
  $("preview-btn").addEventListener("click", preview);
  $("use-preview-btn").addEventListener("click", usePreview);
  $("apply-btn").addEventListener("click", applyNow);
  showMethodFields();
  loadModes();
  liveApplies();
}
