"""Runs one projection: catch up from its checkpoint, then tail the log live.

Rows and checkpoint go in one transaction, guarded by the checkpoint we expect: if a rebuild or
another instance moved it, we drop what we hold, reload from the rows and carry on from there.
Every committed batch is announced, so live views are driven by the projection, not a poll.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from application.ports import EventStore, StoredCommit
from application.projections.base import Projection
from application.projections.ports import CheckpointMoved, ProjectionStore

log = logging.getLogger(__name__)

OnChange = Callable[[set[str], int], Awaitable[None]]
OnProgress = Callable[[int, int], None]


class ProjectionRunner:
    def __init__(
        self,
        events: EventStore,
        store: ProjectionStore,
        projection: Projection,
        *,
        batch_size: int = 500,
        on_change: OnChange | None = None,
    ) -> None:
        self._events = events
        self._store = store
        self.projection = projection
        self._batch = batch_size
        self._on_change = on_change
        self.position = 0
        self.caught_up = asyncio.Event()

    async def start(self) -> None:
        await self.projection.warm(self._store)
        self.position = await self._store.checkpoint(self.projection.name)

    async def _commit(self, batch: list[StoredCommit]) -> None:
        for stored in batch:
            self.projection.apply(stored)
        writes, touched = self.projection.flush()
        new_position = batch[-1].position
        await self._store.commit(self.projection.name, self.position, new_position, writes)
        self.position = new_position
        if self._on_change is not None and touched:
            await self._on_change(touched, new_position)

    async def catch_up(self, on_progress: OnProgress | None = None) -> int:
        """Fold everything up to the current head; returns the number of commits applied."""
        start = self.position
        head = await self._events.head()
        applied = 0
        batch: list[StoredCommit] = []
        async for stored in self._events.read_all(after=self.position):
            batch.append(stored)
            if len(batch) >= self._batch:
                await self._commit(batch)
                applied += len(batch)
                batch = []
                if on_progress:
                    on_progress(self.position - start, max(head - start, 1))
        if batch:
            await self._commit(batch)
            applied += len(batch)
        if on_progress:
            on_progress(max(head - start, 0), max(head - start, 0))
        return applied

    async def rebuild(self, on_progress: OnProgress | None = None) -> int:
        await self._store.reset(self.projection.name, self.projection.tables)
        self.projection.forget()
        self.position = 0
        return await self.catch_up(on_progress)

    async def run(self) -> None:
        """Catch up, then follow the log for ever, restarting after a moved checkpoint."""
        await self.start()
        while True:
            try:
                await self.catch_up()
                self.caught_up.set()
                await self._tail()
            except CheckpointMoved as moved:
                log.info("%s; reloading from the stored rows", moved)
                await self.start()
            except Exception as exc:
                log.exception("projection %s failed; retrying", self.projection.name)
                await self._store.record_error(self.projection.name, repr(exc))
                await asyncio.sleep(1.0)
                await self.start()

    async def _tail(self) -> None:
        queue: asyncio.Queue[StoredCommit] = asyncio.Queue(maxsize=self._batch * 4)

        async def pump() -> None:
            async for stored in self._events.subscribe(after=self.position):
                await queue.put(stored)

        pumping = asyncio.create_task(pump())
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter, pumping}, return_when="FIRST_COMPLETED")
                if getter not in done:
                    getter.cancel()
                    pumping.result()  # raises what stopped the subscription
                    return
                batch = [getter.result()]
                while len(batch) < self._batch and not queue.empty():
                    batch.append(queue.get_nowait())
                batch = [s for s in batch if s.position > self.position]
                if batch:
                    await self._commit(batch)
        finally:
            pumping.cancel()
            await asyncio.gather(pumping, return_exceptions=True)
