"""Leases in a JetStream KV bucket, on one nats-server and on the three-node cluster: create
only if absent, renew by compare-and-set, lapse after the TTL, release; and two keepers on two
connections (on two nodes of the cluster), the holder killed, the other taking over."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import nats
import pytest
from nats.aio.client import Client

from adapters.clock import WallClock
from adapters.leases.jetstream_kv import NatsKvLeaseStore, lease_key
from adapters.nats.servers import server_urls
from application.leases.keeper import LeaseKeeper
from application.leases.ports import Holding

TTL = 1.5
LEASE = "channel:lobby"


def holding(who: str) -> Holding:
    now = datetime.now(UTC)
    return Holding(who, f"node-{who}", now, now)


@pytest.fixture(params=["single", "cluster"])
async def clients(request: pytest.FixtureRequest) -> AsyncIterator[tuple[list[Client], int]]:
    """Two connections (on the cluster, to two different nodes) and the replica count."""
    clustered = request.param == "cluster"
    url = request.getfixturevalue("nats_cluster_url" if clustered else "nats_url")
    urls = server_urls(url)
    made = [await nats.connect(urls[0]), await nats.connect(urls[-1])]
    yield made, 3 if clustered else 1
    for nc in made:
        await nc.close()


def bucket() -> str:
    return f"T{uuid.uuid4().hex[:10].upper()}_LEASES"


async def eventually(read: Callable[[], Any], done: Callable[[Any], bool]) -> Any:
    """What `read` gives once `done` says so: a cluster's follower may answer a read a moment
    behind the write (writes are compare-and-set at the stream's leader, reads are not)."""
    deadline = time.monotonic() + 30
    while not done(found := await read()):
        assert time.monotonic() < deadline, f"still {found!r}"
        await asyncio.sleep(0.05)
    return found


async def until(check: Callable[[], bool], what: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_create_renew_lapse_and_release(clients: tuple[list[Client], int]) -> None:
    (one, two), replicas = clients
    name = bucket()
    a = NatsKvLeaseStore(one, name, ttl_sec=TTL, replicas=replicas)
    b = NatsKvLeaseStore(two, name, ttl_sec=TTL, replicas=replicas)
    first = await a.create(LEASE, holding("a"))
    assert first is not None
    assert await b.create(LEASE, holding("b")) is None  # only if absent
    entry = await eventually(lambda: b.read(LEASE), lambda e: e is not None)
    assert entry is not None and entry.holding.holder == "a" and entry.revision == first
    renewed = await a.update(LEASE, holding("a"), first)
    assert renewed is not None and renewed > first
    assert await b.update(LEASE, holding("b"), first) is None  # a stale revision: refused
    info = await one.jetstream().stream_info(f"KV_{name}")
    assert info.config.num_replicas == replicas
    deadline = time.monotonic() + 30
    while not (listed := [e.name for e in await b.entries()]):  # a follower may lag
        assert time.monotonic() < deadline, "the entry never showed"
        await asyncio.sleep(0.05)
    assert listed == [LEASE]

    # Nobody renews: the bucket's TTL lapses it, and the next create takes it.
    deadline = time.monotonic() + 30
    while (taken := await b.create(LEASE, holding("b"))) is None:
        assert time.monotonic() < deadline, "the lease never lapsed"
        await asyncio.sleep(0.1)
    assert await a.update(LEASE, holding("a"), renewed) is None  # the old holder is out
    await b.delete(LEASE, taken)  # released
    assert await eventually(lambda: a.read(LEASE), lambda e: e is None) is None
    assert await eventually(b.entries, lambda e: e == []) == []
    again = await a.create(LEASE, holding("a"))  # free at once after a release
    assert again is not None


async def test_odd_names_get_keys_kv_accepts(clients: tuple[list[Client], int]) -> None:
    (one, _), replicas = clients
    store = NatsKvLeaseStore(one, bucket(), ttl_sec=TTL, replicas=replicas)
    odd = "channel:Ännchen's room.2"
    assert await store.create(odd, holding("a")) is not None
    assert lease_key(odd) != lease_key("channel:lobby")
    deadline = time.monotonic() + 30
    while not (found := [e.name for e in await store.entries()]):  # a follower may lag
        assert time.monotonic() < deadline, "the entry never showed"
        await asyncio.sleep(0.05)
    assert found == [odd]


async def test_two_instances_one_holds_then_the_other_takes_over(
    clients: tuple[list[Client], int],
) -> None:
    (one, two), replicas = clients
    name = bucket()
    keepers = [
        LeaseKeeper(
            NatsKvLeaseStore(nc, name, ttl_sec=TTL, replicas=replicas),
            holder=f"instance-{i}",
            node=f"node-{i}",
            names=[LEASE],
            clock=WallClock(),
        )
        for i, nc in enumerate((one, two))
    ]
    for keeper in keepers:
        await keeper.start()
    holders = [k for k in keepers if k.held(LEASE)]
    assert len(holders) == 1
    holder, other = holders[0], next(k for k in keepers if k is not holders[0])
    runs = {id(k): asyncio.create_task(k.run()) for k in keepers}
    try:
        # Renewals go on: after more than a TTL the same instance still holds it, alone.
        store = NatsKvLeaseStore(one, name, ttl_sec=TTL)
        start = await store.read(LEASE)
        assert start is not None

        async def renewed_past_ttl() -> None:
            while True:
                now = await store.read(LEASE)
                assert now is not None and now.holding.holder == holder.holder
                if (now.holding.renewed_at - start.holding.renewed_at).total_seconds() > TTL:
                    return
                await asyncio.sleep(0.1)

        await asyncio.wait_for(renewed_past_ttl(), 30)
        assert not other.held(LEASE)
        runs[id(holder)].cancel()  # kill -9: no release
        await asyncio.gather(runs[id(holder)], return_exceptions=True)
        await until(lambda: other.held(LEASE), "the takeover")
        entry = await store.read(LEASE)
        assert entry is not None and entry.holding.holder == other.holder
    finally:
        for task in runs.values():
            task.cancel()
        await asyncio.gather(*runs.values(), return_exceptions=True)
