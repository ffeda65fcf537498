"""CyTube: what it reports recorded in the log (the observer), the port the process managers
command it through, the add pacer they share, and whatever watches the channel (the simulated
one, or Kryten-Robot's events)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from attrs import define

from application.cytube.observing import Observer
from application.cytube.pacing import AddPacer
from application.cytube.port import Cytube as CytubePort
from entrypoints.wiring.kernel import Kernel
from entrypoints.wiring.parts import Background, Plain


@define
class Cytube(Plain):
    observer: Observer
    port: CytubePort
    pacer: AddPacer
    simulator: Any = None  # adapters.sim.channel.SimulatedChannel on the embedded default
    inbound: Any = None  # adapters.kryten.inbound.KrytenInbound against a real channel

    def background(self) -> Sequence[Background]:
        if self.simulator is None:
            return ()
        return (Background("simulator", self.simulator.run),)

    async def start(self) -> None:
        if self.inbound is not None:
            await self.inbound.start()

    async def close(self) -> None:
        if self.inbound is not None:
            await self.inbound.stop()
        await self.observer.close()


def wire_cytube(
    kernel: Kernel,
    observer: Observer,
    port: CytubePort,
    *,
    simulator: Any = None,
    inbound: Any = None,
) -> Cytube:
    pacer = AddPacer(kernel.clock, kernel.settings.pay_flow.add_delay_sec)
    return Cytube(observer, port, pacer, simulator, inbound)
