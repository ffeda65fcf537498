"""What playlists need from the catalog: one entry by id. The catalog capability implements it
(the coordinator plugs it in); until then `NoCatalog` knows no item, so only plain media links
can be added, and an item saved with a catalog id is reported unavailable when applied."""

from __future__ import annotations

from typing import Protocol

from attrs import frozen

from domain.media import Media


@frozen
class CatalogEntry:
    """A catalog item as a playlist uses it. `available` False (with `reason`): known, but it
    cannot be queued now (a missing or invalid video id, say)."""

    item_id: str
    title: str
    duration_sec: int
    media_type: str
    media_id: str
    available: bool = True
    reason: str = ""

    @property
    def media(self) -> Media:
        return Media(self.media_type, self.media_id, self.title, self.duration_sec)


class CatalogItems(Protocol):
    async def get(self, channel: str, item_id: str) -> CatalogEntry | None: ...


class NoCatalog:
    """No catalog wired: every id is unknown."""

    async def get(self, channel: str, item_id: str) -> CatalogEntry | None:
        return None
