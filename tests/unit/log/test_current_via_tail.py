"""A follower asks the command handler for an aggregate's current state: while the shared tail
has read nothing new on the stream, the cached state is the answer and the log is not read;
once the tail reads a commit from another writer, the next answer reads and includes it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from adapters.clock import VirtualClock
from adapters.log.memory_store import InMemoryEventStore
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.ports import StoredCommit, StreamId
from application.log.tail import LogTail
from domain.media import Media
from domain.queue.commands import ObserveItemQueued
from domain.queue.decider import queue_decider

AT = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
QUEUE = StreamId("lobby", "queue", "lobby")


class ReadCounting(InMemoryEventStore):
    def __init__(self) -> None:
        super().__init__()
        self.stream_reads = 0

    async def read_stream(self, stream: StreamId, after: int = 0) -> list[StoredCommit]:
        self.stream_reads += 1
        return await super().read_stream(stream, after)


async def _until(condition: object, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def _queued(uid: int) -> ObserveItemQueued:
    return ObserveItemQueued(uid, Media("yt", f"m{uid}", f"clip {uid}", 60))


@contextlib.asynccontextmanager
async def followed(
    store: InMemoryEventStore,
) -> AsyncIterator[tuple[CommandHandler, CommandHandler, list[int]]]:
    """A handler on a tail somebody follows (the positions it read so far, in `seen`), and
    another handler writing to the log itself, as another process would."""
    tail = LogTail(store)
    seen: list[int] = []

    async def follow() -> None:
        async for stored in tail.subscribe(after=0):
            seen.append(stored.position)

    follower = asyncio.create_task(follow())
    clock = VirtualClock(AT)
    try:
        yield CommandHandler(tail, clock), CommandHandler(store, clock), seen
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
        await tail.close()


async def test_current_answers_from_the_cache_until_the_tail_reads_something_new() -> None:
    store = ReadCounting()
    async with followed(store) as (handler, elsewhere, seen):
        await elsewhere.handle(queue_decider, QUEUE, _queued(1), CommandMeta.new())
        await _until(lambda: seen[-1:] == [1])

        state = await handler.current(queue_decider, QUEUE)
        assert [i.uid for i in state.items] == [1]
        reads = store.stream_reads
        again = await handler.current(queue_decider, QUEUE)
        assert again is state and store.stream_reads == reads, "nothing new: no read"

        other = StreamId("lobby", "queue", "elsewhere")
        await elsewhere.handle(queue_decider, other, _queued(7), CommandMeta.new())
        await _until(lambda: seen[-1:] == [2])
        reads = store.stream_reads
        await handler.current(queue_decider, QUEUE)
        assert store.stream_reads == reads, "a commit of another stream: no read"

        await elsewhere.handle(queue_decider, QUEUE, _queued(2), CommandMeta.new())
        await _until(lambda: seen[-1:] == [3])
        reads = store.stream_reads
        state = await handler.current(queue_decider, QUEUE)
        assert [i.uid for i in state.items] == [1, 2], "the tail read it: read and folded"
        assert store.stream_reads == reads + 1

        await handler.handle(queue_decider, QUEUE, _queued(3), CommandMeta.new())
        reads = store.stream_reads
        state = await handler.current(queue_decider, QUEUE)  # its own append: in the cache
        assert [i.uid for i in state.items] == [1, 2, 3]
        assert store.stream_reads == reads


async def test_without_a_reading_tail_current_reads_as_state_does() -> None:
    store = ReadCounting()
    tail = LogTail(store)  # nobody follows: the tail reads nothing and can tell nothing
    handler = CommandHandler(tail, VirtualClock(AT))
    elsewhere = CommandHandler(store, VirtualClock(AT))
    await elsewhere.handle(queue_decider, QUEUE, _queued(1), CommandMeta.new())
    await handler.current(queue_decider, QUEUE)
    await elsewhere.handle(queue_decider, QUEUE, _queued(2), CommandMeta.new())
    state = await handler.current(queue_decider, QUEUE)
    assert [i.uid for i in state.items] == [1, 2]
    await tail.close()


class HeldRead(ReadCounting):
    """A read the log answered at once but whose answer arrives late: `hold_next()` makes the
    next read take what the log has now and return it only once `release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self._hold: asyncio.Event | None = None

    def hold_next(self) -> asyncio.Event:
        self._hold = asyncio.Event()
        return self._hold

    async def read_stream(self, stream: StreamId, after: int = 0) -> list[StoredCommit]:
        hold, self._hold = self._hold, None
        got = await super().read_stream(stream, after)
        if hold is not None:
            await hold.wait()
        return got


async def test_a_read_that_answers_late_does_not_take_the_cache_back_to_before_a_newer_one() -> (
    None
):
    """The pay flow once missed a purchase for good (it stayed `paying`): a command's catch-up
    read, answered before the purchase landed but arriving after a follower's newer read, put
    the older state back in the cache, which `current` then served as verified."""
    store = HeldRead()
    async with followed(store) as (handler, elsewhere, seen):
        await elsewhere.handle(queue_decider, QUEUE, _queued(1), CommandMeta.new())
        await _until(lambda: seen[-1:] == [1])
        await handler.current(queue_decider, QUEUE)

        release = store.hold_next()
        slow = asyncio.create_task(handler.state(queue_decider, QUEUE))  # reads [1], late
        await asyncio.sleep(0)
        await elsewhere.handle(queue_decider, QUEUE, _queued(2), CommandMeta.new())
        await _until(lambda: seen[-1:] == [2])
        newer = await handler.current(queue_decider, QUEUE)
        assert [i.uid for i in newer.items] == [1, 2]

        release.set()
        assert [i.uid for i in (await slow).items] == [1]  # its own answer, as of its read
        state = await handler.current(queue_decider, QUEUE)
        assert [i.uid for i in state.items] == [1, 2], "the late read took the cache back"
