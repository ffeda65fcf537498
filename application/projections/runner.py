"""Runs one projection: catch up from its checkpoint, then tail the log live.

Rows and checkpoint go in one transaction, guarded by the checkpoint we expect: if a rebuild or
another instance moved it, we drop what we hold, reload from the rows and carry on from there.
Every batch that changed something is announced as soon as it is folded, before its
transaction, so live views are driven by the projection (from memory), not a poll.

A batch with nothing to write for this projection costs no transaction: the position moves in
memory, and the checkpoint follows with the next batch that writes, when the tail has been idle
for a moment, or at the end of a catch-up. Re-folding those commits after a crash writes nothing,
so a checkpoint that lags behind them is safe.

Catching up reads the log one batch ahead of the batch being written, so decoding the next batch
overlaps the database's work on the last one. `rebuild_many` rebuilds several projections from a
single read of the log (each still commits its own rows and checkpoint together).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence

from application.health import PartHealth
from application.log.ports import EventStore, StoredCommit
from application.projections.base import Projection
from application.projections.ports import CheckpointMoved, ProjectionStore, Write

log = logging.getLogger(__name__)

# How long the tail waits idle before it stores a checkpoint that only skipped commits moved.
IDLE_CHECKPOINT_SEC = 1.0

# After a failure (a full disk, a lost database) the runner tries again, waiting longer each
# time up to the maximum: it never gives up, and it is back within that long of the cure.
RETRY_FIRST_SEC = 0.5
RETRY_MAX_SEC = 10.0
# Behind the log and not moving for this long: /health calls the projection stalled.
STALLED_SEC = 30.0

# Commits per transaction in a rebuild: a batch rewrites every touched channel's rows once, so
# fewer, larger batches write less (the live tail keeps the runner's own, smaller batches).
REBUILD_BATCH = 2000

OnChange = Callable[[set[str], int], Awaitable[None]]
OnProgress = Callable[[int, int], None]
OnStored = Callable[[set[str]], None]  # after the transaction: the rows can be read back
Folded = tuple[int, Sequence[Write], set[str]]  # a batch folded: its last position, its writes


class ProjectionRunner:
    def __init__(
        self,
        events: EventStore,
        store: ProjectionStore,
        projection: Projection,
        *,
        batch_size: int = 500,
        on_change: OnChange | None = None,
        on_stored: OnStored | None = None,
        idle_checkpoint_sec: float = IDLE_CHECKPOINT_SEC,
    ) -> None:
        self._events = events
        self._store = store
        self.projection = projection
        self._batch = batch_size
        self._on_change = on_change
        self._on_stored = on_stored
        self._idle_checkpoint = idle_checkpoint_sec
        self.position = 0  # folded, and its rows (if any) stored, up to here
        self._folded = 0  # folded in memory up to here (ahead of `position` while it writes)
        self._stored = 0  # the checkpoint in the store
        self.caught_up = asyncio.Event()
        self.reloads = 0  # times it found its checkpoint moved and reloaded from the rows
        self.failures = 0
        self.last_error: str | None = None  # the error it is retrying after, until it recovers
        self._failing_since: float | None = None
        self._moved_at = time.monotonic()  # when `position` last moved

    async def start(self) -> None:
        await self.projection.warm(self._store)
        self.position = self._stored = await self._store.checkpoint(self.projection.name)
        self._folded = self.position

    async def _commit(self, batch: list[StoredCommit]) -> None:
        await self._store_folded(await self._fold(batch))

    async def _fold(self, batch: list[StoredCommit]) -> Folded:
        """Apply `batch` in memory and take its writes (announced before they are stored)."""
        for stored in batch:
            self.projection.apply(stored)
        writes, touched = self.projection.flush()
        folded = batch[-1].position
        self._folded = folded
        if self._on_change is not None and touched:
            # Before the transaction, not after it: the change is in memory already, and live
            # views are built from it while the database writes (see application.queue.live).
            await self._on_change(touched, folded)
        return folded, writes, touched

    async def _store_folded(self, done: Folded) -> None:
        folded, writes, touched = done
        if writes:
            await self._store_checkpoint(folded, writes)
            if self._on_stored is not None and touched:
                self._on_stored(touched)
        else:
            self._advance(folded)  # nothing of it in the rows: as good as stored

    async def _store_checkpoint(self, position: int, writes: Sequence[Write] = ()) -> None:
        """`position` moves only once the rows are in: whoever waits for a runner to reach a
        position can then read them back."""
        if writes or self._stored != position:
            await self._store.commit(self.projection.name, self._stored, position, writes)
            self._stored = position
            self._recovered()
        self._advance(position)

    def _advance(self, position: int) -> None:
        if position != self.position:
            self._moved_at = time.monotonic()
        self.position = position

    def _recovered(self) -> None:
        if self.last_error is not None:
            log.info("projection %s works again", self.projection.name)
        self.last_error = None
        self._failing_since = None

    def health(self, head: int | None) -> PartHealth:
        """Failing (retrying after an error), stalled (behind `head` and not moving), or ok."""
        now = time.monotonic()
        if self.last_error is not None:
            since = now - (self._failing_since or now)
            return PartHealth(
                "down",
                f"failing for {since:.0f}s ({self.failures} errors), retrying: {self.last_error}",
            )
        idle = now - self._moved_at
        if head is not None and head > self.position and idle > STALLED_SEC:
            return PartHealth(
                "degraded",
                f"stalled at position {self.position} for {idle:.0f}s; the log is at {head}",
            )
        return PartHealth("ok")

    async def catch_up(self, on_progress: OnProgress | None = None) -> int:
        """Fold everything up to the current head; returns the number of commits applied."""
        return await catch_up_many([self], on_progress)

    async def rebuild(self, on_progress: OnProgress | None = None) -> int:
        return await rebuild_many([self], on_progress)

    async def _reset(self) -> None:
        await self._store.reset(self.projection.name, self.projection.tables)
        self.projection.forget()
        self.position = self._stored = self._folded = 0

    async def run(self) -> None:
        """Catch up, then follow the log for ever. A moved checkpoint reloads from the rows; any
        error (a full disk, a lost database, the log away) is retried, more slowly each time,
        from the rows as stored, whatever fails while handling it too."""
        pause = RETRY_FIRST_SEC
        loaded = False
        while True:
            try:
                if not loaded:
                    await self.start()
                    loaded = True
                await self.catch_up()
                self.caught_up.set()
                self._recovered()
                pause = RETRY_FIRST_SEC
                await self._tail()
            except CheckpointMoved as moved:
                log.info("%s; reloading from the stored rows", moved)
                self.reloads += 1
                loaded = False
            except Exception as exc:
                self._failed(exc)
                log.exception(
                    "projection %s failed; retrying in %.1fs", self.projection.name, pause
                )
                with contextlib.suppress(Exception):  # the store may be what fails
                    await self._store.record_error(self.projection.name, repr(exc))
                await asyncio.sleep(pause)
                pause = min(pause * 2, RETRY_MAX_SEC)
                loaded = False  # what was folded in memory may not be stored: reload the rows

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"[:300]
        if self._failing_since is None:
            self._failing_since = time.monotonic()

    async def _tail(self) -> None:
        queue: asyncio.Queue[StoredCommit] = asyncio.Queue(maxsize=self._batch)

        async def pump() -> None:
            async for stored in self._events.subscribe(after=self.position):
                await queue.put(stored)

        pumping = asyncio.create_task(pump())
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                idle = self._idle_checkpoint if self._stored != self.position else None
                done, _ = await asyncio.wait(
                    {getter, pumping}, timeout=idle, return_when="FIRST_COMPLETED"
                )
                if not done:
                    getter.cancel()
                    await self._store_checkpoint(self.position)
                    continue
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


async def rebuild_many(
    runners: Sequence[ProjectionRunner],
    on_progress: OnProgress | None = None,
    *,
    batch_size: int = REBUILD_BATCH,
) -> int:
    """Drop and replay several projections from one read of the log (they must share its
    EventStore); returns the number of commits read."""
    for runner in runners:
        await runner._reset()
    size = max(batch_size, *(runner._batch for runner in runners))
    return await catch_up_many(runners, on_progress, batch_size=size, pipelined=True)


async def catch_up_many(
    runners: Sequence[ProjectionRunner],
    on_progress: OnProgress | None = None,
    *,
    batch_size: int | None = None,
    pipelined: bool = False,
) -> int:
    """Bring every runner up to the current head from one read of the log, starting at the
    earliest checkpoint; each runner is handed only the commits after its own position.
    Returns the number of commits read.

    `pipelined` (a rebuild): the batch after is folded (in memory) while the batch before is
    written, and a batch's writes start only once the last batch's have been stored, so for
    each runner the rows and checkpoint of batch k are in (one transaction) before those of
    batch k+1 begin, and a crash leaves every checkpoint with the rows it stands for. Not for
    the live catch-up: there each batch's change is announced to the live views and stored
    before the next is folded, so what a view shows is in the rows once its transaction ends."""
    events = runners[0]._events
    start = min(runner.position for runner in runners)
    for runner in runners:
        runner._folded = runner.position
    head = await events.head()
    size = batch_size or min(runner._batch for runner in runners)
    read = 0
    writing: asyncio.Task[None] | None = None
    try:
        async with contextlib.aclosing(_read_ahead(events, start, size)) as batches:
            async for batch in batches:
                folded: list[tuple[ProjectionRunner, Folded]] = []
                for runner in runners:
                    mine = batch if batch[0].position > runner._folded else _after(batch, runner)
                    if mine:
                        folded.append((runner, await runner._fold(mine)))
                if writing is not None:
                    await writing  # batch k stored before batch k+1 is written
                writing = asyncio.create_task(_store_all(folded))
                if not pipelined:
                    await writing
                read += len(batch)
                if on_progress:
                    on_progress(batch[-1].position - start, max(head - start, 1))
        if writing is not None:
            await writing
    finally:
        if writing is not None and not writing.done():
            # A failed fold or read: the batch being written is whole, let it finish (were this
            # cancelled, its transaction would roll back: rows and checkpoint stay together).
            await asyncio.gather(writing, return_exceptions=True)
    for runner in runners:
        await runner._store_checkpoint(runner.position)
    if on_progress:
        on_progress(max(head - start, 0), max(head - start, 0))
    return read


async def _store_all(folded: list[tuple[ProjectionRunner, Folded]]) -> None:
    for runner, done in folded:
        await runner._store_folded(done)


def _after(batch: list[StoredCommit], runner: ProjectionRunner) -> list[StoredCommit]:
    return [stored for stored in batch if stored.position > runner._folded]


async def _read_ahead(
    events: EventStore, after: int, size: int
) -> AsyncGenerator[list[StoredCommit], None]:
    """The log in batches, the next one read and decoded while the caller writes the last."""
    ready: asyncio.Queue[list[StoredCommit] | Exception | None] = asyncio.Queue(maxsize=1)

    async def read() -> None:
        try:
            batch: list[StoredCommit] = []
            async for stored in events.read_all(after=after):
                batch.append(stored)
                if len(batch) >= size:
                    await ready.put(batch)
                    batch = []
            if batch:
                await ready.put(batch)
            await ready.put(None)
        except Exception as exc:  # handed to the caller, raised there
            await ready.put(exc)

    reader = asyncio.create_task(read())
    try:
        while (item := await ready.get()) is not None:
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
