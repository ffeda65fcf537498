"""CyTube: what it reports recorded in the log (the observer), the port the process managers
command it through, the add pacer they share, and whatever watches the channel (the simulated
one, or Kryten-Robot's events, its lifecycle and the snapshots that heal every gap)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from attrs import define

from application.cytube.observing import Observer
from application.cytube.pacing import AddPacer
from application.cytube.port import Cytube as CytubePort
from application.cytube.resync import Resync
from application.health import PartHealth
from entrypoints.wiring.kernel import Kernel
from entrypoints.wiring.parts import Background, Plain


@define
class Cytube(Plain):
    observer: Observer
    port: CytubePort
    pacer: AddPacer
    channel: str = ""
    simulator: Any = None  # adapters.sim.channel.SimulatedChannel on the embedded default
    inbound: Any = None  # adapters.kryten.inbound.KrytenInbound against a real channel
    resync: Resync | None = None  # fresh snapshots at start and after every gap
    watch: Any = None  # adapters.kryten.peers.PeerWatch: is the robot there?
    # Under leases, Kryten's events are listened to by a background task the channel's lease
    # guards ("kryten-inbound"), not from start: only the channel's owner ingests them.
    leased: bool = False
    # Does this instance hold the channel's lease now? (None: no leases, it always does.)
    owns: Callable[[], bool] | None = None
    # A `--workers` front on the simulator serves its port and clock to the workers
    # (adapters.sim.bridge); a worker follows the front's clock (adapters.sim.remote).
    bridge: Any = None
    followed_clock: Any = None

    def background(self) -> Sequence[Background]:
        work = []
        if self.simulator is not None:
            work.append(Background("simulator", self.simulator.run))
        if self.followed_clock is not None:
            work.append(Background("sim-clock", self.followed_clock.run))
        if self.watch is not None:
            work.append(Background("kryten-robot-watch", self.watch.run))
        if self.leased and self.inbound is not None:
            work.append(Background("kryten-inbound", self._observe))
        return tuple(work)

    async def start(self) -> None:
        if self.bridge is not None:
            await self.bridge.start()
        if self.inbound is not None and not self.leased:
            await self.inbound.start()
        if self.watch is not None:
            await self.watch.start()
        if self.resync is not None and not self.leased:
            # Subscribed first, so nothing between the snapshot and the events is lost.
            self.resync.request(self.channel, "start")

    async def _observe(self) -> None:
        """Listen to Kryten-Robot's events (and heal the gap with a snapshot) while this runs:
        for as long as this instance holds the channel's lease."""
        await self.inbound.start()
        if self.resync is not None:
            self.resync.request(self.channel, "channel lease taken")
        try:
            await asyncio.Event().wait()
        finally:  # lease lost or service stopping: stop listening, even if cancelled again
            await asyncio.shield(self._stop_observing())

    async def _stop_observing(self) -> None:
        await self.inbound.stop()
        if self.resync is not None:
            await self.resync.close()

    async def close(self) -> None:
        if self.bridge is not None:
            await self.bridge.close()
        if self.followed_clock is not None:
            await self.followed_clock.close()
        if self.watch is not None:
            await self.watch.stop()
        if self.resync is not None:
            await self.resync.close()
        if self.inbound is not None:
            await self.inbound.stop()
        await self.observer.close()

    @property
    def available(self) -> bool:
        """May a request that needs CyTube go ahead? (Not while the robot is known down.)"""
        return self.watch is None or self.watch.available

    async def health(self) -> Mapping[str, PartHealth]:
        parts: dict[str, PartHealth] = {}
        if self.watch is None:
            where = " (in the front)" if self.followed_clock is not None else ""
            parts["cytube"] = PartHealth("ok", f"simulated channel{where}")
        else:
            part = self.watch.health()
            notes = [part.detail] if part.detail else []
            if self.resync is not None and self.resync.stats.last_error:
                notes.append(f"last snapshot failed: {self.resync.stats.last_error}")
            parts["cytube"] = PartHealth(part.status, "; ".join(notes) or None)
        if self.simulator is not None:
            parts["simulator"] = self.simulator.health()
        if self.inbound is not None:
            if self.inbound.running:
                parts["kryten-inbound"] = PartHealth("ok")
            elif self.owns is not None and not self.owns():
                # Only the channel's owner listens: a standby not listening is as it should be.
                parts["kryten-inbound"] = PartHealth(
                    "ok", "standby: the instance holding the channel's lease listens"
                )
            else:
                parts["kryten-inbound"] = PartHealth(
                    "down", "not listening to Kryten-Robot's events"
                )
        return parts


def wire_cytube(
    kernel: Kernel,
    observer: Observer,
    port: CytubePort,
    *,
    simulator: Any = None,
    inbound: Any = None,
    resync: Resync | None = None,
    watch: Any = None,
    leased: bool = False,
    owns: Callable[[], bool] | None = None,
    bridge: Any = None,
    followed_clock: Any = None,
) -> Cytube:
    pacer = AddPacer(kernel.clock, kernel.settings.pay_flow.add_delay_sec)
    return Cytube(
        observer,
        port,
        pacer,
        kernel.settings.channel,
        simulator,
        inbound,
        resync,
        watch,
        leased,
        owns,
        bridge,
        followed_clock,
    )
