"""Saved playlists through the service, the log and the projection over a real SQLite file:
rows, promo pools united, hidden listings, what cannot be bought, rebuild and restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from attrs import frozen

from adapters.clock import VirtualClock
from adapters.log.memory_store import InMemoryEventStore
from adapters.sql.projection_store import SqlProjectionStore, sqlite_url
from application.cytube.observing import Observer
from application.errors import NotFoundError
from application.identity.roles import Forbidden, Identity
from application.log.command_handler import CommandHandler
from application.playlists.projection import PLAYLIST_ITEMS, PLAYLISTS, PlaylistsProjection
from application.playlists.service import PlaylistService
from application.projections.runner import ProjectionRunner
from domain.errors import Rejected
from domain.media import Media
from domain.promos.kinds import PROMO_TYPES
from domain.queue.commands import ObserveItemQueued

START = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)
ADMIN = Identity("boss", "admin")
BLESSED = Identity("mod", "blessed")
VIEWER = Identity("ann", "viewer")


def clip(n: int, seconds: int = 30) -> Media:
    return Media("yt", f"c{n}", f"Clip {n}", seconds)


@frozen
class World:
    events: InMemoryEventStore
    store: SqlProjectionStore
    clock: VirtualClock
    service: PlaylistService
    handler: CommandHandler

    def runner(self, batch_size: int = 500) -> ProjectionRunner:
        return ProjectionRunner(
            self.events, self.store, PlaylistsProjection(), batch_size=batch_size
        )

    async def caught_up(self) -> ProjectionRunner:
        runner = self.runner()
        await runner.start()
        await runner.catch_up()
        return runner

    async def rows(self) -> list[list[dict[str, Any]]]:
        return [
            await self.store.fetch(PLAYLISTS, order_by=("channel", "playlist_id")),
            await self.store.fetch(PLAYLIST_ITEMS, order_by=("channel", "playlist_id", "position")),
        ]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    events = InMemoryEventStore()
    store = SqlProjectionStore(sqlite_url(tmp_path / "read.db"))
    await store.prepare()
    clock = VirtualClock(START, speed=1.0)
    handler = CommandHandler(events, clock)
    yield World(events, store, clock, PlaylistService(handler, store, clock), handler)
    await store.close()


async def test_rows_follow_every_change(world: World) -> None:
    made = await world.service.create("lobby", BLESSED, " Friday ", items=[clip(1), clip(2, 90)])
    assert (made.name, made.item_count, made.total_duration_sec) == ("Friday", 2, 120)
    await world.caught_up()
    rows, items = await world.rows()
    assert len(rows) == 1
    row = rows[0]
    assert {k: row[k] for k in row if k not in ("created_at", "updated_at")} == {
        "channel": "lobby",
        "playlist_id": made.playlist_id,
        "name": "Friday",
        "is_immutable": False,
        "promo_type": None,
        "item_count": 2,
        "total_duration_sec": 120,
        "deleted": False,
    }
    assert row["created_at"] >= START and row["updated_at"] >= row["created_at"]
    assert [(i["position"], i["media_id"], i["title"], i["duration_sec"]) for i in items] == [
        (0, "c1", "Clip 1", 30),
        (1, "c2", "Clip 2", 90),
    ]

    world.clock.advance(60)
    await world.service.update(
        "lobby", ADMIN, made.playlist_id, name="Friday late", items=[clip(3, 600)]
    )
    await world.caught_up()
    rows, items = await world.rows()
    assert (rows[0]["name"], rows[0]["item_count"], rows[0]["total_duration_sec"]) == (
        "Friday late",
        1,
        600,
    )
    assert rows[0]["updated_at"] > row["updated_at"] and rows[0]["created_at"] == row["created_at"]
    assert [i["media_id"] for i in items] == ["c3"]

    got = await world.service.get("lobby", VIEWER, made.playlist_id)
    assert [m.media_id for m in got.items] == ["c3"] and got.created_at == row["created_at"]

    await world.service.delete("lobby", BLESSED, made.playlist_id)
    await world.caught_up()
    rows, items = await world.rows()
    assert rows[0]["deleted"] is True and rows[0]["item_count"] == 0 and items == []
    assert await world.service.list("lobby", ADMIN, include_hidden=True) == []
    with pytest.raises(NotFoundError):
        await world.service.get("lobby", ADMIN, made.playlist_id)


async def test_pools_unite_the_playlists_of_each_type_in_order_without_repeats(
    world: World,
) -> None:
    svc = world.service
    first = await svc.create("lobby", BLESSED, "VC 1", items=[clip(1), clip(2)])
    await svc.set_flags("lobby", BLESSED, first.playlist_id, False, "viewers_choice")
    world.clock.advance(1)
    second = await svc.create(
        "lobby", BLESSED, "VC 2", items=[clip(2), clip(3)], promo_type="viewers_choice"
    )
    world.clock.advance(1)
    fp = await svc.create(
        "lobby", BLESSED, "FP", items=[clip(9)], promo_type="feature_presentation"
    )
    world.clock.advance(1)
    gone = await svc.create("lobby", BLESSED, "Old", items=[clip(7)], promo_type="event")
    await svc.delete("lobby", BLESSED, gone.playlist_id)
    await svc.create("lobby", BLESSED, "Normal", items=[clip(8)])
    await svc.create("other", BLESSED, "Elsewhere", items=[clip(5)], promo_type="event")
    await world.caught_up()

    pools = await svc.pools("lobby")
    assert set(pools) == set(PROMO_TYPES)
    assert [m.id for m in pools["viewers_choice"]] == ["c1", "c2", "c3"]
    assert [m.id for m in pools["feature_presentation"]] == ["c9"]
    assert pools["event"] == [] and pools["channel_identity"] == []
    assert pools["viewers_choice"][0] == clip(1)

    shown = await svc.promo_pools("lobby", BLESSED)
    assert shown.pools["viewers_choice"].playlists == [first.playlist_id, second.playlist_id]
    assert shown.pools["feature_presentation"].playlists == [fp.playlist_id]
    assert [e.media_id for e in shown.pools["viewers_choice"].items] == ["c1", "c2", "c3"]
    with pytest.raises(Forbidden):
        await svc.promo_pools("lobby", VIEWER)

    # Taking the tag off a playlist takes its items out of the pool.
    await svc.update("lobby", ADMIN, first.playlist_id, promo_type=None)
    await world.caught_up()
    assert [m.id for m in (await svc.pools("lobby"))["viewers_choice"]] == ["c2", "c3"]


async def test_hidden_playlists_are_listed_only_for_blessed_who_ask(world: World) -> None:
    svc = world.service
    normal = await svc.create("lobby", BLESSED, "b normal", items=[clip(1)])
    immutable = await svc.create("lobby", BLESSED, "A curated", is_immutable=True)
    pool = await svc.create("lobby", BLESSED, "C pool", promo_type="mod_shoutout")
    await world.caught_up()

    def names(summaries: list[Any]) -> list[str]:
        return [s.name for s in summaries]

    assert names(await svc.list("lobby", VIEWER)) == ["b normal"]
    assert names(await svc.list("lobby", VIEWER, include_hidden=True)) == ["b normal"]
    assert names(await svc.list("lobby", BLESSED)) == ["b normal"]
    assert names(await svc.list("lobby", BLESSED, include_hidden=True)) == [
        "A curated",
        "b normal",
        "C pool",
    ]
    assert names(await svc.list("lobby", ADMIN, include_hidden=True))[1] == "b normal"
    assert await svc.list("other", ADMIN, include_hidden=True) == []

    assert (await svc.get("lobby", VIEWER, normal.playlist_id)).name == "b normal"
    for hidden in (immutable, pool):
        with pytest.raises(NotFoundError):
            await svc.get("lobby", VIEWER, hidden.playlist_id)
        assert (await svc.get("lobby", BLESSED, hidden.playlist_id)).playlist_id == (
            hidden.playlist_id
        )


async def test_media_in_pools_and_immutable_playlists_cannot_be_bought(world: World) -> None:
    svc = world.service
    await svc.create("lobby", BLESSED, "Pool", items=[clip(1), clip(2)], promo_type="event")
    await svc.create("lobby", BLESSED, "Curated", items=[clip(3)], is_immutable=True)
    await svc.create("lobby", BLESSED, "Normal", items=[clip(2), clip(4)])
    deleted = await svc.create("lobby", BLESSED, "Gone", items=[clip(5)], is_immutable=True)
    await svc.delete("lobby", BLESSED, deleted.playlist_id)
    await world.caught_up()
    assert await svc.non_payable("lobby") == frozenset({("yt", "c1"), ("yt", "c2"), ("yt", "c3")})
    assert await svc.non_payable("other") == frozenset()


async def test_writes_need_blessed_and_refusals_say_why(world: World) -> None:
    svc = world.service
    with pytest.raises(Forbidden):
        await svc.create("lobby", VIEWER, "Mine")
    made = await svc.create("lobby", BLESSED, "Mine", items=[clip(1)])
    with pytest.raises(Forbidden):
        await svc.rename("lobby", VIEWER, made.playlist_id, "Yours")
    with pytest.raises(Rejected) as dup:
        await svc.set_items("lobby", BLESSED, made.playlist_id, [clip(1), clip(1)])
    assert dup.value.code == "duplicate_media"
    for missing in ("0" * 32, "not-an-id", made.playlist_id.upper()):
        with pytest.raises(NotFoundError):
            await svc.rename("lobby", BLESSED, missing, "X")
    # A request of several changes is refused whole: the rename did not land either.
    with pytest.raises(Rejected):
        await svc.update("lobby", BLESSED, made.playlist_id, name="Renamed", items=[clip(1)] * 2)
    assert (await svc.rename("lobby", BLESSED, made.playlist_id, "Mine")).name == "Mine"
    stream_commits = [
        s async for s in world.events.read_all() if s.commit.stream.aggregate == "playlist"
    ]
    # One commit for the create with its items (an edit is never seen half made); the refused
    # update wrote nothing, and the name is claimed on another stream.
    assert len(stream_commits) == 1
    assert [type(e).__name__ for e in stream_commits[0].commit.events] == [
        "PlaylistCreated",
        "PlaylistItemsSet",
    ]


async def test_rebuild_gives_the_same_rows_and_other_aggregates_are_ignored(world: World) -> None:
    svc = world.service
    await Observer(world.handler).observe("lobby", ObserveItemQueued(1, clip(40)))
    a = await svc.create("lobby", BLESSED, "A", items=[clip(1), clip(2)], promo_type="event")
    await svc.rename("lobby", BLESSED, a.playlist_id, "A2")
    b = await svc.create("lobby", BLESSED, "B", is_immutable=True)
    await svc.set_items("lobby", BLESSED, b.playlist_id, [clip(3)])
    await svc.delete("lobby", BLESSED, b.playlist_id)
    await svc.create("other", BLESSED, "C", items=[clip(4)])
    runner = world.runner(batch_size=2)
    await runner.start()
    await runner.catch_up()
    before = await world.rows()
    assert len(before[0]) == 3 and len(before[1]) == 3

    await runner.rebuild()
    assert await world.rows() == before
    assert runner.position == await world.events.head()

    # A restarted runner warms from its rows and carries on from its checkpoint.
    world.clock.advance(60)
    await svc.rename("lobby", BLESSED, a.playlist_id, "A3")
    await svc.set_items("lobby", BLESSED, a.playlist_id, [clip(2)])
    again = world.runner()
    await again.start()
    assert await again.catch_up() == 3  # the new name claimed, renamed, items set
    row = (await world.store.fetch(PLAYLISTS, {"playlist_id": a.playlist_id}))[0]
    assert (row["name"], row["promo_type"], row["item_count"]) == ("A3", "event", 1)
    (old,) = [r for r in before[0] if r["playlist_id"] == a.playlist_id]
    assert row["created_at"] == old["created_at"] and row["updated_at"] > old["updated_at"]


async def test_cached_pools_follow_every_stored_change(tmp_path: Path) -> None:
    """With caching on, a purchase's non-payable check asks no SQL between changes, and a
    change is seen as soon as the projection has stored it."""
    events = InMemoryEventStore()
    pstore = SqlProjectionStore(sqlite_url(tmp_path / "read.db"))
    await pstore.prepare()
    clock = VirtualClock(START, speed=1.0)
    service = PlaylistService(CommandHandler(events, clock), pstore, clock, cache_pools=True)
    runner = ProjectionRunner(events, pstore, PlaylistsProjection(), on_stored=service.rows_changed)
    task = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(runner.caught_up.wait(), 5)
        assert await service.non_payable("lobby") == frozenset()
        fetches = 0
        real_fetch = pstore.fetch

        async def counting_fetch(*args: Any, **kwargs: Any) -> Any:
            nonlocal fetches
            fetches += 1
            return await real_fetch(*args, **kwargs)

        pstore.fetch = counting_fetch  # type: ignore[method-assign]
        for _ in range(5):
            assert await service.non_payable("lobby") == frozenset()
        assert fetches == 0
        created = await service.create(
            "lobby", ADMIN, "Promos", items=[clip(7)], promo_type="channel_identity"
        )
        head = await events.head()
        for _ in range(200):
            if await pstore.checkpoint(runner.projection.name) >= head:
                break
            await asyncio.sleep(0.01)
        assert await service.non_payable("lobby") == frozenset({clip(7).key})
        assert [m.key for m in (await service.pools("lobby"))["channel_identity"]] == [clip(7).key]
        assert created.playlist_id
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pstore.close()
