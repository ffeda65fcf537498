"""The catalog: its projection (the search read model), the refresher with its schedule, the
service HTTP, NATS and the pages call, buying from it, and the lookup pay may ask."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from attrs import define

from application.catalog.media_info import CatalogMediaInfo
from application.catalog.playlist_items import CatalogPlaylistItems
from application.catalog.ports import CatalogIndex, CatalogSource
from application.catalog.projection import CatalogProjection
from application.catalog.purchase import CatalogPurchases
from application.catalog.refresh import CatalogRefresher
from application.catalog.service import CatalogService
from application.health import PartHealth
from entrypoints.wiring.kernel import Kernel
from entrypoints.wiring.parts import Background, Plain, ProjectionPart
from entrypoints.wiring.pay import Pay
from entrypoints.wiring.playlists import Playlists


@define
class Catalog(Plain):
    service: CatalogService
    purchases: CatalogPurchases
    refresher: CatalogRefresher
    projection: CatalogProjection
    media_info: CatalogMediaInfo
    channel: str

    def projections(self) -> Sequence[ProjectionPart]:
        return (ProjectionPart(self.projection),)

    def background(self) -> Sequence[Background]:
        return (Background("catalog-schedule", self._schedule),)

    async def _schedule(self) -> None:
        await self.refresher.run_schedule()
        await asyncio.Event().wait()  # nothing more to do; the supervisor must not restart it

    async def close(self) -> None:
        await self.refresher.stop()
        await self.service.index.close()

    async def health(self) -> Mapping[str, PartHealth]:
        progress = self.refresher.progress
        source = self.refresher.source
        try:
            current = await self.service.index.current(self.channel)
        except Exception as exc:
            return {"catalog": PartHealth("down", f"the catalog read model fails: {exc}")}
        if progress.phase == "failed":
            kept = "searches answer from the last snapshot" if current else "no snapshot yet"
            return {
                "catalog": PartHealth(
                    "degraded", f"the last refresh from {source} failed ({progress.error}); {kept}"
                )
            }
        if progress.running:
            return {"catalog": PartHealth("ok", f"refreshing from {source} ({progress.phase})")}
        if current is None:
            return {"catalog": PartHealth("ok", f"no snapshot yet (source: {source})")}
        return {"catalog": PartHealth("ok", f"snapshot {current[:8]} from {source}")}


def projections() -> list[CatalogProjection]:
    return [CatalogProjection()]


def wire_catalog(
    kernel: Kernel,
    playlists: Playlists,
    pay: Pay,
    index: CatalogIndex,
    source: CatalogSource | None,
    *,
    owner: str,
) -> Catalog:
    settings = kernel.settings
    (projection,) = projections()
    refresher = CatalogRefresher(
        kernel.handler,
        kernel.tail,
        index,
        source,
        kernel.clock,
        channel=settings.channel,
        owner=owner,
        config=settings.catalog,
        log_available=lambda: kernel.log.nc.is_connected,
    )
    service = CatalogService(index, refresher, non_payable=playlists.service.non_payable)
    media_info = CatalogMediaInfo(index)
    pay.service.plug_media_info(media_info)  # a manifest URL bought is priced by the catalog
    playlists.plug_catalog(CatalogPlaylistItems(index))  # playlist items name catalog items
    return Catalog(
        service=service,
        purchases=CatalogPurchases(service, pay.service),
        refresher=refresher,
        projection=projection,
        media_info=media_info,
        channel=settings.channel,
    )
