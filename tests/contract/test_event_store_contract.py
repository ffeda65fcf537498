"""The EventStore contract: what every adapter of the log must do, tested the same way."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from application.log.ports import Commit, ConcurrencyConflict, EventStore, StoredCommit, StreamId
from domain.media import Media
from domain.queue.events import ItemAdded, ItemRemoved, NowPlayingChanged

AT = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
LOBBY = StreamId("lobby", "queue", "lobby")
OTHER = StreamId("Movie Night", "queue", "Movie Night")


def added(n: int) -> ItemAdded:
    return ItemAdded(f"q{n}", n, Media("yt", f"m{n}", f"Clip {n}", 60 * n), False, "ann", None)


def commit(cid: str, stream: StreamId = LOBBY, version: int = 1, *events: object) -> Commit:
    return Commit(cid, stream, version, AT, "test", tuple(events) or (added(version),))


async def collect(it, n: int | None = None) -> list[StoredCommit]:  # type: ignore[no-untyped-def]
    out = []
    async for c in it:
        out.append(c)
        if n is not None and len(out) == n:
            break
    return out


async def test_append_to_an_empty_stream_then_read_it_back(store: EventStore) -> None:
    first = await store.append(commit("c1"), 0)
    second = await store.append(commit("c2", LOBBY, 2), first.position)
    assert second.position > first.position and not second.duplicate
    read = await store.read_stream(LOBBY)
    assert [(c.position, c.commit) for c in read] == [
        (first.position, commit("c1")),
        (second.position, commit("c2", LOBBY, 2)),
    ]
    assert [c.commit.commit_id for c in await store.read_stream(LOBBY, after=first.position)] == [
        "c2"
    ]
    assert await store.head() == second.position


async def test_a_multi_event_commit_is_stored_and_read_whole(store: EventStore) -> None:
    events = (added(1), NowPlayingChanged("q1", 1, AT), ItemRemoved("q1", 1, "deleted"))
    await store.append(commit("multi", LOBBY, 1, *events), 0)
    [stored] = await store.read_stream(LOBBY)
    assert stored.commit.events == events


async def test_a_stale_expected_position_is_a_conflict_and_stores_nothing(
    store: EventStore,
) -> None:
    first = await store.append(commit("c1"), 0)
    with pytest.raises(ConcurrencyConflict):
        await store.append(commit("c2", LOBBY, 2), 0)
    with pytest.raises(ConcurrencyConflict):
        await store.append(commit("c3", LOBBY, 2), first.position + 100)
    assert [c.commit.commit_id for c in await store.read_stream(LOBBY)] == ["c1"]


async def test_concurrency_is_per_stream(store: EventStore) -> None:
    await store.append(commit("c1"), 0)
    other = await store.append(commit("o1", OTHER), 0)
    assert other.position == await store.head()


async def test_a_repeated_commit_id_is_stored_once(store: EventStore) -> None:
    first = await store.append(commit("same"), 0)
    again = await store.append(commit("same"), 0)
    assert again.duplicate and again.position == first.position
    assert len(await store.read_stream(LOBBY)) == 1


async def test_read_stream_holds_only_that_aggregate(store: EventStore) -> None:
    await store.append(commit("l1"), 0)
    await store.append(commit("o1", OTHER), 0)
    assert [c.commit.commit_id for c in await store.read_stream(OTHER)] == ["o1"]
    assert await store.read_stream(StreamId("nobody", "queue", "nobody")) == []


async def test_read_all_from_a_position_and_by_channel(store: EventStore) -> None:
    p1 = (await store.append(commit("l1"), 0)).position
    await store.append(commit("o1", OTHER), 0)
    await store.append(commit("l2", LOBBY, 2), p1)
    everything = await collect(store.read_all())
    assert [c.commit.commit_id for c in everything] == ["l1", "o1", "l2"]
    assert [c.position for c in everything] == sorted(c.position for c in everything)
    assert [c.commit.commit_id for c in await collect(store.read_all(after=p1))] == ["o1", "l2"]
    lobby = await collect(store.read_all(channel="lobby"))
    assert [c.commit.commit_id for c in lobby] == ["l1", "l2"]
    assert [c.commit.commit_id for c in await collect(store.read_all(channel="movie night"))] == [
        "o1"
    ]
    assert await collect(store.read_all(after=await store.head())) == []


async def test_an_empty_log_reads_as_nothing(store: EventStore) -> None:
    assert await store.head() == 0
    assert await collect(store.read_all()) == []


async def test_subscribe_replays_then_follows_live(store: EventStore) -> None:
    p1 = (await store.append(commit("l1"), 0)).position
    received: list[str] = []

    async def follow() -> None:
        async for c in store.subscribe(after=0):
            received.append(c.commit.commit_id)
            if len(received) == 3:
                return

    task = asyncio.create_task(follow())
    p2 = (await store.append(commit("l2", LOBBY, 2), p1)).position
    await store.append(commit("o1", OTHER), 0)
    await asyncio.wait_for(task, 10)
    assert received == ["l1", "l2", "o1"]
    later = await asyncio.wait_for(collect(store.subscribe(after=p2), 1), 10)
    assert [c.commit.commit_id for c in later] == ["o1"]


async def test_subscribe_by_channel_sees_only_that_channel(store: EventStore) -> None:
    await store.append(commit("o1", OTHER), 0)
    await store.append(commit("l1"), 0)
    got = await asyncio.wait_for(collect(store.subscribe(channel="lobby"), 1), 10)
    assert [c.commit.commit_id for c in got] == ["l1"]


async def test_a_slow_follower_gets_a_long_run_once_and_in_order(store: EventStore) -> None:
    """Longer than a read batch (JetStream here reads 7 at a time) and than what a shared tail
    keeps (3), with the follower pausing as it goes."""
    ids = [f"run{i}" for i in range(40)]
    received: list[str] = []

    async def follow() -> None:
        async for c in store.subscribe(after=0):
            received.append(c.commit.commit_id)
            if len(received) % 5 == 0:
                await asyncio.sleep(0.01)
            if len(received) == len(ids):
                return

    task = asyncio.create_task(follow())
    for cid in ids:
        await store.append(commit(cid, StreamId("lobby", "queue", cid)), 0)
    await asyncio.wait_for(task, 20)
    assert received == ids
