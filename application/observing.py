"""Routes CyTube observations to the aggregate that owns them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from application.command_handler import CommandHandler, CommandMeta, Outcome
from application.observations import Observation
from application.ports import StreamId
from domain.errors import Rejected
from domain.presence.model import (
    ObserveAfkChanged,
    ObserveUserJoined,
    ObserveUserLeft,
    ObserveUserList,
    presence_decider,
)
from domain.queue.decider import queue_decider

log = logging.getLogger(__name__)

#: Rejections that mean our shadow and CyTube disagree: a fresh snapshot settles it.
DESYNC_CODES = frozenset({"unknown_item", "uid_conflict"})

_PRESENCE = (ObserveUserJoined, ObserveUserLeft, ObserveAfkChanged, ObserveUserList)


def queue_stream(channel: str) -> StreamId:
    return StreamId(channel, "queue", channel)


def presence_stream(channel: str) -> StreamId:
    return StreamId(channel, "presence", channel)


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
        """ObservationSink: a refused observation is logged, and a desync asks for a snapshot."""
        try:
            await self.record(channel, observation, observation_id=observation_id)
        except Rejected as exc:
            self.rejected += 1
            log.warning("observation refused on %s: %s (%s)", channel, exc.message, exc.code)
            if exc.code in DESYNC_CODES and self._on_desync is not None:
                await self._on_desync(channel)
