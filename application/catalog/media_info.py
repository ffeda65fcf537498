"""What the catalog knows of a medium, in the shape pay asks (`lookup(channel, media)`): a
purchase of a manifest URL that is a catalog item is priced with the catalog's title and
duration, whatever the buyer sent."""

from __future__ import annotations

from attrs import frozen

from application.catalog.ports import CatalogIndex
from application.catalog.purchase import CYTUBE_MANIFEST
from domain.media import Media


@frozen
class CatalogKnownMedia:
    title: str
    duration_sec: int
    available: bool = True
    reason: str | None = None


class CatalogMediaInfo:
    def __init__(self, index: CatalogIndex) -> None:
        self._index = index

    async def lookup(self, channel: str, media: Media) -> CatalogKnownMedia | None:
        if media.type != CYTUBE_MANIFEST:
            return None
        item = await self._index.by_manifest(channel, media.id)
        if item is None:
            return None
        return CatalogKnownMedia(
            item.title, item.duration_sec, item.available, item.unavailable_reason
        )
