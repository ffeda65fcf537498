"""Snapshots in a real JetStream KV bucket beside a real JetStream log: the handler writes them,
a cold load starts from one, and a value this build did not write is folded around."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import msgspec
import nats
import pytest
from nats.aio.client import Client

from adapters.clock import VirtualClock
from adapters.log.jetstream_snapshots import JetStreamSnapshotStore, snapshot_key
from adapters.log.jetstream_store import JetStreamEventStore
from application.log.command_handler import CommandHandler
from domain.queue.decider import queue_decider
from tests.unit.log.test_command_handler_snapshots import (
    LOBBY,
    START,
    CountingStore,
    full_fold,
    write_history,
)


@pytest.fixture
async def log(nats_url: str) -> AsyncIterator[tuple[Client, JetStreamEventStore, str]]:
    nc = await nats.connect(nats_url)
    name = f"T{uuid.uuid4().hex[:12].upper()}"
    events = JetStreamEventStore(nc, stream=name, prefix=f"t{uuid.uuid4().hex[:8]}.ev")
    await events.ensure_stream()
    bucket = f"{name}_SNAPSHOTS"
    yield nc, events, bucket
    js = nc.jetstream()
    await js.delete_stream(name)
    await js.delete_key_value(bucket)
    await nc.close()


async def test_a_cold_load_starts_from_the_kv_snapshot(
    log: tuple[Client, JetStreamEventStore, str],
) -> None:
    nc, events, bucket = log
    snapshots = JetStreamSnapshotStore(nc, bucket=bucket)
    await snapshots.ensure_bucket()
    await write_history(events, 23, snapshots=snapshots, snapshot_every=10)
    snapshot = await snapshots.get(LOBBY)
    assert snapshot is not None and snapshot.version == 20

    counting = CountingStore(events)
    cold = CommandHandler(counting, VirtualClock(START), snapshots=snapshots, snapshot_every=10)
    loaded = await cold.load(queue_decider, LOBBY)
    assert counting.reads == [(LOBBY, snapshot.position - 1, 4)]
    full = await full_fold(events)
    assert (loaded.state, loaded.position, loaded.version) == (
        full.state,
        full.position,
        full.version,
    )

    kv = await nc.jetstream().key_value(bucket)
    stored = msgspec.json.decode((await kv.get(snapshot_key(LOBBY))).value)
    stored["schema"] = "wq-snapshot/0:queue:QueueState:0000000000000000:r1"
    await kv.put(snapshot_key(LOBBY), msgspec.json.encode(stored))
    counting = CountingStore(events)
    again = await CommandHandler(counting, VirtualClock(START), snapshots=snapshots).load(
        queue_decider, LOBBY
    )
    assert counting.reads == [(LOBBY, 0, 23)], "an older build's snapshot is not read"
    assert again.state == full.state
