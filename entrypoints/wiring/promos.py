"""Promos: the settings service and the director that slips promos in as playback moves."""

from __future__ import annotations

from collections.abc import Sequence

from attrs import define

from application.promos.director import PromoDirector
from application.promos.service import PromoService
from domain.media import Media
from domain.promos.kinds import PromoType
from entrypoints.wiring.cytube import Cytube
from entrypoints.wiring.kernel import Kernel
from entrypoints.wiring.parts import Background, Plain
from entrypoints.wiring.playlists import Playlists


@define
class Promos(Plain):
    service: PromoService
    director: PromoDirector

    def background(self) -> Sequence[Background]:
        return (Background("promo-director", self.director.run),)


def wire_promos(kernel: Kernel, cytube: Cytube, playlists: Playlists) -> Promos:
    async def pools(channel: str) -> dict[PromoType, tuple[Media, ...]]:
        found = await playlists.service.pools(channel)
        return {kind: tuple(items) for kind, items in found.items()}

    settings = kernel.settings
    director = PromoDirector(
        kernel.handler,
        kernel.tail,
        cytube.port,
        cytube.observer,
        kernel.clock,
        pools,
        channels=[settings.channel],
        pacer=cytube.pacer,
        add_retries=settings.pay_flow.add_retries,
        confirm_timeout_sec=settings.pay_flow.confirm_timeout_sec,
        telemetry=kernel.metrics.telemetry,
        defaults=settings.promos,
    )
    return Promos(PromoService(kernel.handler, defaults=settings.promos), director)
