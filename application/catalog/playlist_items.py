"""The catalog as playlists ask it (`application.playlists.catalog.CatalogItems`): one item
of the current snapshot by key, with the manifest URL CyTube is handed (`cm`)."""

from __future__ import annotations

from application.catalog.ports import CatalogIndex
from application.catalog.purchase import CYTUBE_MANIFEST
from application.playlists.catalog import CatalogEntry


class CatalogPlaylistItems:
    def __init__(self, index: CatalogIndex) -> None:
        self._index = index

    async def get(self, channel: str, item_id: str) -> CatalogEntry | None:
        item = await self._index.item(channel, item_id)
        if item is None:
            return None
        playable = item.available and bool(item.manifest_url)
        reason = item.unavailable_reason or ("" if playable else "it has no manifest URL")
        return CatalogEntry(
            item.key,
            item.title,
            item.duration_sec,
            CYTUBE_MANIFEST,
            item.manifest_url or "",
            available=playable,
            reason=reason,
        )
