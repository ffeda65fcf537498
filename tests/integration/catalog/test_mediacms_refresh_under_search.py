"""A refresh of a MediaCMS-shaped library of a few thousand items (real HTTP, pages of 50,
details per item) while searches run: every search answers from the old snapshot whole or the
new one whole, never a mix, and the new one is current once complete."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.mediacms.source import MediaCmsSource
from adapters.sql.projection_store import sqlite_url
from application.catalog.ports import SearchQuery
from tests.integration.catalog.mediacms_server import EDITOR_TOKEN, Library, MediaCmsServer
from tests.integration.catalog.world import World, world_on

TEMPLATE = "{base}/api/v1/media/cytube/{video_id}.json?format=json"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with world_on(sqlite_url(tmp_path / "read.db")) as w:
        await w.follow()
        yield w


async def test_searches_see_one_whole_snapshot_while_thousands_are_refreshed(
    world: World,
) -> None:
    library = Library()
    library.add(2000)
    with MediaCmsServer(library) as server:
        source = MediaCmsSource(
            server.url + "/api/v1/", TEMPLATE, token=EDITOR_TOKEN, detail_concurrency=8
        )
        first = world.refresher(source, batch_size=200)
        await first.start("boss")
        assert (await first.wait()).phase == "completed"
        await world.settled()
        old = await world.index.current("lobby")
        assert (await world.index.search(SearchQuery("lobby"))).total == 2000

        library.add(700)  # new items, whose details are read
        del library.media[:100]  # and some gone from the library
        second = world.refresher(source, batch_size=200)

        seen: set[tuple[str | None, int]] = set()

        async def searching() -> None:
            # until the new snapshot answers (or the refresh failed)
            while second.progress.phase != "failed" and not any(
                snap not in (None, old) for snap, _ in seen
            ):
                for query in (SearchQuery("lobby"), SearchQuery("lobby", categories=("Horror",))):
                    page = await world.index.search(query)
                    seen.add((page.snapshot_id, page.total))
                await asyncio.sleep(0.005)

        await second.start("boss")
        watcher = asyncio.create_task(searching())
        progress = await second.wait()
        assert progress.phase == "completed", progress.error
        await asyncio.wait_for(watcher, 30)
        await world.settled()

    new = progress.refresh_id
    everything = {total for snap, total in seen}
    assert {snap for snap, _ in seen} <= {old, new}
    # every answer is the old snapshot whole (2,000 items, every third one Horror) or the new
    # one whole (2,600: Feature 100 to 2699)
    horror_old = sum(1 for n in range(2000) if n % 3 == 0)
    horror_new = sum(1 for n in range(100, 2700) if n % 3 == 0)
    assert everything <= {2000, horror_old, 2600, horror_new}, everything
    assert (old, 2000) in seen and new in {snap for snap, _ in seen}  # across the switch
    page = await world.index.search(SearchQuery("lobby"))
    assert (page.snapshot_id, page.total) == (new, 2600)
    assert await world.titles(text="feature 2699") == ["Feature 2699"]
    gone = await world.titles(text="feature 42", per_page=200)  # Feature 0-99 were removed
    assert "Feature 42" not in gone and "Feature 142" in gone
