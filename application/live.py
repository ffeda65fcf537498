"""Live queue fan-out: the projection announces a change, every watcher gets the new state.

Each watcher has a one-slot mailbox holding only the newest state: a slow client skips states
it could not keep up with instead of falling behind, and nobody polls.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from application.queue_view import QueueQueries, QueueView


class Watcher:
    def __init__(self, channel: str) -> None:
        self.channel = channel
        self._latest: QueueView | None = None
        self._ready = asyncio.Event()

    def offer(self, view: QueueView) -> None:
        self._latest = view
        self._ready.set()

    async def next(self) -> QueueView:
        await self._ready.wait()
        self._ready.clear()
        view, self._latest = self._latest, None
        assert view is not None
        return view


class LiveQueues:
    def __init__(self, queries: QueueQueries) -> None:
        self._queries = queries
        self._watchers: dict[str, set[Watcher]] = defaultdict(set)

    @property
    def connections(self) -> int:
        return sum(len(w) for w in self._watchers.values())

    async def watch(self, channel: str) -> Watcher:
        """A watcher whose first state is the queue as it is now."""
        watcher = Watcher(channel)
        self._watchers[channel].add(watcher)
        watcher.offer(await self._queries.queue(channel))
        return watcher

    def unwatch(self, watcher: Watcher) -> None:
        self._watchers[watcher.channel].discard(watcher)

    async def changed(self, channels: set[str], position: int) -> None:
        """Projection callback: one query per changed channel, shared by all its watchers."""
        for channel in channels:
            watchers = self._watchers.get(channel)
            if watchers:
                view = await self._queries.queue(channel)
                for watcher in watchers:
                    watcher.offer(view)
