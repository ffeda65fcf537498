// The working playlist kept in this browser (localStorage, one per channel and user), so the
// catalog pages can add to it and the playlists page shows it: { id, version, name, items,
// recipe } as the playlists page edits it. A catalog item is kept as { catalog_id, title,
// duration_sec } and saved as { catalog_id }; the server takes the catalog's title and length.
import { channel, me } from "./common.js";

const KEY = `webqueue.working-playlist.${channel}.${me.user}`;

export function loadWork() {
  try {
    const w = JSON.parse(localStorage.getItem(KEY) || "null");
    return w && Array.isArray(w.items) ? w : null;
  } catch { return null; }
}

export function storeWork(work) {
  try { localStorage.setItem(KEY, JSON.stringify(work)); } catch { /* private mode, full: the page still works */ }
}

/** Adds a catalog item at the end; "already" when it is in the list, else the new count. */
export function addCatalogItem({ key, title, duration_sec }) {
  const work = loadWork() || { id: null, version: null, name: "", items: [], recipe: null };
  if (work.items.some((i) => i.catalog_id === key)) return "already";
  work.items.push({ media_type: "", media_id: "", title, duration_sec, catalog_id: key });
  storeWork(work);
  return work.items.length;
}
