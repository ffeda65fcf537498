"""Every EventStore adapter runs the same contract; each test gets an empty log of its own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import nats
import pytest

from adapters.log.jetstream_store import JetStreamEventStore
from adapters.log.memory_store import InMemoryEventStore
from application.log.ports import EventStore
from application.log.tail import LogTail

StoreFactory = Callable[[], EventStore]


@pytest.fixture(params=["memory", "jetstream", "shared-tail"])
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
    nc = await nats.connect(request.getfixturevalue("nats_url"))
    name = f"T{uuid.uuid4().hex[:12].upper()}"
    prefix = f"t{uuid.uuid4().hex[:8]}.ev"
    # A small read batch, so reads that span several batches are part of the contract.
    first = JetStreamEventStore(nc, stream=name, prefix=prefix, read_batch=7)
    await first.ensure_stream()
    yield lambda: JetStreamEventStore(nc, stream=name, prefix=prefix, read_batch=7)
    await nc.jetstream().delete_stream(name)
    await nc.close()


@pytest.fixture
def store(store_factory: StoreFactory) -> EventStore:
    return store_factory()
