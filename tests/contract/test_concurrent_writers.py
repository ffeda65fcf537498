"""Two writers on one channel, each with its own stale cache: both land, nothing is lost."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from adapters.clock import WallClock
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.streams import queue_stream
from domain.media import Media
from domain.queue.commands import ObserveItemQueued
from domain.queue.decider import queue_decider
from domain.queue.events import ItemAdded
from tests.contract.conftest import StoreFactory


async def test_two_concurrent_writers_on_one_channel_lose_nothing(
    store_factory: StoreFactory,
) -> None:
    writers = [CommandHandler(store_factory(), WallClock()) for _ in range(2)]
    per_writer = 25

    async def write(w: int) -> None:
        for n in range(per_writer):
            uid = w * 1000 + n
            await writers[w].handle(
                queue_decider,
                queue_stream("lobby"),
                ObserveItemQueued(uid, Media("yt", f"m{uid}", duration_sec=60)),
                CommandMeta(f"obs-{uid}"),
            )
            await asyncio.sleep(0)  # let the other writer in, so caches go stale

    await asyncio.gather(write(0), write(1))

    commits = await store_factory().read_stream(queue_stream("lobby"))
    added = [e for c in commits for e in c.commit.events if isinstance(e, ItemAdded)]
    assert sorted(e.uid for e in added) == sorted(
        w * 1000 + n for w in (0, 1) for n in range(per_writer)
    )
    assert len({e.item_id for e in added}) == 2 * per_writer, "item ids must never repeat"
    assert [c.commit.version for c in commits] == list(range(1, 2 * per_writer + 1))
    assert sum(w.conflicts for w in writers) > 0, "the writers should have raced at least once"
    state = queue_decider.fold("lobby", [e for c in commits for e in c.commit.events])
    assert len(state.items) == 2 * per_writer
    assert datetime.now(UTC) > commits[-1].commit.at
