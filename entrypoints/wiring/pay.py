"""Pay-to-play: the service behind HTTP and NATS, and the flow that settles each purchase."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from attrs import define

from application.health import PartHealth
from application.pay.economy import Economy
from application.pay.flow import PayFlow
from application.pay.service import Granter, PayService
from entrypoints.wiring.cytube import Cytube
from entrypoints.wiring.kernel import Kernel
from entrypoints.wiring.parts import Background, Plain
from entrypoints.wiring.playlists import Playlists


@define
class Pay(Plain):
    service: PayService
    flow: PayFlow
    economy_watch: Any = None  # adapters.kryten.peers.PeerWatch for kryten-economy

    def background(self) -> Sequence[Background]:
        work = [Background("pay-flow", self.flow.run)]
        if self.economy_watch is not None:
            work.append(Background("kryten-economy-watch", self.economy_watch.run))
        return tuple(work)

    async def start(self) -> None:
        if self.economy_watch is not None:
            await self.economy_watch.start()

    async def close(self) -> None:
        if self.economy_watch is not None:
            await self.economy_watch.stop()
        await self.flow.stop()

    @property
    def economy_available(self) -> bool:
        """May a request that needs the economy go ahead? (Not while it is known down.)"""
        return self.economy_watch is None or self.economy_watch.available

    async def health(self) -> Mapping[str, PartHealth]:
        if self.economy_watch is None:
            return {"economy": PartHealth("ok", "local ledger")}
        return {"economy": self.economy_watch.health()}


def wire_pay(
    kernel: Kernel,
    cytube: Cytube,
    playlists: Playlists,
    economy: Economy,
    granter: Granter | None,
    *,
    economy_watch: Any = None,
) -> Pay:
    channels = [kernel.settings.channel]
    flow = PayFlow(
        kernel.handler,  # shared: its per-stream lock serialises our own writers
        kernel.tail,
        economy,
        cytube.port,
        cytube.observer,
        kernel.clock,
        channels=channels,
        config=kernel.settings.pay_flow,
        pacer=cytube.pacer,
        telemetry=kernel.metrics.telemetry,
    )
    service = PayService(
        kernel.handler,
        economy,
        kernel.read_models,
        kernel.clock,
        granter=granter,
        non_payable=playlists.service.non_payable,
    )
    return Pay(service, flow, economy_watch)
