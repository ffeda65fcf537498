"""Saved playlists, the editing commands: versions, insert/remove/move, catalog ids, and the
channel's names registry (unique without case or spaces)."""

from __future__ import annotations

import pytest

from domain.media import Media
from domain.playlists.model import (
    AddPlaylistItems,
    CreatePlaylist,
    DeletePlaylist,
    MovePlaylistItem,
    PlaylistCreated,
    PlaylistDeleted,
    PlaylistItemsSet,
    PlaylistRenamed,
    RemovePlaylistItems,
    RenamePlaylist,
    SetPlaylistItems,
    name_key,
    playlist_decider,
)
from domain.playlists.names import (
    ClaimPlaylistName,
    PlaylistNameClaimed,
    PlaylistNameReleased,
    ReleasePlaylistName,
    names_decider,
)
from tests.unit.scenario import NOW, Scenario

A, B, C, D = (Media("yt", x, f"Clip {x}", 30) for x in "abcd")


def existing(*items: Media) -> Scenario:
    s = Scenario(playlist_decider, "p1").given(PlaylistCreated("Friday", "ann", False, None, NOW))
    return s.given(PlaylistItemsSet(items)) if items else s


def test_every_event_is_a_version_and_times_come_from_the_decision() -> None:
    s = existing(A, B)
    state = s.state
    assert (state.version, state.created_by, state.created_at) == (2, "ann", NOW)
    s.given(PlaylistRenamed("Sat", "bob", NOW.replace(hour=21)))
    assert s.state.version == 3 and s.state.updated_at == NOW.replace(hour=21)


def test_a_stale_version_is_refused_with_the_current_one() -> None:
    s = existing(A, B)
    for command in (
        RenamePlaylist("X", "bob", expected_version=1),
        SetPlaylistItems((A,), "bob", expected_version=0),
        MovePlaylistItem(0, 1, "bob", expected_version=3),
        DeletePlaylist("bob", expected_version=1),
    ):
        refused = s.then_rejected(command, "version_conflict")
        assert refused.extra["current_version"] == 2
        assert "version 2" in refused.message
    s.then(RenamePlaylist("X", "bob", expected_version=2), [PlaylistRenamed("X", "bob", NOW)])


def test_insert_remove_and_move_keep_the_order_and_catalog_ids() -> None:
    s = existing(A, B)
    s.then(
        AddPlaylistItems((C, D), "bob", refs=("cat-c", None), at=1),
        [PlaylistItemsSet((A, C, D, B), (None, "cat-c"), "bob", NOW)],
    )
    s.given(PlaylistItemsSet((A, C, D, B), (None, "cat-c")))
    assert s.state.all_refs() == (None, "cat-c", None, None)
    s.then(
        MovePlaylistItem(1, 3, "bob"),
        [PlaylistItemsSet((A, D, B, C), (None, None, None, "cat-c"), "bob", NOW)],
    )
    s.then(RemovePlaylistItems((0, 1), "bob"), [PlaylistItemsSet((D, B), (), "bob", NOW)])
    s.then(
        RemovePlaylistItems((0, 2), "bob"),
        [PlaylistItemsSet((C, B), ("cat-c",), "bob", NOW)],
    )
    s.then_rejected(AddPlaylistItems((A,), "bob"), "duplicate_media")
    s.then_rejected(MovePlaylistItem(0, 4, "bob"), "invalid_position")
    s.then_rejected(RemovePlaylistItems((9,), "bob"), "invalid_position")
    s.then_rejected(AddPlaylistItems((Media("yt", "e"),), "bob", at=9), "invalid_position")
    s.then_rejected(SetPlaylistItems((A,), "bob", refs=("x", "y")), "invalid_items")


def test_a_copy_remembers_where_it_came_from() -> None:
    fresh = Scenario(playlist_decider, "p2")
    fresh.then(
        CreatePlaylist("Friday (copy)", "bob", copied_from="p1"),
        [PlaylistCreated("Friday (copy)", "bob", False, None, NOW, "p1")],
    )


def test_nothing_but_create_works_on_a_deleted_playlist() -> None:
    s = existing(A).given(PlaylistDeleted("ann", NOW))
    s.then_rejected(MovePlaylistItem(0, 0, "bob"), "unknown_playlist")
    s.then_rejected(AddPlaylistItems((B,), "bob"), "unknown_playlist")


@pytest.mark.parametrize(
    "other", ["friday night", "FRIDAY NIGHT", " Friday  Night ", "FridayNight", "friday\tnight"]
)
def test_names_are_the_same_without_case_or_spaces(other: str) -> None:
    assert name_key(other) == name_key("Friday Night")
    names = Scenario(names_decider).given(
        PlaylistNameClaimed(name_key("Friday Night"), "Friday Night", "p1")
    )
    refused = names.then_rejected(ClaimPlaylistName(other, "p2"), "name_taken")
    assert refused.extra["existing"] == {"playlist_id": "p1", "name": "Friday Night"}
    assert "'Friday Night'" in refused.message


def test_a_claim_moves_with_a_rename_and_a_release_frees_the_name() -> None:
    names = Scenario(names_decider)
    names.then(ClaimPlaylistName("A", "p1"), [PlaylistNameClaimed("a", "A", "p1")])
    names.given(PlaylistNameClaimed("a", "A", "p1"), PlaylistNameClaimed("b", "B", "p1"))
    assert [c.name for c in names.state.claims] == ["B"]
    names.then(ClaimPlaylistName("a", "p2"), [PlaylistNameClaimed("a", "a", "p2")])
    names.then(ClaimPlaylistName("B", "p1"), [])  # it holds it already
    refused = names.then_rejected(ClaimPlaylistName("b", "p2"), "name_taken")
    assert refused.extra["existing"]["playlist_id"] == "p1"
    # A holder the application found stale (deleted, renamed) gives the name up.
    names.then(ClaimPlaylistName("b", "p2", free=("p1",)), [PlaylistNameClaimed("b", "b", "p2")])
    names.then(ReleasePlaylistName("p1"), [PlaylistNameReleased("p1")])
    names.then(ReleasePlaylistName("p9"), [])
