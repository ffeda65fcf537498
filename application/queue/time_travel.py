"""The queue as it was: a channel's queue stream folded up to a log position or a moment.

The fold is the domain's own (`queue_decider.fold`), the rows are the shadow projection's
(`rows_for`) and the view is the live one's (`build_view`), so a view of the past has the shape
of today's and agrees with what the shadow showed then. ETAs are computed at the moment asked
about: the time given, or for a position, the time of the commit at that position.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from application.log.ports import EventStore, StoredCommit, release
from application.log.replay import BadReplayQuery
from application.log.streams import queue_stream
from application.queue.shadow import rows_for
from application.queue.view import QueueView, build_view
from domain.queue.decider import queue_decider


class TimeTravel:
    def __init__(self, events: EventStore) -> None:
        self._events = events

    async def queue(self, channel: str, as_of: int | datetime) -> QueueView:
        """The queue after the channel's last queue commit at or before `as_of`: a position
        (1 to the log head) or a time (commits at or before it; the log's order decides, so the
        fold stops at the first commit later than the time)."""
        if isinstance(as_of, int):
            moment = await self._time_at(as_of)
            position = as_of

            def within(stored: StoredCommit) -> bool:
                return stored.position <= position

        else:
            moment = as_of

            def within(stored: StoredCommit) -> bool:
                return stored.commit.at <= moment

        events: list[Any] = []
        last = 0
        for stored in await self._events.read_stream(queue_stream(channel)):
            if not within(stored):
                break
            events.extend(stored.commit.events)
            last = stored.position
        if last == 0:
            return build_view(channel, None, [], 0, moment)
        channel_row, item_rows = rows_for(channel, queue_decider.fold(channel, events), last)
        return build_view(channel, channel_row, item_rows, last, moment)

    async def _time_at(self, position: int) -> datetime:
        """When the commit at `position` was made (it may be any channel's or aggregate's)."""
        head = await self._events.head()
        if not 1 <= position <= head:
            raise BadReplayQuery(
                f"as_of position must be 1 to the log head ({head}), not {position}", "as_of"
            )
        commits = self._events.read_all(after=position - 1)
        try:
            async for stored in commits:
                return stored.commit.at
        finally:
            await release(commits)
        raise BadReplayQuery(f"no commit at position {position}", "as_of")
