"""Refreshes through the log into the read model over a real SQLite file: the demo catalog
indexed, the snapshot switching only at completion while searches run, the diff, a failure kept
out of search, a restart mid-refresh, and one refresh at a time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.catalog_file.source import FileCatalogSource
from adapters.sql.projection_store import sqlite_url
from application.catalog.ports import CatalogSourceError, SearchQuery
from application.log.ports import StreamId
from application.log.streams import catalog_stream
from domain.catalog.model import RefreshStarted, catalog_decider
from domain.errors import Rejected
from tests.integration.catalog.world import TEMPLATE, ListSource, World, item, world_on


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with world_on(sqlite_url(tmp_path / "read.db")) as w:
        await w.follow()
        yield w


async def test_the_demo_catalog_is_indexed_and_searchable(world: World) -> None:
    refresher = world.refresher(FileCatalogSource(None, TEMPLATE))
    await refresher.start("boss")
    progress = await refresher.wait()
    assert progress.phase == "completed", progress.error
    await world.settled()
    assert progress.item_count >= 300
    page = await world.index.search(SearchQuery("lobby", text="s01e0"))
    assert page.total >= 9 and all("s01e0" in i.title.lower() for i in page.items)
    assert "Häxan" in await world.titles(text="haxan")
    unavailable = await world.index.search(SearchQuery("lobby", text="lost reel"))
    assert [i.available for i in unavailable.items] == [False]
    assert "no video id" in (unavailable.items[0].unavailable_reason or "")
    cats = {c.name: c.count for c in await world.index.categories("lobby")}
    assert cats["TV Series"] > 100 and "Horror" in cats


async def test_searches_read_the_old_snapshot_until_the_new_one_is_complete(world: World) -> None:
    first = ListSource([item(1, "Night of the Living Dead", "Horror"), item(2, "Detour", "Noir")])
    refresher = world.refresher(first)
    await refresher.start("boss")
    await refresher.wait()
    await world.settled()
    old = await world.index.current("lobby")

    gate = asyncio.Event()
    second = ListSource(
        [item(1, "Night of the Living Dead", "Horror"), item(3, "Dementia 13", "Horror")]
        + [item(100 + n, f"Filler {n}", "Misc") for n in range(450)],
        gate=gate,
    )
    refresher2 = world.refresher(second)
    await refresher2.start("boss")

    async def searching() -> set[int]:
        seen: set[int] = set()
        while refresher2.progress.phase != "completed":
            page = await world.index.search(SearchQuery("lobby", per_page=100))
            seen.add(page.total)
            assert page.snapshot_id in (old, refresher2.progress.refresh_id)
            await asyncio.sleep(0)
        return seen

    watcher = asyncio.create_task(searching())
    await asyncio.sleep(0.05)
    gate.set()
    await refresher2.wait()
    totals = await watcher
    await world.settled()
    assert totals <= {2, 452}  # the old snapshot whole, or the new one whole: never half
    assert await world.titles(text="detour") == []
    assert await world.titles(text="dementia") == ["Dementia 13"]
    snaps = await world.index.snapshots("lobby", 5)
    assert [s.status for s in snaps] == ["completed", "completed"]
    assert (snaps[0].added, snaps[0].removed, snaps[0].changed) == (451, 1, 0)
    detail = await world.index.snapshot("lobby", snaps[0].snapshot_id)
    assert detail is not None
    assert [(c.key, c.title) for c in detail.changes if c.kind == "removed"] == [
        ("v00002", "Detour")
    ]
    assert (
        len([c for c in detail.changes if c.kind == "added"]) == 100
    )  # the first 100 of each kind named


async def test_a_failed_refresh_leaves_search_on_the_last_snapshot(world: World) -> None:
    refresher = world.refresher(ListSource([item(1, "Detour", "Noir")]))
    await refresher.start("boss")
    await refresher.wait()

    class Broken:
        description = "MediaCMS at media.example"

        async def read(self, known: object, report: object) -> list[object]:
            raise CatalogSourceError("media.example: connection refused")

    failing = world.refresher(Broken())  # type: ignore[arg-type]
    await failing.start("boss")
    progress = await failing.wait()
    await world.settled()
    assert progress.phase == "failed" and "connection refused" in (progress.error or "")
    assert await world.titles() == ["Detour"]
    snaps = await world.index.snapshots("lobby", 5)
    assert snaps[0].status == "failed" and "refused" in (snaps[0].reason or "")
    assert snaps[1].current


async def test_one_refresh_at_a_time_and_a_restart_mid_refresh_starts_again(world: World) -> None:
    gate = asyncio.Event()
    source = ListSource([item(n, f"Title {n}") for n in range(1, 301)], gate=gate)
    refresher = world.refresher(source, batch_size=100)
    first_id = await refresher.start("boss")
    with pytest.raises(Rejected) as here:
        await refresher.start("boss")
    assert here.value.code == "refresh_running"
    other = world.refresher(ListSource([]), owner="node-b")
    with pytest.raises(Rejected) as elsewhere:
        await other.start("boss")
    assert elsewhere.value.code == "refresh_running"

    # the process dies with one of its three batches in the log
    world.events.hold_batch = 1
    gate.set()
    await world.events.held.wait()
    await refresher.stop()
    world.events.hold_batch = None
    state = await refresher.state()
    assert state.running is not None and state.running.refresh_id == first_id
    assert state.current is None

    # the same node starts again: the interrupted refresh is failed, a new one runs whole
    restarted = world.refresher(ListSource(source.items), batch_size=100)
    await restarted.run_schedule()
    progress = await restarted.wait()
    await world.settled()
    assert progress.phase == "completed" and progress.refresh_id != first_id
    page = await world.index.search(SearchQuery("lobby", per_page=5))
    assert page.total == 300 and page.snapshot_id == progress.refresh_id
    snaps = {s.snapshot_id: s for s in await world.index.snapshots("lobby", 5)}
    assert snaps[first_id].status == "failed" and "Interrupted" in (snaps[first_id].reason or "")
    state = await world.handler.state(catalog_decider, refresher_stream())
    assert state.current == progress.refresh_id


def refresher_stream() -> StreamId:
    return catalog_stream("lobby")


async def test_another_process_refresh_is_taken_over_once_stale(world: World) -> None:
    gate = asyncio.Event()
    stuck = world.refresher(ListSource([item(1, "A")], gate=gate), owner="node-b")
    await stuck.start("boss")
    await stuck.stop()  # node-b vanished
    mine = world.refresher(ListSource([item(2, "B")]), stale_after_sec=60)
    with pytest.raises(Rejected):
        await mine.start("boss")
    world.clock.advance(61)
    await mine.start("boss")
    assert (await mine.wait()).phase == "completed"
    await world.settled()
    assert await world.titles() == ["B"]


async def refreshes_started(world: World) -> int:
    commits = await world.events.read_stream(refresher_stream())
    return sum(1 for c in commits for e in c.commit.events if isinstance(e, RefreshStarted))


async def test_the_schedule_refreshes_once_an_interval_and_a_failing_source_no_more_often(
    world: World,
) -> None:
    world.clock.set_speed(60.0)  # a scheduled minute is a real second
    good = world.refresher(ListSource([item(1, "Detour", "Noir")]), refresh_interval_minutes=1)
    schedule = asyncio.create_task(good.run_schedule())
    await asyncio.sleep(3.5)  # the start's refresh, then about one a minute
    schedule.cancel()
    await good.stop()
    ran = await refreshes_started(world)
    assert 3 <= ran <= 5

    class Down:
        description = "MediaCMS at media.example"

        async def read(self, known: object, report: object) -> list[object]:
            raise CatalogSourceError("media.example: connection refused")

    failing = world.refresher(Down(), refresh_interval_minutes=1)  # type: ignore[arg-type]
    schedule = asyncio.create_task(failing.run_schedule())
    await asyncio.sleep(3.5)  # a snapshot exists: nothing at start, then one try a minute
    schedule.cancel()
    await failing.stop()
    tries = await refreshes_started(world) - ran
    assert 2 <= tries <= 5
    await world.settled()
    assert await world.titles() == ["Detour"]  # search stays on the last good snapshot
