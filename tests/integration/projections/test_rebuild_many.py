"""Rebuilding every projection from one read of the log, in large batches, leaves the same rows
as each projection catching up on its own one commit at a time."""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from adapters.clock import VirtualClock
from adapters.log.memory_store import InMemoryEventStore
from adapters.sql.projection_store import SqlProjectionStore, sqlite_url
from adapters.sql.tables import metadata
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.ports import StoredCommit, StreamId
from application.projections.runner import ProjectionRunner, catch_up_many, rebuild_many
from domain.errors import Rejected
from domain.media import Media
from domain.playlists.model import CreatePlaylist, SetPlaylistItems, playlist_decider
from domain.queue.commands import (
    ObserveItemDeleted,
    ObserveItemMoved,
    ObserveItemQueued,
    ObserveNowPlaying,
)
from domain.queue.decider import queue_decider
from domain.queue.pay_model import RecordPaymentCaptured, RequestPayItem, StartPayItemAdd
from entrypoints.bootstrap import projections

START = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)


class CountingReads(InMemoryEventStore):
    def __init__(self) -> None:
        super().__init__()
        self.full_reads = 0

    async def read_all(
        self, after: int = 0, channel: str | None = None
    ) -> AsyncIterator[StoredCommit]:
        self.full_reads += 1
        async for stored in super().read_all(after, channel):
            yield stored


async def busy_log(events: InMemoryEventStore) -> None:
    """Two channels' playlists changing every way the shadow shows, purchases, a playlist."""
    clock = VirtualClock(START)
    handler = CommandHandler(events, clock)
    rand = random.Random(5)

    async def do(stream: StreamId, command: Any, decider: Any = queue_decider) -> None:
        with contextlib.suppress(Rejected):
            await handler.handle(decider, stream, command, CommandMeta.new())

    uid = 0
    for channel in ("a", "b"):
        queue = StreamId(channel, "queue", channel)
        for step in range(120):
            clock.advance(rand.uniform(5, 400))
            state = await handler.state(queue_decider, queue)
            r = rand.random()
            if r < 0.35 or len(state.items) < 3:
                uid += 1
                media = Media("yt", f"{channel}{uid}", f"Clip {uid}", rand.choice((60, 200)))
                await do(queue, ObserveItemQueued(uid, media, temp=rand.random() < 0.5))
            elif r < 0.55:
                await do(queue, ObserveNowPlaying(rand.choice(state.items).uid))
            elif r < 0.7:
                item, anchor = rand.sample(state.items, 2)
                await do(queue, ObserveItemMoved(item.uid, anchor.uid))
            elif r < 0.8:
                await do(queue, ObserveItemDeleted(rand.choice(state.items).uid))
            else:
                rid, uid = f"{channel}-r{step}", uid + 1
                media = Media("yt", f"paid{uid}", "Paid", 120)
                await do(queue, RequestPayItem(rid, "ann", media, "queue"))
                await do(queue, RecordPaymentCaptured(rid, 100))
                await do(queue, StartPayItemAdd(rid))
                await do(queue, ObserveItemQueued(uid, media, temp=True))
    playlist = StreamId("a", "playlist", "p1")
    await do(playlist, CreatePlaylist("Mine", "ann"), playlist_decider)
    clips = tuple(Media("yt", f"c{i}", f"C {i}", 30) for i in range(3))
    await do(playlist, SetPlaylistItems(clips, "ann"), playlist_decider)


async def rows(store: SqlProjectionStore) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for table in metadata.tables:
        if table != "projection_checkpoints":
            fetched = await store.fetch(table)
            out[table] = sorted(fetched, key=lambda r: repr(sorted(r.items())))
    return out


async def test_one_read_for_all_projections_gives_the_rows_of_one_commit_at_a_time(
    tmp_path: Path,
) -> None:
    events = CountingReads()
    await busy_log(events)
    head = await events.head()
    assert head > 300

    together = SqlProjectionStore(sqlite_url(tmp_path / "together.db"))
    alone = SqlProjectionStore(sqlite_url(tmp_path / "alone.db"))
    for store in (together, alone):
        await store.prepare()
    try:
        runners = [ProjectionRunner(events, together, p) for p in projections()]
        assert await rebuild_many(runners, batch_size=97) == head
        assert events.full_reads == 1
        assert all(r.position == head for r in runners)

        for projection in projections():
            runner = ProjectionRunner(events, alone, projection, batch_size=1)
            await runner.start()
            await runner.catch_up()
            assert await alone.checkpoint(projection.name) == head

        expected = await rows(alone)
        assert expected["queue_items"] and expected["pay_items"] and expected["saved_playlists"]
        assert await rows(together) == expected
    finally:
        await together.close()
        await alone.close()


async def test_catching_up_runners_at_different_checkpoints_from_one_read(
    tmp_path: Path,
) -> None:
    events = CountingReads()
    await busy_log(events)
    head = await events.head()
    store = SqlProjectionStore(sqlite_url(tmp_path / "read.db"))
    await store.prepare()
    try:
        first, *others = [ProjectionRunner(events, store, p) for p in projections()]
        await first.start()
        await first.catch_up()  # one projection is already at the head
        clock = VirtualClock(START + timedelta(days=1))
        handler = CommandHandler(events, clock)
        queue = StreamId("a", "queue", "a")
        media = Media("yt", "late", "Late", 60)
        await handler.handle(queue_decider, queue, ObserveItemQueued(999, media), CommandMeta.new())
        reads = events.full_reads
        read = await catch_up_many([first, *others])
        assert events.full_reads == reads + 1
        assert read == head + 1, "from the earliest checkpoint"
        assert all(r.position == head + 1 for r in (first, *others))
        [late] = [r for r in await store.fetch("queue_items", {"channel": "a"}) if r["uid"] == 999]
        assert late["media_id"] == "late"
    finally:
        await store.close()


class FailingStore(SqlProjectionStore):
    """The real SQLite store, whose `fail_at`-th transaction for `name` fails (a full disk, a
    crash): what each projection's last transaction that did go in stored is recorded."""

    def __init__(self, url: str, name: str, fail_at: int) -> None:
        super().__init__(url)
        self._name, self._left = name, fail_at
        self.stored: dict[str, int] = {}

    async def commit(self, name: str, expected: int, position: int, writes: Any) -> None:
        if name == self._name:
            self._left -= 1
            if self._left == 0:
                raise OSError("disk full")
        await super().commit(name, expected, position, writes)
        self.stored[name] = position


async def test_a_rebuild_that_fails_mid_way_leaves_no_checkpoint_ahead_of_its_rows(
    tmp_path: Path,
) -> None:
    """The rebuild folds batch k+1 while it writes batch k. When a write fails mid-way, every
    checkpoint is the one its last stored rows stand for, and catching up from there gives the
    rows of a rebuild that never failed."""
    events = CountingReads()
    await busy_log(events)
    head = await events.head()
    broken = FailingStore(sqlite_url(tmp_path / "broken.db"), "queue_shadow", fail_at=4)
    clean = SqlProjectionStore(sqlite_url(tmp_path / "clean.db"))
    for store in (broken, clean):
        await store.prepare()
    try:
        runners = [ProjectionRunner(events, broken, p, batch_size=40) for p in projections()]
        with contextlib.suppress(OSError):
            await rebuild_many(runners, batch_size=40)
            raise AssertionError("the fourth transaction fails")
        stored = broken.stored
        assert 0 < stored["queue_shadow"] < head
        for projection in projections():
            assert await broken.checkpoint(projection.name) == stored.get(projection.name, 0)

        resumed = [ProjectionRunner(events, broken, p) for p in projections()]
        for runner in resumed:
            await runner.start()
        await catch_up_many(resumed)
        await rebuild_many([ProjectionRunner(events, clean, p) for p in projections()])
        assert await rows(broken) == await rows(clean)
    finally:
        await broken.close()
        await clean.close()
