"""CyTube: the port the process managers command it through, and whatever watches it (the
simulated channel, or Kryten-Robot's events)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from attrs import define

from application.queue.cytube import Cytube as CytubePort
from entrypoints.wiring.parts import Background, Plain


@define
class Cytube(Plain):
    port: CytubePort
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


def wire_cytube(port: CytubePort, *, simulator: Any = None, inbound: Any = None) -> Cytube:
    return Cytube(port, simulator, inbound)
