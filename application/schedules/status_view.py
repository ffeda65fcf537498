"""The viewers' event status (the lock banner on every page, `GET .../schedules/status`) from
memory.

`ScheduleService.status` reads the queue's and the schedules' aggregates through the command
handler, which costs a read of each stream's tail from the log per call: two log round trips for
every page a viewer opens. This view loads both aggregates once, then keeps them current by
following the process's log tail (`LogTail`, the one reader every follower shares), folding each
new commit of the two streams as the handler would. A render then reads no log at all.

It is a copy that trails the log by one delivery (what every follower trails by); the decision
that matters (a purchase refused with 423 inside a lock) is taken by the queue decider on the
log itself, never on this copy. Until the view has caught up (or while it restarts after the
log was unreachable), `status` falls back to the read through the handler.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from attrs import define

from application.log.command_handler import CommandHandler
from application.log.ports import EventStore, StoredCommit, release
from application.log.streams import queue_stream, schedules_stream
from application.schedules.service import EventStatusOut, ScheduleService
from domain.queue.decider import queue_decider
from domain.schedules.model import schedules_decider

log = logging.getLogger(__name__)
_RESTART_SEC = 1.0


@define
class _Held:
    queue: Any
    queue_position: int
    schedules: Any
    schedules_position: int


class ScheduleStatusView:
    def __init__(
        self,
        handler: CommandHandler,
        events: EventStore,
        service: ScheduleService,
        *,
        channels: Sequence[str],
    ) -> None:
        self._handler = handler
        self._events = events
        self._service = service
        self._channels = list(channels)
        self._held: dict[str, _Held] = {}
        self.caught_up = asyncio.Event()
        #: Renders answered from memory, and from the log (before the view caught up).
        self.from_memory = 0
        self.from_log = 0

    async def status(self, channel: str) -> EventStatusOut:
        held = self._held.get(channel)
        if held is None:
            self.from_log += 1
            return await self._service.status(channel)
        self.from_memory += 1
        return self._service.status_of(held.queue, held.schedules)

    async def run(self) -> None:
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the log went away: answer from it until back
                log.warning("schedule status view restarts: %s", exc)
                self._held.clear()
                self.caught_up.clear()
                await asyncio.sleep(_RESTART_SEC)

    async def _follow(self) -> None:
        head = await self._events.head()
        for channel in self._channels:
            q = await self._handler.load(queue_decider, queue_stream(channel))
            s = await self._handler.load(schedules_decider, schedules_stream(channel))
            self._held[channel] = _Held(q.state, q.position, s.state, s.position)
        self.caught_up.set()
        commits = self._events.subscribe(after=head)
        try:
            async for stored in commits:
                self._fold(stored)
        finally:
            await release(commits)

    def _fold(self, stored: StoredCommit) -> None:
        stream = stored.commit.stream
        held = self._held.get(stream.channel)
        if held is None:
            return
        events = stored.commit.events
        if stream == queue_stream(stream.channel) and stored.position > held.queue_position:
            for event in events:
                held.queue = queue_decider.evolve(held.queue, event)
            held.queue_position = stored.position
        elif (
            stream == schedules_stream(stream.channel) and stored.position > held.schedules_position
        ):
            for event in events:
                held.schedules = schedules_decider.evolve(held.schedules, event)
            held.schedules_position = stored.position
