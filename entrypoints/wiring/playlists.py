"""Saved playlists and promo pools: the service, and the projection whose stored changes
drop the service's cached pools."""

from __future__ import annotations

from collections.abc import Sequence

from attrs import define

from application.playlists.projection import PlaylistsProjection
from application.playlists.service import PlaylistService
from entrypoints.wiring.kernel import Kernel
from entrypoints.wiring.parts import Plain, ProjectionPart


@define
class Playlists(Plain):
    service: PlaylistService
    projection: PlaylistsProjection

    def projections(self) -> Sequence[ProjectionPart]:
        return (ProjectionPart(self.projection, on_stored=self.service.rows_changed),)


def projections() -> list[PlaylistsProjection]:
    return [PlaylistsProjection()]


def wire_playlists(kernel: Kernel) -> Playlists:
    (projection,) = projections()
    service = PlaylistService(kernel.handler, kernel.read_models, kernel.clock, cache_pools=True)
    return Playlists(service, projection)
