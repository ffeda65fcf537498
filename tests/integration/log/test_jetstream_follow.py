"""Following the log on JetStream: pulled at the follower's pace, and it survives a cut line.

Under a flood of commands, push consumers that each tail the whole log once let the server's
buffer for our connection pass its 64 MB limit; nats-server cut the connection off as a slow
consumer, and on reconnect pushed the backlog again. Following is now pulled: these tests show a
follower that stops taking commits is not sent the backlog, and that a follower whose connection
is cut (through a TCP relay of our own, closed under it) carries on after the last commit it
handed out, with nothing missed and nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import nats
import pytest
from nats.aio.client import Client

from adapters.log.jetstream_store import JetStreamEventStore
from application.log.ports import Commit, StoredCommit, StreamId
from domain.media import Media
from domain.queue.events import ItemAdded
from tests.following import positions
from tests.relay import Relay

AT = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
BATCH = 50


def commit(n: int) -> Commit:
    stream = StreamId("lobby", "queue", f"s{n}")
    event = ItemAdded(f"q{n}", n, Media("yt", f"m{n}", "clip", 60), False, "ann", None)
    return Commit(f"c{n}-{uuid.uuid4().hex}", stream, 1, AT, "test", (event,))


@pytest.fixture
async def stream(nats_url: str) -> AsyncIterator[tuple[str, str]]:
    name, prefix = f"F{uuid.uuid4().hex[:10].upper()}", f"f{uuid.uuid4().hex[:8]}.ev"
    nc = await nats.connect(nats_url)
    await JetStreamEventStore(nc, stream=name, prefix=prefix).ensure_stream()
    yield name, prefix
    await nc.jetstream().delete_stream(name)
    await nc.close()


@pytest.fixture
async def writer(nats_url: str, stream: tuple[str, str]) -> AsyncIterator[JetStreamEventStore]:
    nc = await nats.connect(nats_url)
    yield JetStreamEventStore(nc, stream=stream[0], prefix=stream[1])
    await nc.close()


async def append(store: JetStreamEventStore, first: int, count: int) -> None:
    for n in range(first, first + count):
        await store.append(commit(n), 0)


async def test_a_follower_that_stops_taking_commits_is_not_sent_the_backlog(
    nats_url: str, stream: tuple[str, str], writer: JetStreamEventStore
) -> None:
    nc = await nats.connect(nats_url)
    store = JetStreamEventStore(nc, stream=stream[0], prefix=stream[1], read_batch=BATCH)
    follower = store.subscribe(after=0)
    try:
        assert await asyncio.wait_for(_first(writer, follower), 10)
        before = nc.stats["in_msgs"]
        await append(writer, 2, 2000)
        await asyncio.sleep(0.5)
        # It asked for two batches at most beyond what it took; the rest stays in the log.
        assert nc.stats["in_msgs"] - before <= 3 * BATCH
        rest = await asyncio.wait_for(positions(follower, 2000), 30)
        assert rest == list(range(2, 2002))
    finally:
        await follower.aclose()  # type: ignore[attr-defined]
        await nc.close()


async def _first(writer: JetStreamEventStore, follower: AsyncIterator[StoredCommit]) -> bool:
    await append(writer, 1, 1)
    return await positions(follower, 1) == [1]


async def test_a_follower_carries_on_after_its_connection_is_cut(
    nats_url: str, stream: tuple[str, str], writer: JetStreamEventStore
) -> None:
    relay = Relay(nats_url)
    await relay.start()
    nc: Client = await nats.connect(relay.url, reconnect_time_wait=0.1, max_reconnect_attempts=-1)
    store = JetStreamEventStore(nc, stream=stream[0], prefix=stream[1], read_batch=BATCH)
    follower = store.subscribe(after=0)
    try:
        await append(writer, 1, 120)
        got = await asyncio.wait_for(positions(follower, 70), 10)
        relay.cut()  # mid-batch: some of what was asked for is lost on the line
        await append(writer, 121, 80)
        got += await asyncio.wait_for(positions(follower, 130), 30)
        assert got == list(range(1, 201))
        assert nc.stats["reconnects"] >= 1
    finally:
        with contextlib.suppress(Exception):
            await follower.aclose()  # type: ignore[attr-defined]
        await nc.close()
        await relay.close()
