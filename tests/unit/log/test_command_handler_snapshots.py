"""The command handler with snapshots: written every N commits off the command path, and a cold
load that starts from one reads only the commits after it, or folds everything when the snapshot
cannot be trusted (unreadable, another build's, another log's)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.clock import VirtualClock
from adapters.log.jetstream_snapshots import SnapshotCodec
from adapters.log.memory_snapshots import InMemorySnapshotStore
from adapters.log.memory_store import InMemoryEventStore
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.ports import AppendResult, Commit, EventStore, StoredCommit, StreamId
from application.log.snapshots import Snapshot
from domain.media import Media
from domain.queue.commands import ObserveItemDeleted, ObserveItemQueued, ObserveNowPlaying
from domain.queue.decider import queue_decider

START = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)
LOBBY = StreamId("lobby", "queue", "lobby")
OTHER = StreamId("other", "queue", "other")


class CountingStore:
    """Our EventStore port, counting what aggregate loads read."""

    def __init__(self, inner: EventStore) -> None:
        self.inner = inner
        self.reads: list[tuple[StreamId, int, int]] = []  # (stream, after, commits returned)

    async def append(self, commit: Commit, expected_position: int) -> AppendResult:
        return await self.inner.append(commit, expected_position)

    async def read_stream(self, stream: StreamId, after: int = 0) -> list[StoredCommit]:
        commits = await self.inner.read_stream(stream, after)
        self.reads.append((stream, after, len(commits)))
        return commits

    def read_all(self, after: int = 0, channel: str | None = None) -> AsyncIterator[StoredCommit]:
        return self.inner.read_all(after, channel)

    def subscribe(self, after: int = 0, channel: str | None = None) -> AsyncIterator[StoredCommit]:
        return self.inner.subscribe(after, channel)

    async def head(self) -> int:
        return await self.inner.head()

    @property
    def commits_read(self) -> int:
        return sum(n for _, _, n in self.reads)


class CodecSnapshots:
    """A SnapshotStore that keeps what the KV store would hold: the codec's bytes."""

    def __init__(self, codec: SnapshotCodec | None = None) -> None:
        self.codec = codec or SnapshotCodec()
        self.values: dict[StreamId, bytes] = {}

    async def get(self, stream: StreamId) -> Snapshot | None:
        data = self.values.get(stream)
        return None if data is None else self.codec.decode(stream.aggregate, data)

    async def put(self, stream: StreamId, snapshot: Snapshot) -> None:
        self.values[stream] = self.codec.encode(stream.aggregate, snapshot)


def command(n: int) -> Any:
    """A channel's everyday observations: adds, now playing, deletes."""
    if n % 5 == 3:
        return ObserveNowPlaying(n - 1)
    if n % 5 == 4:
        return ObserveItemDeleted(n - 3)
    return ObserveItemQueued(n, Media("yt", f"m{n}", f"Clip {n}", 60 + n), queued_by="ann")


async def write_history(events: EventStore, commits: int, **handler_kw: Any) -> CommandHandler:
    handler = CommandHandler(events, VirtualClock(START), **handler_kw)
    n = 0
    while (await handler.load(queue_decider, LOBBY)).version < commits:
        n += 1
        await handler.handle(queue_decider, LOBBY, command(n), CommandMeta.new())
        if n % 7 == 0:  # another aggregate interleaves, so positions and versions differ
            await handler.handle(queue_decider, OTHER, command(n), CommandMeta.new())
    await handler.drain_snapshots()
    return handler


async def full_fold(events: EventStore) -> Any:
    return await CommandHandler(events, VirtualClock(START)).load(queue_decider, LOBBY)


async def test_a_snapshot_is_written_every_n_commits() -> None:
    events, snapshots = InMemoryEventStore(), InMemorySnapshotStore()
    await write_history(events, 25, snapshots=snapshots, snapshot_every=10)
    snapshot = await snapshots.get(LOBBY)
    assert snapshot is not None and snapshot.version == 20
    twentieth = (await events.read_stream(LOBBY))[19]
    assert snapshot.position == twentieth.position
    first_twenty = [e for s in (await events.read_stream(LOBBY))[:20] for e in s.commit.events]
    assert snapshot.state == queue_decider.fold("lobby", first_twenty)


async def test_the_command_does_not_wait_for_the_snapshot_write() -> None:
    class Stuck(InMemorySnapshotStore):
        def __init__(self) -> None:
            super().__init__()
            self.release = asyncio.Event()

        async def put(self, stream: StreamId, snapshot: Snapshot) -> None:
            await self.release.wait()
            await super().put(stream, snapshot)

    snapshots = Stuck()
    handler = CommandHandler(
        InMemoryEventStore(), VirtualClock(START), snapshots=snapshots, snapshot_every=2
    )
    for n in range(1, 6):  # snapshots due at versions 2 and 4, their write stuck
        outcome = await asyncio.wait_for(
            handler.handle(queue_decider, LOBBY, command(n), CommandMeta.new()), timeout=2
        )
        assert outcome.events
    assert await snapshots.get(LOBBY) is None
    snapshots.release.set()
    await handler.drain_snapshots()
    snapshot = await snapshots.get(LOBBY)
    assert snapshot is not None and snapshot.version == 4


async def test_a_cold_load_from_a_snapshot_reads_only_the_tail_and_matches_a_full_fold() -> None:
    events, snapshots = InMemoryEventStore(), InMemorySnapshotStore()
    await write_history(events, 57, snapshots=snapshots, snapshot_every=10)
    snapshot = await snapshots.get(LOBBY)
    assert snapshot is not None and snapshot.version == 50

    counting = CountingStore(events)
    cold = CommandHandler(counting, VirtualClock(START), snapshots=snapshots, snapshot_every=10)
    loaded = await cold.load(queue_decider, LOBBY)

    assert counting.reads == [(LOBBY, snapshot.position - 1, 8)], "the snapshot's commit + 7"
    full = await full_fold(events)
    assert (loaded.state, loaded.position, loaded.version) == (
        full.state,
        full.position,
        full.version,
    )
    outcome = await cold.handle(queue_decider, LOBBY, command(1000), CommandMeta.new())
    assert outcome.events and not outcome.retries, "the loaded position is the stream's head"


async def test_an_unreadable_snapshot_falls_back_to_a_full_fold(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events, snapshots = InMemoryEventStore(), InMemorySnapshotStore()
    await write_history(events, 23)
    await snapshots.put(LOBBY, Snapshot(5, 3, b"\x00corrupt"))
    counting = CountingStore(events)
    cold = CommandHandler(counting, VirtualClock(START), snapshots=snapshots)
    with caplog.at_level(logging.WARNING):
        loaded = await cold.load(queue_decider, LOBBY)
    assert counting.reads == [(LOBBY, 0, 23)]
    assert loaded.state == (await full_fold(events)).state
    assert "no usable state" in caplog.text


async def test_a_snapshot_written_by_an_older_build_is_ignored() -> None:
    events = InMemoryEventStore()
    old_build = CodecSnapshots(SnapshotCodec(revisions={"queue": 0}))
    await write_history(events, 23, snapshots=old_build, snapshot_every=10)
    assert LOBBY in old_build.values
    this_build = CodecSnapshots()
    this_build.values = dict(old_build.values)
    counting = CountingStore(events)
    cold = CommandHandler(counting, VirtualClock(START), snapshots=this_build)
    loaded = await cold.load(queue_decider, LOBBY)
    assert counting.reads == [(LOBBY, 0, 23)]
    assert loaded.state == (await full_fold(events)).state


async def test_a_snapshot_through_the_codec_gives_the_same_state() -> None:
    events, snapshots = InMemoryEventStore(), CodecSnapshots()
    await write_history(events, 34, snapshots=snapshots, snapshot_every=10)
    counting = CountingStore(events)
    loaded = await CommandHandler(counting, VirtualClock(START), snapshots=snapshots).load(
        queue_decider, LOBBY
    )
    assert counting.reads[0][2] == 5, "the snapshot's commit + 4"
    assert loaded.state == (await full_fold(events)).state


async def test_a_snapshot_of_another_log_is_not_used(caplog: pytest.LogCaptureFixture) -> None:
    events, snapshots = InMemoryEventStore(), InMemorySnapshotStore()
    await write_history(events, 23)
    stranger = await full_fold(events)
    await snapshots.put(LOBBY, Snapshot(stranger.position - 2, 99, stranger.state))
    counting = CountingStore(events)
    cold = CommandHandler(counting, VirtualClock(START), snapshots=snapshots)
    with caplog.at_level(logging.WARNING):
        loaded = await cold.load(queue_decider, LOBBY)
    assert counting.reads[-1] == (LOBBY, 0, 23)
    assert loaded.state == stranger.state
    assert "does not match the log" in caplog.text


async def test_a_failed_snapshot_write_is_logged_and_the_command_goes_through(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(InMemorySnapshotStore):
        async def put(self, stream: StreamId, snapshot: Snapshot) -> None:
            raise ConnectionError("KV is down")

        async def get(self, stream: StreamId) -> Snapshot | None:
            raise ConnectionError("KV is down")

    events = InMemoryEventStore()
    with caplog.at_level(logging.WARNING):
        handler = await write_history(events, 12, snapshots=Broken(), snapshot_every=5)
    assert (await handler.load(queue_decider, LOBBY)).version == 12
    assert "not written" in caplog.text and "reading the snapshot" in caplog.text


async def test_a_long_fold_leaves_a_snapshot_for_the_next_cold_load() -> None:
    events, snapshots = InMemoryEventStore(), InMemorySnapshotStore()
    await write_history(events, 31)  # written without snapshots
    cold = CommandHandler(events, VirtualClock(START), snapshots=snapshots, snapshot_every=10)
    loaded = await cold.load(queue_decider, LOBBY)
    await cold.drain_snapshots()
    snapshot = await snapshots.get(LOBBY)
    assert snapshot is not None and (snapshot.position, snapshot.version) == (
        loaded.position,
        31,
    )
