"""Saved playlists and promo pools: the service, the projection whose stored changes drop the
service's cached pools, the marathon builder's preview, and the apply process manager."""

from __future__ import annotations

import random
from collections.abc import Sequence

from attrs import define

from application.playlists.apply import PlaylistApplier
from application.playlists.catalog import CatalogItems
from application.playlists.marathons import MarathonService
from application.playlists.projection import PlaylistsProjection
from application.playlists.service import PlaylistService
from entrypoints.wiring.cytube import Cytube
from entrypoints.wiring.kernel import Kernel
from entrypoints.wiring.parts import Background, Plain, ProjectionPart


@define
class Playlists(Plain):
    service: PlaylistService
    projection: PlaylistsProjection
    marathons: MarathonService
    applier: PlaylistApplier

    def projections(self) -> Sequence[ProjectionPart]:
        return (ProjectionPart(self.projection, on_stored=self.service.rows_changed),)

    def background(self) -> Sequence[Background]:
        return (Background("playlist-apply", self.applier.run),)

    async def close(self) -> None:
        await self.applier.stop()

    def plug_catalog(self, catalog: CatalogItems) -> None:
        """Where catalog items are looked up (the catalog capability, once it is wired)."""
        self.service.catalog = catalog


def projections() -> list[PlaylistsProjection]:
    return [PlaylistsProjection()]


def wire_playlists(kernel: Kernel, cytube: Cytube) -> Playlists:
    (projection,) = projections()
    service = PlaylistService(kernel.handler, kernel.read_models, kernel.clock, cache_pools=True)
    applier = PlaylistApplier(
        kernel.handler,
        kernel.tail,
        cytube.port,
        cytube.observer,
        kernel.clock,
        service,
        channels=[kernel.settings.channel],
        config=kernel.settings.playlists,
        pacer=cytube.pacer,
    )
    marathons = MarathonService(service, random.Random())
    return Playlists(service, projection, marathons, applier)
