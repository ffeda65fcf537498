"""Pay-to-play: the service behind HTTP and NATS, and the flow that settles each purchase."""

from __future__ import annotations

from collections.abc import Sequence

from attrs import define

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

    def background(self) -> Sequence[Background]:
        return (Background("pay-flow", self.flow.run),)

    async def close(self) -> None:
        await self.flow.stop()


def wire_pay(
    kernel: Kernel,
    cytube: Cytube,
    playlists: Playlists,
    economy: Economy,
    granter: Granter | None,
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
    return Pay(service, flow)
