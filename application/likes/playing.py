"""What is playing now, as the queue aggregate has it: the one truth a like is checked against.

The read catches the cached aggregate up with one request (`CommandHandler.state`), so a like
is never judged against a projection that lags behind the log. Likes arriving together share
reads: one read per channel runs at a time, and whoever arrives while it runs waits for the
next one, which starts when it ends. Every answer was therefore read after its caller asked, and
a flood of likes costs one read per round trip, not one per like.
"""

from __future__ import annotations

from typing import Protocol

from application.log.command_handler import CommandHandler
from application.log.streams import queue_stream
from application.tasks import SharedReads
from domain.likes.model import Playing
from domain.queue.decider import queue_decider
from domain.queue.state import QueueState


class NowPlaying(Protocol):
    async def playing(self, channel: str) -> Playing | None:
        """The item playing on `channel`, or None when nothing we hold plays."""
        ...


class QueueNowPlaying:
    def __init__(self, handler: CommandHandler) -> None:
        self._handler = handler
        self._reads = SharedReads(self._read)

    async def playing(self, channel: str) -> Playing | None:
        return await self._reads.get(channel)

    async def _read(self, channel: str) -> Playing | None:
        state: QueueState = await self._handler.state(queue_decider, queue_stream(channel))
        current = state.current
        if current is None:
            return None
        return Playing(current.item_id, current.media, state.playing_since)
