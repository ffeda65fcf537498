"""In a worker of a `--workers` front on the simulator: the CyTube port and the virtual clock
of the front's simulated channel, over NATS (adapters.sim.bridge serves them).

A call that gets no answer (the front restarting, NATS away) raises `CytubeUnavailable`, as a
robot that does not answer does: the pay flow then finds out from the log what happened.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec
from nats.aio.client import Client
from nats.errors import Error as NatsError

from adapters.clock import ClockState, VirtualClock
from adapters.sim.wire import Method, PortCall, PortReply, subjects
from application.cytube.port import AddOutcome, AddPosition, After, CytubeUnavailable, PlaylistRead
from domain.media import Media
from domain.presence.model import ObservedUser
from domain.queue.commands import ObservedItem

log = logging.getLogger(__name__)

_REPLY = msgspec.json.Decoder(PortReply)
_CLOCK = msgspec.json.Decoder(ClockState)
_OUTCOME = msgspec.json.Decoder(AddOutcome)
_PLAYLIST = msgspec.json.Decoder(tuple[ObservedItem, ...] | None)
_READ = msgspec.json.Decoder(PlaylistRead)
_USER = msgspec.json.Decoder(ObservedUser | None)

#: A simulated add answers at once; this is only for a front that does not answer at all.
CALL_TIMEOUT_SEC = 10.0
#: How often a worker asks for the front's clock besides being told of its changes.
RESYNC_SEC = 10.0


class RemoteSimCytube:
    """The `Cytube` port of the front's simulator."""

    def __init__(
        self, nc: Client, *, stream: str, channel: str, timeout: float = CALL_TIMEOUT_SEC
    ) -> None:
        self._nc = nc
        self._subject = subjects(stream, channel)[0]
        self._timeout = timeout

    async def add(self, channel: str, media: Media, pos: AddPosition, temp: bool) -> AddOutcome:
        raw = await self._call(PortCall("add", channel, media=media, pos=pos, temp=temp))
        return _OUTCOME.decode(raw)

    async def delete(self, channel: str, uid: int) -> None:
        await self._call(PortCall("delete", channel, uid=uid))

    async def move(self, channel: str, uid: int, after: After) -> None:
        await self._call(PortCall("move", channel, uid=uid, after=after))

    async def playlist(self, channel: str) -> tuple[ObservedItem, ...] | None:
        return _PLAYLIST.decode(await self._call(PortCall("playlist", channel)))

    async def read(self, channel: str) -> PlaylistRead:
        return _READ.decode(await self._call(PortCall("read", channel)))

    async def user(self, channel: str, name: str) -> ObservedUser | None:
        return _USER.decode(await self._call(PortCall("user", channel, name=name)))

    async def pm(self, channel: str, to: str, message: str) -> None:
        await self._call(PortCall("pm", channel, name=to, message=message))

    async def snapshot(self, channel: str) -> None:
        """The observer's desync hook: the front's simulator reports its whole playlist."""
        await self._call(PortCall("snapshot", channel))

    async def _call(self, call: PortCall) -> bytes:
        what: Method = call.method
        try:
            msg = await self._nc.request(
                self._subject, msgspec.json.encode(call), timeout=self._timeout
            )
            reply = _REPLY.decode(msg.data)
        except (NatsError, TimeoutError, OSError, msgspec.DecodeError) as exc:
            log.warning("simulated channel: %s on %s: no answer: %r", what, call.channel, exc)
            raise CytubeUnavailable(
                f"{what}: no answer from the front's simulator ({exc!r})"
            ) from exc
        if reply.unavailable or reply.error is not None:
            raise CytubeUnavailable(f"{what}: {reply.error or 'unavailable'}")
        return bytes(reply.value)


class FollowedClock:
    """The front's virtual clock, run here: its state asked for at start, and every jump or
    change of speed it tells of taken as it comes (an older state than one held is ignored)."""

    def __init__(self, nc: Client, *, stream: str, channel: str) -> None:
        self._nc = nc
        _, self._ask, self._changed = subjects(stream, channel)
        self._sub: Any = None
        self.clock: VirtualClock | None = None

    async def start(self, attempts: int = 10, wait: float = 2.0) -> VirtualClock:
        self._sub = await self._nc.subscribe(self._changed, cb=self._on_changed)
        for attempt in range(attempts):
            if await self._ask_front(wait):
                assert self.clock is not None
                return self.clock
            await asyncio.sleep(min(0.2 * 2**attempt, 2.0))
        await self.close()
        raise CytubeUnavailable("the front's simulated clock did not answer")

    async def run(self, every: float = RESYNC_SEC) -> None:
        """Ask again now and then: a change told while this connection was away (a NATS
        reconnect) would otherwise be missed until the next one."""
        while True:
            await asyncio.sleep(every)
            await self._ask_front(2.0)

    async def _ask_front(self, wait: float) -> bool:
        try:
            msg = await self._nc.request(self._ask, b"", timeout=wait)
        except (NatsError, TimeoutError) as exc:
            log.info("the front's clock did not answer (%r); asking again", exc)
            return False
        self._take(msg.data)
        return True

    async def _on_changed(self, msg: Any) -> None:
        self._take(msg.data)

    def _take(self, data: bytes) -> None:
        """Run on the state told or answered (a change may come in before the first answer)."""
        state = _CLOCK.decode(data)
        if self.clock is None:
            self.clock = VirtualClock(state.start, state.speed)
        self.clock.adopt(state)

    async def close(self) -> None:
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except Exception as exc:  # a closed connection: nothing to undo
                log.debug("followed clock: unsubscribing: %r", exc)
            self._sub = None
