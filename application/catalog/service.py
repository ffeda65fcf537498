"""The catalog as HTTP, NATS and the pages see it: search, an item, categories, snapshots and
their diff, and refresh (start, progress). Reads come from the read model alone, so they keep
answering from the last snapshot while NATS or the media library is down.

Media the channel keeps for itself (promo pools, immutable playlists) are hidden from viewers'
searches and lookups; blessed users and admins see them, marked `hidden`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from application.catalog.ports import (
    CatalogIndex,
    CategoryCount,
    ItemView,
    SearchPage,
    SearchQuery,
    SnapshotDetail,
    SnapshotInfo,
)
from application.catalog.refresh import CatalogRefresher, RefreshProgress
from application.errors import NotFoundError
from application.identity.roles import Identity, require

NonPayable = Callable[[str], Awaitable[frozenset[tuple[str, str]]]]
MAX_PER_PAGE = 100
MAX_QUERY = 200


async def _nothing(_: str) -> frozenset[tuple[str, str]]:
    return frozenset()


class CatalogService:
    def __init__(
        self,
        index: CatalogIndex,
        refresher: CatalogRefresher,
        *,
        non_payable: NonPayable | None = None,
    ) -> None:
        self.index = index
        self.refresher = refresher
        self._non_payable = non_payable or _nothing

    async def hidden_manifests(self, channel: str) -> frozenset[str]:
        return frozenset(mid for mtype, mid in await self._non_payable(channel) if mtype == "cm")

    async def search(self, who: Identity, query: SearchQuery) -> SearchPage:
        query.page = max(query.page, 1)
        query.per_page = min(max(query.per_page, 1), MAX_PER_PAGE)
        query.text = query.text[:MAX_QUERY]
        hidden = await self.hidden_manifests(query.channel)
        if not who.at_least("blessed"):
            query.exclude_manifests = hidden
        page = await self.index.search(query)
        for item in page.items:
            item.hidden = item.manifest_url in hidden
        return page

    async def item(self, channel: str, who: Identity, key: str) -> ItemView:
        item = await self.index.item(channel, key)
        hidden = await self.hidden_manifests(channel)
        if item is None or (item.manifest_url in hidden and not who.at_least("blessed")):
            raise NotFoundError("unknown_catalog_item", f"No item {key!r} in the catalog.")
        item.hidden = item.manifest_url in hidden
        return item

    async def categories(self, channel: str) -> list[CategoryCount]:
        return await self.index.categories(channel)

    async def snapshots(self, channel: str, who: Identity, limit: int = 20) -> list[SnapshotInfo]:
        require(who, "admin")
        return await self.index.snapshots(channel, min(max(limit, 1), 100))

    async def snapshot(self, channel: str, who: Identity, snapshot_id: str) -> SnapshotDetail:
        require(who, "admin")
        found = await self.index.snapshot(channel, snapshot_id)
        if found is None:
            raise NotFoundError("unknown_snapshot", f"No catalog snapshot {snapshot_id!r}.")
        return found

    async def refresh(self, who: Identity, *, full: bool = False) -> RefreshProgress:
        require(who, "admin")
        await self.refresher.start(who.user, full=full)
        return self.refresher.progress

    def progress(self, who: Identity) -> RefreshProgress:
        require(who, "admin")
        return self.refresher.progress
