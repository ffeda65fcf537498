"""In a `--workers` front on the simulator: the simulated channel's CyTube port and virtual
clock served on NATS, so the workers' pay flow, promos, presence and applies command the
channel the front's simulator keeps, on its time (adapters.sim.wire, adapters.sim.remote).

Each call runs in a task of its own: a slow add must not hold the next call behind it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import msgspec
from nats.aio.client import Client

from adapters.clock import ClockState, VirtualClock
from adapters.sim.wire import PortCall, PortReply, subjects
from application.cytube.port import Cytube, CytubeUnavailable

log = logging.getLogger(__name__)

_CALL = msgspec.json.Decoder(PortCall)


class SimBridge:
    def __init__(
        self,
        nc: Client,
        *,
        stream: str,
        channel: str,
        port: Cytube,
        simulator: Any,
        clock: VirtualClock,
    ) -> None:
        self._nc = nc
        self._port = port
        self._simulator = simulator
        self._clock = clock
        self._port_subject, self._clock_subject, self._changed_subject = subjects(stream, channel)
        self._subs: list[Any] = []
        self._calls: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._subs = [
            await self._nc.subscribe(self._port_subject, cb=self._on_call),
            await self._nc.subscribe(self._clock_subject, cb=self._on_clock),
        ]
        self._clock.on_change.append(self._tell)

    async def close(self) -> None:
        if self._tell in self._clock.on_change:
            self._clock.on_change.remove(self._tell)
        for sub in self._subs:
            try:
                await sub.unsubscribe()
            except Exception as exc:  # a closed connection: nothing to undo
                log.debug("sim bridge: unsubscribing: %r", exc)
        self._subs = []
        for task in list(self._calls):
            task.cancel()
        await asyncio.gather(*self._calls, return_exceptions=True)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    def _tell(self, state: ClockState) -> None:
        """The clock jumped or changed speed (the demo panel): tell every worker at once."""
        self._spawn(self._nc.publish(self._changed_subject, msgspec.json.encode(state)))

    async def _on_clock(self, msg: Any) -> None:
        await msg.respond(msgspec.json.encode(self._clock.state()))

    async def _on_call(self, msg: Any) -> None:
        self._spawn(self._answer(msg))

    async def _answer(self, msg: Any) -> None:
        try:
            call = _CALL.decode(msg.data)
        except msgspec.DecodeError as exc:
            reply = PortReply(error=f"not a port call: {exc}")
        else:
            reply = await self._run(call)
        try:
            await msg.respond(msgspec.json.encode(reply))
        except Exception as exc:  # the worker gave up, or NATS went away
            log.warning("sim bridge: could not answer a %s call: %r", msg.subject, exc)

    async def _run(self, call: PortCall) -> PortReply:
        try:
            value = await self._dispatch(call)
        except CytubeUnavailable as exc:
            return PortReply(unavailable=True, error=str(exc))
        except Exception as exc:
            log.exception("sim bridge: %s on %s failed", call.method, call.channel)
            return PortReply(unavailable=True, error=f"the simulator failed: {exc!r}")
        return PortReply(value=msgspec.Raw(msgspec.json.encode(value)))

    async def _dispatch(self, call: PortCall) -> object:
        port, channel = self._port, call.channel
        match call.method:
            case "add":
                if call.media is None:
                    raise CytubeUnavailable("add: no media in the call")
                return await port.add(channel, call.media, call.pos, call.temp)
            case "delete":
                return await port.delete(channel, call.uid)
            case "move":
                return await port.move(channel, call.uid, call.after)
            case "playlist":
                return await port.playlist(channel)
            case "read":
                return await port.read(channel)
            case "user":
                return await port.user(channel, call.name)
            case "pm":
                return await port.pm(channel, call.name, call.message)
            case "snapshot":
                return await self._simulator.snapshot()
