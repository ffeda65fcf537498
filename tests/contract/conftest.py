"""Every EventStore adapter runs the same contract; each test gets an empty log of its own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import nats
import pytest

from adapters.log.jetstream_store import JetStreamEventStore
from adapters.log.memory_store import InMemoryEventStore
from adapters.nats.servers import server_urls
from application.log.ports import EventStore
from application.log.tail import LogTail
from tests.nats_cluster import until_stream_stands

StoreFactory = Callable[[], EventStore]


@pytest.fixture(params=["memory", "jetstream", "shared-tail", "jetstream-cluster"])
async def store_factory(request: pytest.FixtureRequest) -> AsyncIterator[StoreFactory]:
    """Makes handles on one shared log: several of them act like several processes."""
    if request.param == "memory":
        shared = InMemoryEventStore()
        yield lambda: shared
        return
    if request.param == "shared-tail":
        # What followers in the service read through; it keeps only 3 commits, so following
        # past them reads back from the log underneath.
        tail = LogTail(InMemoryEventStore(), keep=3)
        yield lambda: tail
        await tail.close()
        return
    # On the cluster: three replicas, a client that knows every node, each handle's
    # connection to a different node (writers on any node behave as on one server).
    clustered = request.param == "jetstream-cluster"
    url = request.getfixturevalue("nats_cluster_url" if clustered else "nats_url")
    replicas = 3 if clustered else 1
    nc = await nats.connect(server_urls(url), dont_randomize=True)
    name = f"T{uuid.uuid4().hex[:12].upper()}"
    prefix = f"t{uuid.uuid4().hex[:8]}.ev"
    # A small read batch, so reads that span several batches are part of the contract.
    first = JetStreamEventStore(nc, stream=name, prefix=prefix, read_batch=7, replicas=replicas)
    await first.ensure_stream()
    info = await nc.jetstream().stream_info(name)
    assert info.config.num_replicas == replicas
    # The contract is about the store, not the moment a new three-copy stream elects its
    # leader (the service's own start rides that out with retries).
    await until_stream_stands(nc.jetstream(), name)
    others = [await nats.connect(one) for one in server_urls(url)[1:]] if clustered else []
    handles = [nc, *others]
    made = 0

    def handle() -> EventStore:
        nonlocal made
        client = handles[made % len(handles)]
        made += 1
        return JetStreamEventStore(client, stream=name, prefix=prefix, read_batch=7)

    yield handle
    for other in others:
        await other.close()
    await nc.jetstream().delete_stream(name)
    await nc.close()


@pytest.fixture
def store(store_factory: StoreFactory) -> EventStore:
    return store_factory()
