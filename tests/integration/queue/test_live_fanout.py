"""The live fan-out builds its view from the queue shadow's memory, before the SQL transaction:
that view must be the one `QueueQueries.queue` reads back from SQLite once the batch is in.

The log comes from a realistic run (simulated CyTube, pay flow, promo director: paid items with
Viewer's Choice lead-ins, general promos, playback, an owner away, a lock), then is replayed
through a runner over a real SQLite file, comparing after every transaction."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.sql.projection_store import SqlProjectionStore, sqlite_url
from application.log.command_handler import CommandMeta
from application.log.streams import queue_stream
from application.projections.ports import Write
from application.projections.runner import ProjectionRunner
from application.queue.live import LiveQueues, Watcher, encode_frame
from application.queue.shadow import QueueShadowProjection
from application.queue.view import QueueQueries
from domain.media import Media
from domain.promos.config import GeneralCadence, PromoConfig
from domain.queue.decider import queue_decider
from domain.queue.pay_model import LockQueue, NoteOwnerAway
from tests.integration.pay.pay_world import START
from tests.integration.promos.test_promo_director import Directed


class SetClock:
    def __init__(self) -> None:
        self.at = START

    def now(self) -> datetime:
        return self.at

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)


async def realistic_log() -> Directed:
    w = Directed()
    for n, minutes in enumerate([3, 4, 97, 5, 3, 6, 2, 4]):
        await w.sim.add(Media("yt", f"c{n}", f"Content {n}", minutes * 60))
    await w.ledger.grant("lobby", "ann", 10_000, "admin")
    await w.sim.join("ann")
    await w.configure(PromoConfig(general=GeneralCadence(every_n_items=2, every_m_minutes=60)))
    w.start_flow()
    w.start_director()
    first, _ = await w.request("ann", Media("yt", "paid1", "Paid pick", 300), "playnext")
    second, _ = await w.request("ann", Media("yt", "paid2", "Later pick", 200), "queue")
    await w.settled(first, second)
    await w.until(
        lambda s: any(
            p.promo_type == "viewers_choice" and p.placement == "positioned" for p in s.promos
        ),
        "Viewer's Choice in front of the paid item",
    )
    playback = asyncio.create_task(w.sim.run())
    await asyncio.sleep(1.0)  # about five simulated minutes: items and promos play
    playback.cancel()
    await asyncio.gather(playback, return_exceptions=True)
    now = w.clock.now()
    for command in (
        NoteOwnerAway("ann", "left", now, now + timedelta(seconds=60)),
        LockQueue("movie night", now + timedelta(hours=2), "admin"),
    ):
        await w.handler.handle(
            queue_decider, queue_stream("lobby"), command, CommandMeta.new("admin")
        )
    await w.stop_director()
    await w.stop_flow()
    return w


class Checked(SqlProjectionStore):
    """After every queue-shadow transaction, the frame the watcher was handed (built from
    memory, before the transaction) must equal the view read back from SQL now."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.queries: QueueQueries | None = None
        self.watcher: Watcher | None = None
        self.frames: list[dict[str, Any]] = []

    async def commit(
        self, name: str, expected: int, position: int, writes: Sequence[Write]
    ) -> None:
        await super().commit(name, expected, position, writes)
        if name != QueueShadowProjection.name:
            return
        assert self.queries is not None and self.watcher is not None
        frame = await asyncio.wait_for(self.watcher.next(), 1)
        assert frame is not None
        from_sql = await self.queries.queue("lobby")
        assert from_sql.position == position
        assert frame == encode_frame(from_sql)
        self.frames.append(json.loads(frame))


@pytest.mark.parametrize("batch_size", [1, 7])
async def test_the_view_from_memory_is_the_view_read_back_from_sql(
    tmp_path: Path, batch_size: int
) -> None:
    world = await realistic_log()
    commit_times = {s.position: s.commit.at async for s in world.store.read_all()}

    store = Checked(sqlite_url(tmp_path / "read.db"))
    await store.prepare()
    clock = SetClock()
    shadow = QueueShadowProjection()
    store.queries = queries = QueueQueries(store, clock)
    live = LiveQueues(queries, shadow)
    store.watcher = await live.watch("lobby")
    assert (await store.watcher.next()) == encode_frame(await queries.queue("lobby"))

    async def on_change(channels: set[str], position: int) -> None:
        clock.at = commit_times[position] + timedelta(seconds=37)  # ETAs mid-item
        await live.changed(channels, position)

    runner = ProjectionRunner(
        world.store, store, shadow, batch_size=batch_size, on_change=on_change
    )
    await runner.start()
    await runner.catch_up()
    await store.close()

    frames = store.frames
    assert len(frames) >= (20 if batch_size == 1 else 5)
    items = [i for f in frames for i in f["items"]]
    assert any(i["pay"] for i in items), "paid items"
    assert any(i["promo_type"] == "viewers_choice" and i["lead_in_for"] for i in items)
    assert any(i["promo_type"] and not i["lead_in_for"] for i in items), "general promos"
    assert any(i["pay"] and i["pay"]["owner_away_reason"] == "left" for i in items)
    assert any(i["eta_sec"] is not None for i in items)
    assert any(f["now_playing"] and f["now_playing"]["remaining_sec"] for f in frames)
    assert frames[-1]["lock"]["label"] == "movie night"
    positions = [f["position"] for f in frames]
    assert positions == sorted(positions) and positions[-1] == await world.store.head()
