// Browse and search the catalog: results follow the search box as you type (a short pause,
// and an answer to an older query never replaces a newer one), category chips, sort, "only what
// can be bought", more results on demand. Keys: "/" to the search box, arrows through results.
// Blessed users add a result that can be queued to their working playlist (see /playlists).
import { $, api, channel, fmtDuration, h, me, wireTopBar, watchHealth } from "./common.js";
import { addCatalogItem } from "./working_playlist.js";

const editor = me.role === "blessed" || me.role === "admin";

const base = `/api/v1/channels/${encodeURIComponent(channel)}/catalog`;
const PER_PAGE = 24;
let page = 1;
let asked = 0; // the latest query's number: older answers are dropped
let timer = null;

function chosen() { return [...document.querySelectorAll(".chip[aria-pressed=true]")].map((b) => b.dataset.category); }

function params(p) {
  const q = new URLSearchParams({ q: $("q").value.trim(), sort: $("sort").value, page: p, per_page: PER_PAGE });
  for (const c of chosen()) q.append("category", c);
  if ($("all-cats")?.checked) q.set("category_mode", "all");
  if ($("available").checked) q.set("available_only", "true");
  return q;
}

function card(item) {
  const link = h("a", { href: `/catalog/items/${encodeURIComponent(item.key)}`, class: "result-link" }, item.title);
  const facts = h("p", { class: "facts" },
    h("span", { class: "mono" }, item.duration_sec ? fmtDuration(item.duration_sec) : "length unknown"),
    item.video_id ? h("code", { class: "vid", title: "video id" }, item.video_id) : null,
    ...item.categories.map((c) => h("span", { class: "badge" }, c)));
  const status = !item.available
    ? h("p", { class: "why" }, h("span", { class: "badge badge-bad" }, "unavailable"), " ", item.unavailable_reason || "")
    : item.hidden ? h("p", { class: "why" }, h("span", { class: "badge badge-neutral" }, "kept for promos")) : null;
  const thumb = item.thumbnail_url
    ? h("img", { class: "thumb", src: item.thumbnail_url, alt: "", loading: "lazy", width: 160, height: 90 })
    : h("span", { class: "thumb thumb-none", "aria-hidden": "true" });
  const add = editor && item.available && !item.hidden ? h("p", {}, h("button", { type: "button", class: "btn btn-small btn-quiet", "data-add": item.key, "aria-label": `Add ${item.title} to the working playlist`, onclick: (ev) => addOne(ev.currentTarget, item) }, "Add to working playlist")) : null;
  return h("li", { class: `result${item.available ? "" : " off"}` }, thumb, h("div", { class: "result-body" }, h("h3", {}, link), facts, status, add));
}

function addOne(button, item) {
  const added = addCatalogItem(item);
  const note = $("summary");
  note.className = "okc";
  note.replaceChildren(added === "already" ? `“${item.title}” is in your working playlist already. ` : `Added “${item.title}” to your working playlist (${added} ${added === 1 ? "item" : "items"}). `, h("a", { href: "/playlists" }, "Open it"));
  button.textContent = "In the working playlist";
}

async function search({ more = false } = {}) {
  const mine = ++asked;
  const p = more ? page + 1 : 1;
  let result;
  try { result = await api(`${base}/search?${params(p)}`); }
  catch (e) { if (mine === asked) { $("summary").textContent = e.message; $("summary").className = "error"; } return; }
  if (mine !== asked) return;
  page = p;
  const list = $("results");
  if (!more) list.replaceChildren();
  list.append(...result.items.map(card));
  const shown = list.children.length;
  const summary = $("summary");
  summary.className = "muted";
  if (result.snapshot_id === null) summary.textContent = "The catalog is empty: no snapshot has been made yet (an admin can refresh it).";
  else if (!result.total) summary.textContent = "Nothing matches. Try fewer words or fewer categories.";
  else summary.textContent = `${result.total.toLocaleString("en")} ${result.total === 1 ? "item" : "items"}${shown < result.total ? `, ${shown} shown` : ""}.`;
  $("more").hidden = shown >= result.total;
}

function soon() { clearTimeout(timer); timer = setTimeout(() => search(), 150); }

function links() { return [...document.querySelectorAll("#results .result-link")]; }

function onKey(ev) {
  const inField = ev.target instanceof HTMLInputElement || ev.target instanceof HTMLSelectElement;
  if (ev.key === "/" && !inField) { ev.preventDefault(); $("q").focus(); $("q").select(); return; }
  if (ev.key !== "ArrowDown" && ev.key !== "ArrowUp") return;
  const all = links();
  if (!all.length) return;
  const at = all.indexOf(document.activeElement);
  if (ev.target === $("q") && ev.key === "ArrowDown") { ev.preventDefault(); all[0].focus(); return; }
  if (at < 0) return;
  ev.preventDefault();
  if (ev.key === "ArrowUp" && at === 0) { $("q").focus(); return; }
  all[Math.max(0, Math.min(all.length - 1, at + (ev.key === "ArrowDown" ? 1 : -1)))].focus();
}

wireTopBar();
watchHealth();
$("search-form").addEventListener("submit", (ev) => { ev.preventDefault(); search(); });
$("q").addEventListener("input", soon);
$("sort").addEventListener("change", () => search());
$("available").addEventListener("change", () => search());
$("all-cats")?.addEventListener("change", () => search());
for (const chip of document.querySelectorAll(".chip")) {
  chip.addEventListener("click", () => { chip.setAttribute("aria-pressed", chip.getAttribute("aria-pressed") === "true" ? "false" : "true"); search(); });
}
$("more").addEventListener("click", () => search({ more: true }));
document.addEventListener("keydown", onKey);
const initial = new URLSearchParams(location.search).get("q");
if (initial) $("q").value = initial;
search();
