"""One shared reader of the log for every follower, and back pressure on intake by their lag."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from adapters.log.memory_store import InMemoryEventStore
from application.cytube.observations import Observation, PacedObservations
from application.log.intake import Busy, Intake, IntakeConfig
from application.log.ports import Commit, StoredCommit, StreamId
from application.log.tail import LogTail
from domain.media import Media
from domain.queue.commands import ObserveItemDeleted
from domain.queue.events import ItemAdded
from tests.following import positions

AT = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


class CountingStore(InMemoryEventStore):
    """The in-memory log, counting how many times it is followed and read back."""

    def __init__(self) -> None:
        super().__init__()
        self.subscriptions = 0
        self.read_backs = 0

    async def subscribe(  # type: ignore[override]
        self, after: int = 0, channel: str | None = None
    ) -> AsyncIterator[StoredCommit]:
        self.subscriptions += 1
        async for stored in super().subscribe(after, channel):
            yield stored

    async def read_all(  # type: ignore[override]
        self, after: int = 0, channel: str | None = None
    ) -> AsyncIterator[StoredCommit]:
        self.read_backs += 1
        async for stored in super().read_all(after, channel):
            yield stored


async def append(tail: LogTail, n: int, channel: str = "lobby") -> None:
    """n commits, each on a stream of its own."""
    for i in range(n):
        stream = StreamId(channel, "queue", f"s{i}-{id(object())}")
        media = Media("yt", f"m{i}", "clip", 60)
        event = ItemAdded(f"q{i}", i + 1, media, False, "ann", None)
        await tail.append(Commit(f"c{i}-{id(stream)}", stream, 1, AT, "test", (event,)), 0)


class Held:
    """A follower that takes the next commit only when allowed to."""

    def __init__(self, tail: LogTail) -> None:
        self.got: list[int] = []
        self._permits: asyncio.Queue[None] = asyncio.Queue()
        self._took = asyncio.Event()
        self.task = asyncio.create_task(self._run(tail))

    async def _run(self, tail: LogTail) -> None:
        async for stored in tail.subscribe(after=0):
            self.got.append(stored.position)
            self._took.set()
            await self._permits.get()

    async def allow(self, n: int) -> None:
        target = len(self.got) + n
        for _ in range(n):
            self._permits.put_nowait(None)
        while len(self.got) < target:
            self._took.clear()
            await self._took.wait()

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


@pytest.fixture
def store() -> CountingStore:
    return CountingStore()


async def test_every_follower_gets_every_commit_once_in_order_from_one_reader(
    store: CountingStore,
) -> None:
    tail = LogTail(store)
    await append(tail, 5)
    followers = [asyncio.create_task(positions(tail.subscribe(after=a), 20 - a)) for a in (0, 3, 5)]
    await asyncio.sleep(0)
    await append(tail, 15)
    results = await asyncio.wait_for(asyncio.gather(*followers), 5)
    assert results == [list(range(a + 1, 21)) for a in (0, 3, 5)]
    assert store.subscriptions == 1
    await tail.close()


async def test_a_follower_left_behind_the_kept_commits_reads_them_back_from_the_log(
    store: CountingStore,
) -> None:
    tail = LogTail(store, keep=4)
    slow = Held(tail)
    fast = asyncio.create_task(positions(tail.subscribe(after=0), 30))
    await asyncio.sleep(0)
    await append(tail, 30)
    assert await asyncio.wait_for(fast, 5) == list(range(1, 31))
    # The slow one holds its first commit while the tail moves on far past what it keeps:
    # memory stays bounded, and the slow one still gets every commit, once and in order.
    await asyncio.wait_for(slow.allow(29), 5)
    assert slow.got == list(range(1, 31))
    assert store.subscriptions == 1 and store.read_backs >= 1
    await slow.stop()
    await tail.close()


async def test_lag_is_what_the_slowest_follower_has_yet_to_take(store: CountingStore) -> None:
    tail = LogTail(store)
    assert tail.lag() == 0  # nobody follows
    slow = Held(tail)
    fast = asyncio.create_task(positions(tail.subscribe(after=0), 10))
    await asyncio.sleep(0)
    await append(tail, 10)
    await asyncio.wait_for(fast, 5)
    assert slow.got == [1] and tail.lag() == 9
    waiting = asyncio.create_task(tail.lag_at_most(4))
    await slow.allow(4)
    await asyncio.sleep(0)
    assert not waiting.done()  # still 5 behind
    await slow.allow(1)
    await asyncio.wait_for(waiting, 1)
    assert tail.lag() == 4
    await slow.stop()
    assert tail.lag() == 0  # a follower that left holds nobody back
    await tail.close()


async def test_a_command_waits_for_the_backlog_then_goes_ahead(store: CountingStore) -> None:
    tail = LogTail(store)
    intake = Intake(tail, IntakeConfig(max_lag=3, wait_sec=5))
    slow = Held(tail)
    await asyncio.sleep(0)
    await append(tail, 8)
    admitted = asyncio.create_task(intake.admit())
    await asyncio.sleep(0.05)
    assert not admitted.done()
    await slow.allow(4)
    await asyncio.wait_for(admitted, 1)
    assert intake.waited == 1 and intake.refused == 0
    await slow.stop()
    await tail.close()


async def test_a_command_is_refused_as_busy_when_the_backlog_does_not_clear(
    store: CountingStore,
) -> None:
    tail = LogTail(store)
    intake = Intake(tail, IntakeConfig(max_lag=3, wait_sec=0.1))
    slow = Held(tail)
    await asyncio.sleep(0)
    await append(tail, 8)
    await asyncio.sleep(0)
    with pytest.raises(Busy):
        await intake.admit()
    assert intake.refused == 1
    await slow.stop()
    await tail.close()


async def test_an_observation_is_recorded_after_the_wait_even_if_the_backlog_stays(
    store: CountingStore,
) -> None:
    tail = LogTail(store)
    intake = Intake(tail, IntakeConfig(max_lag=3, wait_sec=0.05))
    slow = Held(tail)
    recorded: list[Observation] = []

    class Sink:
        async def observe(
            self, channel: str, observation: Observation, *, observation_id: str | None = None
        ) -> None:
            recorded.append(observation)

    await asyncio.sleep(0)
    await append(tail, 8)
    await asyncio.sleep(0)
    await PacedObservations(Sink(), intake).observe("lobby", ObserveItemDeleted(7))
    assert recorded == [ObserveItemDeleted(7)]
    assert intake.waited == 1 and intake.refused == 0
    await slow.stop()
    await tail.close()


class BreakingStore(CountingStore):
    """A log whose first subscriptions end after a few commits: with an error (a connection
    cut), or quietly (a consumer that went away)."""

    def __init__(self, breaks: list[tuple[int, Exception | None]]) -> None:
        super().__init__()
        self.breaks = breaks  # (commits handed out, then what ends it), one per subscription
        self.starts: list[int] = []

    async def subscribe(  # type: ignore[override]
        self, after: int = 0, channel: str | None = None
    ) -> AsyncIterator[StoredCommit]:
        self.starts.append(after)
        plan = self.breaks.pop(0) if self.breaks else None
        handed = 0
        async for stored in super().subscribe(after, channel):
            if plan is not None and handed == plan[0]:
                if plan[1] is not None:
                    raise plan[1]
                return
            handed += 1
            yield stored


async def test_the_tail_starts_its_subscription_again_after_it_fails_or_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from application.log import tail as tail_module
    from application.log.ports import StoreUnavailable

    monkeypatch.setattr(tail_module, "_RESTART_SEC", 0.01)
    store = BreakingStore([(3, StoreUnavailable("connection cut")), (4, None)])
    tail = LogTail(store)
    follower = asyncio.create_task(positions(tail.subscribe(after=0), 12))
    await asyncio.sleep(0)
    await append(tail, 12)
    got = await asyncio.wait_for(follower, 5)
    assert got == list(range(1, 13))  # every commit once, in order, across both breaks
    assert store.starts == [0, 3, 7]  # each time from the last commit it handed out
    await tail.close()


class RewindingStore(CountingStore):
    """A log whose subscription, started again, begins a few commits before where it was asked
    to (as a new consumer on a redelivering server may): the tail must not hand those out
    twice."""

    def __init__(self, rewind: int) -> None:
        super().__init__()
        self.rewind = rewind
        self.starts: list[int] = []
        self.broke = False

    async def subscribe(  # type: ignore[override]
        self, after: int = 0, channel: str | None = None
    ) -> AsyncIterator[StoredCommit]:
        self.starts.append(after)
        first = len(self.starts) == 1
        start = after if first else max(after - self.rewind, 0)
        async for stored in super().subscribe(start, channel):
            if first and stored.position == 5:
                self.broke = True
                raise ConnectionError("cut after 5")
            yield stored


async def test_a_restarted_subscription_that_starts_early_hands_out_nothing_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from application.log import tail as tail_module

    monkeypatch.setattr(tail_module, "_RESTART_SEC", 0.01)
    store = RewindingStore(rewind=3)
    tail = LogTail(store)
    follower = asyncio.create_task(positions(tail.subscribe(after=0), 10))
    await asyncio.sleep(0)
    await append(tail, 10)
    got = await asyncio.wait_for(follower, 5)
    assert store.broke and store.starts == [0, 4]
    assert got == list(range(1, 11))  # 2, 3 and 4 came again from the log, and were dropped
    await tail.close()
