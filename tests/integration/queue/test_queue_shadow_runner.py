"""The queue shadow projection over a real SQLite file: catch up, tail live, rebuild, restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.clock import VirtualClock
from adapters.log.memory_store import InMemoryEventStore
from adapters.sql.projection_store import SqlProjectionStore, sqlite_url
from application.cytube.observing import Observer
from application.log.command_handler import CommandHandler
from application.projections.runner import ProjectionRunner
from application.queue.shadow import QueueShadowProjection
from application.queue.view import QueueQueries
from domain.media import Media
from domain.presence.model import ObservedUser, ObserveUserJoined
from domain.queue.commands import ObserveItemDeleted, ObserveItemQueued, ObserveNowPlaying

START = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)


@pytest.fixture
async def world(
    tmp_path: Path,
) -> AsyncIterator[tuple[InMemoryEventStore, SqlProjectionStore, VirtualClock, Observer]]:
    events = InMemoryEventStore()
    pstore = SqlProjectionStore(sqlite_url(tmp_path / "read.db"))
    await pstore.prepare()
    clock = VirtualClock(START, speed=1.0)
    yield events, pstore, clock, Observer(CommandHandler(events, clock))
    await pstore.close()


async def seed(observer: Observer, channel: str = "lobby") -> None:
    for uid, minutes in [(1, 3), (2, 4), (3, 97)]:
        media = Media("yt", f"m{uid}", f"Item {uid}", minutes * 60)
        await observer.observe(channel, ObserveItemQueued(uid, media, after=uid - 1 or "prepend"))
    await observer.observe(channel, ObserveNowPlaying(1))


async def test_catch_up_builds_the_queue_with_etas(world) -> None:  # type: ignore[no-untyped-def]
    events, pstore, clock, observer = world
    await seed(observer)
    runner = ProjectionRunner(events, pstore, QueueShadowProjection())
    await runner.start()
    assert await runner.catch_up() == 4
    clock.advance(60)
    view = await QueueQueries(pstore, clock).queue("lobby")
    assert view.position == await events.head()
    assert view.now_playing is not None and view.now_playing.item is not None
    assert view.now_playing.item.uid == 1 and view.now_playing.remaining_sec == pytest.approx(
        120, abs=1
    )
    # Each item change takes CyTube 5 s more: 2 s after the end, then a 3 s lead-in.
    assert [(i.uid, i.eta_sec) for i in view.items] == [
        (2, pytest.approx(125, abs=1)),
        (3, pytest.approx(370, abs=1)),
    ]


async def test_live_tail_announces_each_change(world) -> None:  # type: ignore[no-untyped-def]
    events, pstore, clock, observer = world
    changes: asyncio.Queue[tuple[set[str], int]] = asyncio.Queue()

    async def on_change(channels: set[str], position: int) -> None:
        await changes.put((channels, position))

    runner = ProjectionRunner(events, pstore, QueueShadowProjection(), on_change=on_change)
    task = asyncio.create_task(runner.run())
    await asyncio.wait_for(runner.caught_up.wait(), 5)
    await seed(observer, "movie night")
    seen: set[str] = set()
    announced = 0
    while announced < await events.head():
        channels, announced = await asyncio.wait_for(changes.get(), 5)
        seen |= channels
    assert seen == {"movie night"}
    await observer.observe("movie night", ObserveItemDeleted(2))
    _, position = await asyncio.wait_for(changes.get(), 5)
    # Announced as soon as it is folded, before its transaction: the rows follow right after.
    for _ in range(500):
        if await pstore.checkpoint(QueueShadowProjection.name) == position:
            break
        await asyncio.sleep(0.01)
    view = await QueueQueries(pstore, clock).queue("movie night")
    assert view.position == position and [i.uid for i in view.items] == [3]
    task.cancel()


async def test_rebuild_gives_the_same_rows_as_the_live_projection(world) -> None:  # type: ignore[no-untyped-def]
    events, pstore, _clock, observer = world
    await seed(observer)
    await seed(observer, "other")
    await observer.observe("lobby", ObserveNowPlaying(2))
    runner = ProjectionRunner(events, pstore, QueueShadowProjection(), batch_size=2)
    await runner.start()
    await runner.catch_up()

    async def rows() -> list[list[dict[str, object]]]:
        return [
            await pstore.fetch("queue_items", order_by=("channel", "position")),
            await pstore.fetch("queue_channels", order_by=("channel",)),
        ]

    before = await rows()
    progress: list[tuple[int, int]] = []
    await runner.rebuild(lambda done, total: progress.append((done, total)))
    assert await rows() == before
    assert len(before[0]) == 6
    assert progress[-1][0] == progress[-1][1] == await events.head()


async def test_a_runner_whose_checkpoint_was_moved_reloads_and_stays_correct(world) -> None:  # type: ignore[no-untyped-def]
    events, pstore, clock, observer = world
    await seed(observer)
    live = ProjectionRunner(events, pstore, QueueShadowProjection())
    task = asyncio.create_task(live.run())
    await asyncio.wait_for(live.caught_up.wait(), 5)
    # Another process starts a rebuild underneath it: the rows are dropped and the checkpoint
    # goes back to 0 (where the rebuild then replays from). Then a new observation arrives: the
    # live runner's guarded commit finds the checkpoint moved, reloads and replays from there.
    projection = QueueShadowProjection()
    await pstore.reset(projection.name, projection.tables)
    assert await pstore.checkpoint(projection.name) == 0
    await observer.observe("lobby", ObserveItemQueued(9, Media("yt", "m9", "Late", 30)))
    head = await events.head()
    for _ in range(200):
        if live.position == head and live.reloads:
            break
        await asyncio.sleep(0.02)
    assert live.reloads == 1
    assert await pstore.checkpoint(projection.name) == head
    view = await QueueQueries(pstore, clock).queue("lobby")
    assert [i.uid for i in view.items] == [2, 3, 9]
    assert view.now_playing is not None and view.now_playing.item is not None
    assert view.now_playing.item.uid == 1  # the rows before the reset are back too
    task.cancel()


class FailingStore(SqlProjectionStore):
    """The real store whose writes fail while `full` is set, as on a full disk: its commits
    and its own error bookkeeping alike (the runner once died inside its error handler)."""

    full = False

    async def commit(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        if self.full:
            raise OSError(28, "No space left on device")
        await super().commit(*args, **kwargs)

    async def record_error(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        if self.full:
            raise OSError(28, "No space left on device")
        await super().record_error(*args, **kwargs)


async def test_a_runner_outlives_a_failing_store_says_so_and_recovers(tmp_path: Path) -> None:
    events = InMemoryEventStore()
    pstore = FailingStore(sqlite_url(tmp_path / "read.db"))
    await pstore.prepare()
    clock = VirtualClock(START, speed=1.0)
    observer = Observer(CommandHandler(events, clock))
    await seed(observer)
    runner = ProjectionRunner(events, pstore, QueueShadowProjection())
    task = asyncio.create_task(runner.run())
    await asyncio.wait_for(runner.caught_up.wait(), 5)
    assert runner.health(await events.head()).ok
    pstore.full = True
    await observer.observe("lobby", ObserveItemQueued(7, Media("yt", "m7", "During", 30)))
    for _ in range(200):
        if runner.failures >= 2:
            break
        await asyncio.sleep(0.02)
    assert runner.failures >= 2 and not task.done()
    health = runner.health(await events.head())
    assert health.status == "down" and "No space left" in (health.detail or "")
    pstore.full = False
    head = await folded_to_head(runner, events, within=10)
    assert runner.health(head).ok and not task.done()
    view = await QueueQueries(pstore, clock).queue("lobby")
    assert 7 in [i.uid for i in view.items]
    task.cancel()
    await pstore.close()


async def test_a_restarted_runner_resumes_from_its_rows(world) -> None:  # type: ignore[no-untyped-def]
    events, pstore, clock, observer = world
    await seed(observer)
    first = ProjectionRunner(events, pstore, QueueShadowProjection())
    await first.start()
    await first.catch_up()
    await observer.observe("lobby", ObserveNowPlaying(2))  # temp-free: nothing removed
    second = ProjectionRunner(events, pstore, QueueShadowProjection())
    await second.start()
    assert await second.catch_up() == 1
    clock.advance(timedelta(minutes=1).total_seconds())
    view = await QueueQueries(pstore, clock).queue("lobby")
    assert view.now_playing is not None and view.now_playing.uid == 2
    assert [i.uid for i in view.items] == [3, 1]


async def folded_to_head(
    runner: ProjectionRunner, events: InMemoryEventStore, within: float = 5.0
) -> int:
    head = await events.head()
    for _ in range(int(within * 100)):
        if runner.position >= head:
            return head
        await asyncio.sleep(0.01)
    raise AssertionError(f"the runner stayed at {runner.position}, the head is {head}")


class CountingStore(SqlProjectionStore):
    """The real store, counting the transactions the runner asks of it."""

    commits = 0

    async def commit(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self.commits += 1
        await super().commit(*args, **kwargs)


async def test_commits_the_shadow_ignores_cost_no_transaction_and_the_checkpoint_follows(
    tmp_path: Path,
) -> None:
    events = InMemoryEventStore()
    pstore = CountingStore(sqlite_url(tmp_path / "read.db"))
    await pstore.prepare()
    clock = VirtualClock(START, speed=1.0)
    observer = Observer(CommandHandler(events, clock))
    runner = ProjectionRunner(
        events, pstore, QueueShadowProjection(), batch_size=1, idle_checkpoint_sec=0.2
    )
    task = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(runner.caught_up.wait(), 5)
        await seed(observer)
        await folded_to_head(runner, events)
        written = pstore.commits
        for n in range(20):  # presence: nothing the queue shadow shows
            await observer.observe("lobby", ObserveUserJoined(ObservedUser(f"u{n}")))
        head = await folded_to_head(runner, events)
        assert pstore.commits == written  # folded, but no transaction yet
        for _ in range(100):
            if await pstore.checkpoint(runner.projection.name) == head:
                break
            await asyncio.sleep(0.05)
        assert await pstore.checkpoint(runner.projection.name) == head
        assert pstore.commits == written + 1  # one checkpoint for all twenty
        # A restart from that checkpoint re-folds nothing and shows the same queue.
        again = ProjectionRunner(events, pstore, QueueShadowProjection())
        await again.start()
        assert await again.catch_up() == 0
        view = await QueueQueries(pstore, clock).queue("lobby")
        assert [i.uid for i in view.items] == [2, 3]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pstore.close()


async def test_a_runner_behind_the_log_that_does_not_move_is_called_stalled(world) -> None:  # type: ignore[no-untyped-def]
    events, pstore, _clock, observer = world
    await seed(observer)
    runner = ProjectionRunner(events, pstore, QueueShadowProjection())
    await runner.start()
    head = await events.head()
    assert runner.health(head).ok  # just started: not stalled yet
    runner._moved_at -= 3600  # an hour without moving, the log ahead of it
    health = runner.health(head)
    assert health.status == "degraded" and f"the log is at {head}" in (health.detail or "")
    await runner.catch_up()
    assert runner.health(head).ok  # at the head: nothing to be stalled on
