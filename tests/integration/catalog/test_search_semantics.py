"""Search semantics, the same on SQLite (FTS5 trigram) and PostgreSQL (pg_trgm): title
substrings whatever the case and accents, every word must occur, short words, categories (any
or all, case-insensitive), both combined, paging, the three sorts, hidden media excluded, and
the search structures kept in step when a snapshot replaces another."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.sql.projection_store import sqlite_url
from application.catalog.ports import SearchQuery
from tests.conftest import POSTGRES_URL, postgres_schema
from tests.integration.catalog.world import ListSource, World, item, world_on

T0 = datetime(2025, 1, 1, tzinfo=UTC)

ITEMS = [
    item(1, "Night of the Living Dead", "Horror", "Public Domain", published_at=T0),
    item(2, "Häxan", "Horror", "Documentary", published_at=T0 + timedelta(days=5)),
    item(3, "Les Vacances de Monsieur Hulot", "Comedy", published_at=T0 + timedelta(days=2)),
    item(4, "Amélie's Neighbour", "Comedy", "Public Domain", published_at=T0 + timedelta(days=9)),
    item(5, "The Living Room S01E04", "TV Series", "Comedy", published_at=None),
    item(6, "NIGHT MAIL", "Documentary", published_at=T0 + timedelta(days=1)),
    item(7, "Dead Night", "Horror", published_at=T0 + timedelta(days=3)),
    item(8, "The 100% Picture", "Misc", published_at=T0),
    item(9, "Broken", "Misc", duration=0),
    *[item(100 + n, f"Filler {n:03d}", "Filler") for n in range(60)],
]


@pytest.fixture(params=["sqlite", "postgresql"])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    if request.param == "sqlite":
        async with world_on(sqlite_url(tmp_path / "read.db")) as w:
            yield await _filled(w)
    else:
        async with (
            postgres_schema() as schema,
            world_on(
                POSTGRES_URL,
                connect_args={"server_settings": {"search_path": f"{schema},public"}},
            ) as w,
        ):
            yield await _filled(w)


async def _filled(w: World) -> World:
    await w.follow()
    refresher = w.refresher(ListSource(list(ITEMS)))
    await refresher.start("boss")
    assert (await refresher.wait()).phase == "completed"
    await w.settled()
    return w


async def test_substrings_ignore_case_and_accents(world: World) -> None:
    assert await world.titles(text="living", sort="title") == [
        "Night of the Living Dead",
        "The Living Room S01E04",
    ]
    assert await world.titles(text="HAXAN") == ["Häxan"]
    assert await world.titles(text="häx") == ["Häxan"]
    assert await world.titles(text="amelie") == ["Amélie's Neighbour"]
    assert await world.titles(text="AMÉLIE") == ["Amélie's Neighbour"]
    assert await world.titles(text="s01e04") == ["The Living Room S01E04"]
    assert await world.titles(text="ving ro") == ["The Living Room S01E04"]  # inside words


async def test_every_word_must_occur_and_short_words_work(world: World) -> None:
    assert await world.titles(text="dead night", sort="title") == [
        "Dead Night",
        "Night of the Living Dead",
    ]
    assert await world.titles(text="of") == ["Night of the Living Dead"]
    assert await world.titles(text="night xyz") == []
    assert await world.titles(text="100%") == ["The 100% Picture"]  # % is not a wildcard
    assert await world.titles(text="_") == []
    # what no one types but a client may send: searched as the words around it
    assert await world.titles(text="dead\x00night", sort="title") == [
        "Dead Night",
        "Night of the Living Dead",
    ]
    assert await world.titles(text="\u00b8\x00\ud800") == await world.titles(text="")


async def test_categories_any_or_all_and_combined_with_text(world: World) -> None:
    assert await world.titles(categories=["horror"], sort="title") == [
        "Dead Night",
        "Häxan",
        "Night of the Living Dead",
    ]
    assert await world.titles(categories=["Horror", "documentary"], sort="title") == [
        "Dead Night",
        "Häxan",
        "NIGHT MAIL",
        "Night of the Living Dead",
    ]
    assert await world.titles(categories=["Horror", "Documentary"], category_mode="all") == [
        "Häxan"
    ]
    assert await world.titles(text="night", categories=["Documentary"]) == ["NIGHT MAIL"]
    assert await world.titles(text="night", categories=["Public Domain"]) == [
        "Night of the Living Dead"
    ]
    assert await world.titles(categories=["No Such"]) == []


async def test_relevance_newest_and_title_sorts(world: World) -> None:
    # relevance: whole title, then a title starting with it, then a word, then inside a word
    assert (await world.titles(text="night"))[:3] == [
        "NIGHT MAIL",
        "Night of the Living Dead",
        "Dead Night",
    ]
    newest = await world.titles(categories=["Horror", "Comedy"], sort="newest")
    assert newest == [
        "Amélie's Neighbour",
        "Häxan",
        "Dead Night",
        "Les Vacances de Monsieur Hulot",
        "Night of the Living Dead",
        "The Living Room S01E04",  # no date: last
    ]


async def test_paging_counts_everything_and_pages_do_not_overlap(world: World) -> None:
    seen: list[str] = []
    for page in (1, 2, 3):
        result = await world.index.search(
            SearchQuery("lobby", text="filler", sort="title", page=page, per_page=25)
        )
        assert result.total == 60
        seen.extend(i.title for i in result.items)
    assert seen == [f"Filler {n:03d}" for n in range(60)]
    past = await world.index.search(SearchQuery("lobby", text="filler", page=9, per_page=25))
    assert past.total == 60 and past.items == []


async def test_unavailable_hidden_and_available_only(world: World) -> None:
    broken = await world.index.search(SearchQuery("lobby", text="broken"))
    assert [i.available for i in broken.items] == [False]
    assert await world.titles(text="broken", available_only=True) == []
    manifest = ITEMS[1].manifest_url
    assert manifest is not None
    assert await world.titles(text="haxan", exclude_manifests=frozenset({manifest})) == []


async def test_a_new_snapshot_replaces_the_search_structures(world: World) -> None:
    renamed = [item(1, "Carnival of Souls", "Horror"), item(2, "Häxan", "Horror")]
    refresher = world.refresher(ListSource(renamed))
    await refresher.start("boss")
    assert (await refresher.wait()).phase == "completed"
    await world.settled()
    assert await world.titles(text="living") == []
    assert await world.titles(text="carnival") == ["Carnival of Souls"]
    assert await world.titles(categories=["Comedy"]) == []
    assert [c.name for c in await world.index.categories("lobby")] == ["Horror"]


async def test_each_database_uses_its_own_index(world: World) -> None:
    async with world.store.engine.connect() as conn:
        if world.store.engine.dialect.name == "sqlite":
            fts = (await conn.exec_driver_sql("SELECT count(*) FROM catalog_fts")).scalar()
            items = (await conn.exec_driver_sql("SELECT count(*) FROM catalog_items")).scalar()
            assert fts == items == len(ITEMS)  # kept in step by the triggers
            plan = (
                await conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN SELECT rowid FROM catalog_fts WHERE catalog_fts MATCH ?",
                    ('"living"',),
                )
            ).all()
            assert any("VIRTUAL TABLE INDEX" in str(row) for row in plan)
        else:
            assert world.index.trigram_index
            found = (
                await conn.exec_driver_sql(
                    "SELECT indexdef FROM pg_indexes WHERE indexname = 'catalog_items_title_trgm'"
                )
            ).scalar()
            assert found is not None and "gin_trgm_ops" in found
