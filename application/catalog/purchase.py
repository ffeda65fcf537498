"""Buying a catalog item: the item is looked up in the current snapshot and becomes the pay
item's media, so its title and duration (and therefore its price) come from the catalog, never
from the buyer, and CyTube is handed its manifest URL (`cm`). An unavailable item, or one the
channel keeps for itself, cannot be bought; the pay decider refuses the rest as for any purchase.
"""

from __future__ import annotations

from application.catalog.ports import ItemView
from application.catalog.service import CatalogService
from application.identity.roles import Identity
from application.pay.economy import Tier
from application.pay.service import Accepted, PayService, Preview
from domain.errors import Rejected
from domain.media import Media

CYTUBE_MANIFEST = "cm"


def media_of(item: ItemView) -> Media:
    """The item as CyTube plays it; refuses an item that cannot be played, saying why."""
    if not item.available or not item.manifest_url:
        raise Rejected(
            "catalog_item_unavailable",
            item.unavailable_reason or "This item cannot be played from CyTube.",
        )
    return Media(CYTUBE_MANIFEST, item.manifest_url, item.title, item.duration_sec)


class CatalogPurchases:
    def __init__(self, catalog: CatalogService, pay: PayService) -> None:
        self._catalog = catalog
        self._pay = pay

    async def _media(self, channel: str, who: Identity, key: str) -> tuple[ItemView, Media]:
        item = await self._catalog.item(channel, who, key)
        if item.hidden:
            raise Rejected(
                "media_not_payable", "This item is kept for the channel's own playlists."
            )
        return item, media_of(item)

    async def preview(self, channel: str, who: Identity, key: str, tier: Tier) -> Preview:
        try:
            _, media = await self._media(channel, who, key)
        except Rejected as exc:
            return Preview(CYTUBE_MANIFEST, key, tier, None, False, exc.code, exc.message)
        return await self._pay.preview(channel, who, media, tier)

    async def buy(
        self, channel: str, who: Identity, key: str, tier: Tier, request_id: str | None
    ) -> Accepted:
        _, media = await self._media(channel, who, key)
        return await self._pay.request(channel, who, media, tier, request_id)
