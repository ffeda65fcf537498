"""A read of an aggregate's commits while nobody serves the stream's direct gets yet (a stream
just created on a cluster, or one between leaders, answers 503 "no responders" for a moment):
asked again until it answers, within the store's timeout, instead of failing at once (a service
starting on a fresh three-node cluster once died of it)."""

from __future__ import annotations

import asyncio
import time
import uuid

import nats
import pytest

from adapters.log.jetstream_store import JetStreamEventStore
from application.log.ports import StoreUnavailable, StreamId

STREAM = StreamId("lobby", "queue", "lobby")


async def test_a_read_waits_for_the_stream_to_answer(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    name, prefix = f"T{uuid.uuid4().hex[:10].upper()}", f"t{uuid.uuid4().hex[:8]}"
    store = JetStreamEventStore(nc, stream=name, prefix=prefix, timeout=5.0)
    try:
        reading = asyncio.create_task(store.read_stream(STREAM))
        await asyncio.sleep(0.4)  # nobody answers direct gets of a stream that is not there
        assert not reading.done()
        await store.ensure_stream()
        assert await asyncio.wait_for(reading, 10) == []
    finally:
        await nc.jetstream().delete_stream(name)
        await nc.close()


async def test_a_stream_that_never_answers_is_reported_after_the_timeout(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    store = JetStreamEventStore(nc, stream="NEVERMADE", prefix="never", timeout=1.0)
    started = time.monotonic()
    try:
        with pytest.raises(StoreUnavailable, match="503"):
            await store.read_stream(STREAM)
        assert time.monotonic() - started < 5
    finally:
        await nc.close()
