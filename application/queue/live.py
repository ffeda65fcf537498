"""Live queue fan-out: the projection announces a change, every watcher gets the new state.

The queue shadow announces a batch as soon as it has folded it, before its SQL transaction
runs, and the view is built from the rows that batch is about to write (the same rows, so the
same view `QueueQueries.queue` reads back once they are committed). Each change is encoded to
JSON once and the same text is handed to every watcher of the channel.

Each watcher has a one-slot mailbox holding only the newest frame: a slow client skips states
it could not keep up with instead of falling behind, and nobody polls.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import msgspec

from application.queue.shadow import QueueShadowProjection
from application.queue.view import QueueQueries, QueueView

_encode = msgspec.json.Encoder().encode


def encode_frame(view: QueueView) -> str:
    """A view as the live socket sends it: one JSON text frame."""
    return _encode(view).decode()


class Watcher:
    """One socket's mailbox: the newest frame not yet taken, and whether the socket is gone."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self._latest: str | None = None
        self._closed = False
        self._ready = asyncio.Event()

    def offer(self, frame: str) -> None:
        self._latest = frame
        self._ready.set()

    def close(self) -> None:
        """Wake `next` with None: the socket went away."""
        self._closed = True
        self._ready.set()

    async def next(self) -> str | None:
        """The newest frame since the last call (waiting for one), or None once closed."""
        await self._ready.wait()
        self._ready.clear()
        if self._closed:
            return None
        frame, self._latest = self._latest, None
        assert frame is not None
        return frame


# A channel's rows as the projection last announced them, and the log position of that batch.
_Known = tuple[dict[str, Any], list[dict[str, Any]], int]


class LiveQueues:
    def __init__(self, queries: QueueQueries, shadow: QueueShadowProjection) -> None:
        self._queries = queries
        self._shadow = shadow
        self._watchers: dict[str, set[Watcher]] = defaultdict(set)
        self._known: dict[str, _Known] = {}

    @property
    def connections(self) -> int:
        return sum(len(w) for w in self._watchers.values())

    async def watch(self, channel: str) -> Watcher:
        """A watcher whose first frame is the queue as it is now."""
        watcher = Watcher(channel)
        self._watchers[channel].add(watcher)
        if channel not in self._known:
            # Nothing announced for it since we started: its rows in SQL are current, as no
            # batch touching it is in flight (a batch is announced before it is written).
            view = await self._queries.queue(channel)
            if channel not in self._known:  # else a change came while we read: it is newer
                watcher.offer(encode_frame(view))
                return watcher
        watcher.offer(self._frame(channel))
        return watcher

    def unwatch(self, watcher: Watcher) -> None:
        watchers = self._watchers.get(watcher.channel)
        if watchers is not None:
            watchers.discard(watcher)
            if not watchers:
                del self._watchers[watcher.channel]

    async def changed(self, channels: set[str], position: int) -> None:
        """Projection callback, called once the batch up to `position` is folded and before it is
        written: one view and one JSON text per changed channel, shared by all its watchers."""
        for channel in channels:
            rows = self._shadow.flushed_rows(channel)
            if rows is None:  # a touched channel was flushed; defensive only
                continue
            self._known[channel] = (rows[0], rows[1], position)
            watchers = self._watchers.get(channel)
            if watchers:
                frame = self._frame(channel)
                for watcher in watchers:
                    watcher.offer(frame)

    async def refresh(self, channel: str) -> None:
        """Something the view shows besides the queue's rows changed (now-playing's likes):
        the channel's watchers get the view again, built from the rows last announced (or
        read, when nothing was announced since the start)."""
        watchers = self._watchers.get(channel)
        if not watchers:
            return
        if channel in self._known:
            frame = self._frame(channel)
        else:
            frame = encode_frame(await self._queries.queue(channel))
            if channel in self._known:  # a change came while we read: it is newer
                frame = self._frame(channel)
        for watcher in list(watchers):
            watcher.offer(frame)

    def _frame(self, channel: str) -> str:
        channel_row, item_rows, position = self._known[channel]
        return encode_frame(self._queries.build(channel, channel_row, item_rows, position))
