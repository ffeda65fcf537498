"""Routes CyTube observations to the aggregate that owns them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from application.cytube.observations import Observation
from application.log.command_handler import CommandHandler, CommandMeta, Outcome
from application.log.streams import presence_stream, queue_stream
from domain.errors import Rejected
from domain.presence.model import (
    ObserveAfkChanged,
    ObserveRankChanged,
    ObserveUserJoined,
    ObserveUserLeft,
    ObserveUserList,
    presence_decider,
)
from domain.queue.decider import queue_decider
from domain.queue.events import DesyncDetected, EmptySnapshotHeld, PlaylistCountObserved

log = logging.getLogger(__name__)

#: Rejections that mean our shadow and CyTube disagree: a fresh snapshot settles it.
DESYNC_CODES = frozenset({"unknown_item", "uid_conflict"})
#: Facts the domain records when an observation shows we missed something.
DESYNC_EVENTS = (EmptySnapshotHeld, DesyncDetected, PlaylistCountObserved)

_PRESENCE = (
    ObserveUserJoined,
    ObserveUserLeft,
    ObserveAfkChanged,
    ObserveRankChanged,
    ObserveUserList,
)


class Observer:
    """The application's ObservationSink: adapters call it, it records facts in the log."""

    def __init__(
        self,
        handler: CommandHandler,
        *,
        on_desync: Callable[[str], Awaitable[None]] | None = None,
        actor: str = "cytube",
    ) -> None:
        self._handler = handler
        self._on_desync = on_desync
        self._actor = actor
        self._resyncing: dict[str, asyncio.Task[None]] = {}
        self.rejected = 0

    def set_desync_hook(self, hook: Callable[[str], Awaitable[None]] | None) -> None:
        self._on_desync = hook

    async def record(
        self, channel: str, observation: Observation, *, observation_id: str | None = None
    ) -> Outcome:
        """Record one observation; raises Rejected for one the domain refuses."""
        meta = (
            CommandMeta(observation_id, self._actor)
            if observation_id
            else CommandMeta.new(self._actor)
        )
        if isinstance(observation, _PRESENCE):
            return await self._handler.handle(
                presence_decider, presence_stream(channel), observation, meta
            )
        return await self._handler.handle(queue_decider, queue_stream(channel), observation, meta)

    async def observe(
        self, channel: str, observation: Observation, *, observation_id: str | None = None
    ) -> None:
        """ObservationSink: a refused observation is logged; a desync (refused, or recorded as
        such), or an empty snapshot we hold back, asks CyTube for a fresh snapshot."""
        try:
            outcome = await self.record(channel, observation, observation_id=observation_id)
        except Rejected as exc:
            self.rejected += 1
            log.warning("observation refused on %s: %s (%s)", channel, exc.message, exc.code)
            if exc.code in DESYNC_CODES:
                self._resync(channel)
            return
        if any(isinstance(e, DESYNC_EVENTS) for e in outcome.events):
            self._resync(channel)

    def _resync(self, channel: str) -> None:
        """In a task of its own: the reporter may be inside its own delivery when it calls us,
        and one pending resync per channel is enough however many reports disagreed."""
        if self._on_desync is None:
            return
        pending = self._resyncing.get(channel)
        if pending is not None and not pending.done():
            return
        self._resyncing[channel] = asyncio.create_task(self._run_resync(channel))

    async def _run_resync(self, channel: str) -> None:
        assert self._on_desync is not None
        try:
            await self._on_desync(channel)
        except Exception:
            log.exception("asking CyTube for a fresh snapshot of %s failed", channel)

    async def close(self) -> None:
        for task in self._resyncing.values():
            task.cancel()
        await asyncio.gather(*self._resyncing.values(), return_exceptions=True)
