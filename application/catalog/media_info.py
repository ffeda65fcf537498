"""What the catalog knows of a medium, in the shape pay asks (`lookup(channel, media)`): a
purchase of a manifest URL that is a catalog item is priced with the catalog's title and
duration, whatever the buyer sent."""

from __future__ import annotations

from application.catalog.ports import CatalogIndex
from application.catalog.purchase import CYTUBE_MANIFEST
from application.pay.media_info import KnownMedia


class CatalogMediaInfo:
    """pay's `MediaInfo`, answered from the current snapshot."""

    def __init__(self, index: CatalogIndex) -> None:
        self._index = index

    async def lookup(self, channel: str, media: tuple[str, str]) -> KnownMedia | None:
        media_type, media_id = media
        if media_type != CYTUBE_MANIFEST:
            return None
        item = await self._index.by_manifest(channel, media_id)
        if item is None:
            return None
        return KnownMedia(item.title, item.duration_sec, item.available, item.unavailable_reason)
