"""The log on a three-node cluster: a node killed mid-burst costs nothing acknowledged.

With three replicas a stream keeps a quorum on two nodes. The writer knows every node and
retries a refused or unanswered append under the same commit id (as the command handler does),
so an append whose first try landed on the dying leader is found, not written twice.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest

from adapters.log.jetstream_store import JetStreamEventStore
from adapters.nats.servers import server_urls
from application.log.ports import Commit, ConcurrencyConflict, StoreUnavailable, StreamId
from domain.media import Media
from domain.queue.events import ItemAdded
from tests.nats_cluster import NatsCluster

AT = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
TOTAL = 300
KILL_AFTER = 100
RETRY_FOR_SEC = 30.0


def commit(n: int) -> Commit:
    stream = StreamId("lobby", "queue", f"s{n}")
    event = ItemAdded(f"q{n}", n, Media("yt", f"m{n}", "clip", 60), False, "ann", None)
    return Commit(f"c{n}-{uuid.uuid4().hex}", stream, 1, AT, "test", (event,))


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    with NatsCluster(tmp_path / "cluster") as running:
        yield running


async def append_until_acknowledged(store: JetStreamEventStore, c: Commit) -> int:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RETRY_FOR_SEC
    while True:
        try:
            return (await store.append(c, 0)).position
        except (StoreUnavailable, ConcurrencyConflict):
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.1)


async def test_killing_the_stream_leader_mid_burst_loses_and_doubles_nothing(
    cluster: NatsCluster,
) -> None:
    nc = await nats.connect(server_urls(cluster.url), reconnect_time_wait=0.2)
    try:
        store = JetStreamEventStore(nc, stream="QUORUM", prefix="q.ev", replicas=3, timeout=2.0)
        await store.ensure_stream()
        info = await nc.jetstream().stream_info("QUORUM")
        assert info.config.num_replicas == 3
        assert info.cluster is not None and info.cluster.leader is not None
        leader = int(info.cluster.leader.removeprefix("n"))

        commits = [commit(n) for n in range(TOTAL)]
        acknowledged: dict[str, int] = {}
        for c in commits[:KILL_AFTER]:
            acknowledged[c.commit_id] = await append_until_acknowledged(store, c)
        cluster.kill(leader)  # kill -9 the node leading the stream, mid-burst
        for c in commits[KILL_AFTER:]:
            acknowledged[c.commit_id] = await append_until_acknowledged(store, c)

        after = await nc.jetstream().stream_info("QUORUM")
        assert after.cluster is not None and after.cluster.leader != f"n{leader}"
        # Reading makes a consumer, which needs a meta leader: if the killed node was it, the
        # other two elect one first (a reader in the service retries until then).
        cluster.wait_healthy([i for i in range(cluster.size) if i != leader])
        stored = [s async for s in store.read_all()]
        ids = [s.commit.commit_id for s in stored]
        assert len(ids) == len(set(ids)) == TOTAL, "a commit lost or written twice"
        assert {s.commit.commit_id: s.position for s in stored} == acknowledged

        # The killed node comes back and catches up: it holds every commit too.
        cluster.restart(leader)
        cluster.wait_healthy([leader])
        alone = await nats.connect(cluster.urls[leader])
        try:
            direct = JetStreamEventStore(alone, stream="QUORUM", prefix="q.ev")
            assert await direct.head() == max(acknowledged.values())
        finally:
            await alone.close()
    finally:
        await nc.close()
