"""Saved playlists through the service over the log and a real SQLite read model: names unique
per channel (even when two editors save at once), versions that keep concurrent edits from
being lost, copies, catalog items through the port, who made it and when."""

from __future__ import annotations

import asyncio

import pytest

from application.identity.roles import Identity
from application.log.command_handler import CommandHandler
from application.playlists.catalog import CatalogEntry
from application.playlists.service import CatalogRef, PlaylistService
from domain.errors import Rejected
from domain.media import Media
from tests.integration.playlists.test_playlists_projection import (
    BLESSED,
    START,
    VIEWER,
    World,
    clip,
)

OTHER = Identity("eve", "blessed")


class FakeCatalog:
    def __init__(self) -> None:
        self.entries = {
            "m1": CatalogEntry("m1", "Pilot S01E01", 1500, "cm", "https://x/1.json"),
            "m2": CatalogEntry("m2", "Gone", 60, "cm", "https://x/2.json", False, "no video id"),
        }

    async def get(self, channel: str, item_id: str) -> CatalogEntry | None:
        return self.entries.get(item_id)


async def test_names_are_unique_without_case_or_spaces_and_the_409_names_the_holder(
    world: World,
) -> None:
    svc = world.service
    first = await svc.create("lobby", BLESSED, "Friday Night")
    for other in ("friday night", " FRIDAY   NIGHT", "FridayNight"):
        with pytest.raises(Rejected) as taken:
            await svc.create("lobby", OTHER, other)
        assert taken.value.code == "name_taken"
        assert taken.value.extra["existing"] == {
            "playlist_id": first.playlist_id,
            "name": "Friday Night",
        }
    second = await svc.create("lobby", BLESSED, "Saturday")
    with pytest.raises(Rejected) as taken:
        await svc.rename("lobby", BLESSED, second.playlist_id, "friday NIGHT")
    assert taken.value.code == "name_taken"
    # Another channel is another namespace; a rename to its own name in other case is fine.
    await svc.create("other", BLESSED, "Friday Night")
    renamed = await svc.rename("lobby", BLESSED, first.playlist_id, "FRIDAY night")
    assert renamed.name == "FRIDAY night"
    # A renamed or deleted playlist gives its name up.
    await svc.create("lobby", BLESSED, "Friday Night Two")
    await svc.rename("lobby", BLESSED, second.playlist_id, "Sunday")
    await svc.create("lobby", BLESSED, "Saturday")
    await svc.delete("lobby", BLESSED, first.playlist_id)
    again = await svc.create("lobby", BLESSED, "friday night")
    assert again.playlist_id != first.playlist_id


async def test_two_editors_saving_one_name_at_once_make_one_playlist(world: World) -> None:
    others = [
        PlaylistService(CommandHandler(world.events, world.clock), world.store, world.clock)
        for _ in range(4)
    ]
    results = await asyncio.gather(
        *(s.create("lobby", BLESSED, f"Marathon{' ' * i}") for i, s in enumerate(others)),
        return_exceptions=True,
    )
    made = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, Rejected)]
    assert len(made) == 1 and len(refused) == 3, results
    assert {r.code for r in refused} == {"name_taken"}


async def test_a_second_editor_with_a_stale_version_gets_409_and_the_current_version(
    world: World,
) -> None:
    svc = world.service
    made = await svc.create("lobby", BLESSED, "Mine", items=[clip(1), clip(2), clip(3)])
    assert made.version == 2
    ann = await svc.move_item("lobby", BLESSED, made.playlist_id, 2, 0, expected_version=2)
    assert [i.media_id for i in ann.items] == ["c3", "c1", "c2"] and ann.version == 3
    with pytest.raises(Rejected) as stale:
        await svc.remove_items("lobby", OTHER, made.playlist_id, [0], expected_version=2)
    assert stale.value.code == "version_conflict"
    assert stale.value.extra["current_version"] == 3
    with pytest.raises(Rejected) as stale:
        await svc.update("lobby", OTHER, made.playlist_id, name="Yours", expected_version=2)
    assert stale.value.code == "version_conflict"
    with pytest.raises(Rejected):
        await svc.delete("lobby", OTHER, made.playlist_id, expected_version=1)
    now = await svc.get("lobby", VIEWER, made.playlist_id)
    assert (now.name, now.version, [i.media_id for i in now.items]) == (
        "Mine",
        3,
        ["c3", "c1", "c2"],
    )
    # Without a version an edit goes on top of whatever is there (as before).
    done = await svc.add_items("lobby", OTHER, made.playlist_id, [clip(4)], at=0)
    assert [i.media_id for i in done.items] == ["c4", "c3", "c1", "c2"]


async def test_answers_say_who_made_it_and_when(world: World) -> None:
    svc = world.service
    made = await svc.create("lobby", BLESSED, "Mine", items=[clip(1)])
    assert made.created_by == "mod"
    assert made.created_at is not None and made.created_at >= START
    world.clock.advance(120)
    later = await svc.rename("lobby", OTHER, made.playlist_id, "Ours")
    assert later.created_at == made.created_at
    assert later.updated_at is not None and made.updated_at is not None
    assert (later.updated_at - made.updated_at).total_seconds() >= 120
    await world.caught_up()
    (summary,) = await svc.list("lobby", VIEWER)
    assert (summary.created_by, summary.version, summary.name) == ("mod", 3, "Ours")


async def test_a_copy_is_editable_and_named_after_its_source(world: World) -> None:
    svc = world.service
    made = await svc.create("lobby", BLESSED, "Promo", items=[clip(1), clip(2)], is_immutable=True)
    copy = await svc.duplicate("lobby", OTHER, made.playlist_id)
    assert (copy.name, copy.is_immutable, copy.copied_from) == (
        "Promo (copy)",
        False,
        made.playlist_id,
    )
    assert [i.media_id for i in copy.items] == ["c1", "c2"] and copy.created_by == "eve"
    second = await svc.duplicate("lobby", OTHER, made.playlist_id)
    assert second.name == "Promo (copy 2)"
    with pytest.raises(Rejected) as taken:
        await svc.duplicate("lobby", OTHER, made.playlist_id, "promo")
    assert taken.value.code == "name_taken"


async def test_catalog_items_take_title_and_length_from_the_catalog(world: World) -> None:
    svc = world.service
    svc.catalog = FakeCatalog()
    made = await svc.create(
        "lobby", BLESSED, "Shows", items=[CatalogRef("m1"), Media("yt", "link", "A link", 30)]
    )
    first, second = made.items
    assert (first.catalog_id, first.title, first.duration_sec, first.media_type) == (
        "m1",
        "Pilot S01E01",
        1500,
        "cm",
    )
    assert second.catalog_id is None and second.media_id == "link"
    with pytest.raises(Rejected) as unknown:
        await svc.add_items("lobby", BLESSED, made.playlist_id, [CatalogRef("nope")])
    assert unknown.value.code == "unknown_catalog_item"
    copy = await svc.duplicate("lobby", BLESSED, made.playlist_id)
    assert [i.catalog_id for i in copy.items] == ["m1", None]
