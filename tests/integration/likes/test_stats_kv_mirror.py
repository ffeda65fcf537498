"""The stats bucket against a real nats-server: the copy kept live while plays and likes happen
equals a copy rebuilt from the log alone, key for key, both read back by a plain NATS client;
and a bucket that lost keys or holds stray ones is brought back to the log's word."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.js.errors import NoKeysError

from adapters.clock import VirtualClock
from adapters.log.jetstream_store import JetStreamEventStore
from adapters.stats.kv_mirror import NatsKvStatsBucket
from application.identity.roles import Identity
from application.likes.playing import QueueNowPlaying
from application.likes.rules import LikeRulesService
from application.likes.service import LikeService
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.streams import queue_stream
from application.log.tail import LogTail
from application.stats.mirror import StatsMirrorRunner, key_token
from domain.errors import Rejected
from domain.likes.model import Liked, LikeRules
from domain.media import Media
from domain.queue.commands import ObserveItemQueued, ObserveNowPlaying
from domain.queue.decider import queue_decider

START = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)
CLIPS = [Media("yt", f"clip{i}", f"Clip {i}", 120 + i) for i in range(3)] + [
    Media("cu", "https://example.com/a b.mp4", "A custom file", 60)
]


@pytest.fixture
async def world(nats_url: str) -> AsyncIterator[tuple[Client, JetStreamEventStore, str]]:
    nc = await nats.connect(nats_url)
    name = f"T{uuid.uuid4().hex[:12].upper()}"
    events = JetStreamEventStore(nc, stream=name, prefix=f"t{uuid.uuid4().hex[:8]}.ev")
    await events.ensure_stream()
    yield nc, events, name
    js = nc.jetstream()
    await js.delete_stream(name)
    for bucket in (f"{name}_LIVE", f"{name}_REBUILT"):
        with contextlib.suppress(Exception):  # never created: nothing to clean
            await js.delete_key_value(bucket)
    await nc.close()


async def read_bucket(url: str, bucket: str) -> dict[str, Any]:
    """Every key and value of the bucket, as another service would read it: nats-py alone."""
    client = await nats.connect(url)
    try:
        kv = await client.jetstream().key_value(bucket)
        try:
            keys = await kv.keys()
        except NoKeysError:
            return {}
        found: dict[str, Any] = {}
        for key in keys:
            entry = await kv.get(key)
            found[key] = json.loads(entry.value or b"null")
        return found
    finally:
        await client.close()


async def run_mirror(
    tail: LogTail, nc: Client, bucket: str, head: int
) -> tuple[StatsMirrorRunner, asyncio.Task[None]]:
    runner = StatsMirrorRunner(tail, NatsKvStatsBucket(nc, bucket, "lobby"), "lobby")
    task = asyncio.create_task(runner.run())
    await asyncio.wait_for(runner.wait_synced(head), 10)
    return runner, task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_the_live_copy_equals_one_rebuilt_from_the_log(
    world: tuple[Client, JetStreamEventStore, str], nats_url: str
) -> None:
    nc, events, name = world
    tail = LogTail(events)
    clock = VirtualClock(START)
    handler = CommandHandler(tail, clock)
    rules = LikeRules(rate_limit=3, rate_window_sec=60, dedupe_window_sec=3600)
    likes = LikeService(
        handler, QueueNowPlaying(handler), LikeRulesService(handler, rules), "lobby"
    )
    live, live_task = await run_mirror(tail, nc, f"{name}_LIVE", 0)  # follows from the start

    async def observe(command: Any) -> None:
        await handler.handle(queue_decider, queue_stream("lobby"), command, CommandMeta.new())

    for uid, clip in enumerate(CLIPS, start=1):
        await observe(ObserveItemQueued(uid, clip, queued_by="dj"))
    # Another channel's plays are not this channel's stats.
    await handler.handle(
        queue_decider, queue_stream("other"), ObserveItemQueued(1, CLIPS[0]), CommandMeta.new()
    )
    accepted = refused = 0
    for uid in (1, 2, 1, 4):  # clip0 plays twice: its likes add up over both plays
        await observe(ObserveNowPlaying(uid))
        for user in ("alice", "bob", "carol", "alice", "alice"):
            try:
                await likes.like(Identity(user, "viewer"))
                accepted += 1
            except Rejected:
                refused += 1
            clock.advance(7)
        clock.advance(3600)  # past the dedupe window before the next play
    head = await events.head()
    await asyncio.wait_for(live.wait_synced(head), 10)

    _, rebuilt_task = await run_mirror(tail, nc, f"{name}_REBUILT", head)
    live_copy = await read_bucket(nats_url, f"{name}_LIVE")
    rebuilt_copy = await read_bucket(nats_url, f"{name}_REBUILT")
    assert live_copy == rebuilt_copy

    liked = [e async for c in events.read_all() for e in c.commit.events if isinstance(e, Liked)]
    assert accepted == len(liked) == 12 and refused == 8  # alice's repeats are deduplicated
    totals = live_copy["lobby.totals"]
    assert (totals["likes"], totals["items_played"], totals["items_queued"]) == (12, 4, 4)
    clip0 = live_copy["lobby.media.yt.clip0"]
    assert (clip0["plays"], clip0["likes"]) == (2, 6)
    custom = live_copy[f"lobby.media.cu.{key_token(CLIPS[3].id)}"]
    assert custom["media_id"] == CLIPS[3].id and custom["likes"] == 3
    assert live_copy["lobby.top.liked"][0]["media_id"] == "clip0"
    assert live_copy["lobby.now"]["item_id"] == liked[-1].item_id
    assert live_copy["lobby.now"]["likes"] == 3
    assert sum(v["likes"] for k, v in live_copy.items() if ".day." in k) == 12
    assert not any(k.startswith("other.") for k in live_copy)
    await stop(live_task)
    await stop(rebuilt_task)

    # A bucket that lost a key and gained a stray one: a new mirror puts it back as the log says.
    client = await nats.connect(nats_url)
    kv = await client.jetstream().key_value(f"{name}_LIVE")
    await kv.delete("lobby.media.yt.clip0")
    await kv.put("lobby.media.yt.ghost", b'{"likes": 99}')
    await kv.put("lobby.totals", b'{"likes": 0}')
    await client.close()
    _, again = await run_mirror(tail, nc, f"{name}_LIVE", head)
    assert await read_bucket(nats_url, f"{name}_LIVE") == rebuilt_copy
    await stop(again)
    await tail.close()
