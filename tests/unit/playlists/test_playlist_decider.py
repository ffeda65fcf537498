"""Saved playlists: given events, when a command, then events or a rejection."""

from __future__ import annotations

import pytest

from domain.media import Media
from domain.playlists.model import (
    MAX_ITEMS,
    MAX_NAME,
    CreatePlaylist,
    DeletePlaylist,
    EditPlaylist,
    PlaylistCreated,
    PlaylistDeleted,
    PlaylistFlagsSet,
    PlaylistItemsSet,
    PlaylistRenamed,
    RenamePlaylist,
    SetPlaylistFlags,
    SetPlaylistItems,
    playlist_decider,
)
from tests.unit.scenario import NOW, Scenario

A = Media("yt", "a", "Clip A", 30)
B = Media("yt", "b", "Clip B", 45)
C = Media("vi", "a", "Same id, other provider", 60)


def fresh() -> Scenario:
    return Scenario(playlist_decider, "p1")


def existing() -> Scenario:
    return fresh().given(PlaylistCreated("Friday", "ann", False, None))


def test_create_trims_the_name_and_records_the_flags() -> None:
    fresh().then(
        CreatePlaylist("  Friday  ", "ann", is_immutable=True, promo_type="event"),
        [PlaylistCreated("Friday", "ann", True, "event", NOW)],
    )


def test_a_plain_playlist_has_no_flags() -> None:
    fresh().then(
        CreatePlaylist("Friday", "ann"), [PlaylistCreated("Friday", "ann", False, None, NOW)]
    )


@pytest.mark.parametrize("name", ["", "   ", "x" * (MAX_NAME + 1)])
def test_a_name_must_be_1_to_200_characters_once_trimmed(name: str) -> None:
    fresh().then_rejected(CreatePlaylist(name, "ann"), "invalid_name")
    existing().then_rejected(RenamePlaylist(name, "ann"), "invalid_name")


def test_a_name_of_200_characters_with_spaces_around_is_fine() -> None:
    name = "x" * MAX_NAME
    fresh().then(
        CreatePlaylist(f" {name} ", "ann"), [PlaylistCreated(name, "ann", False, None, NOW)]
    )


def test_creating_twice_is_refused_even_after_a_delete() -> None:
    existing().then_rejected(CreatePlaylist("Again", "ann"), "playlist_exists")
    existing().given(PlaylistDeleted("ann")).then_rejected(
        CreatePlaylist("Again", "ann"), "playlist_exists"
    )


def test_an_unknown_promo_type_is_refused() -> None:
    fresh().then_rejected(
        CreatePlaylist("P", "ann", promo_type="trailer"),  # type: ignore[arg-type]
        "invalid_promo_type",
    )
    existing().then_rejected(
        SetPlaylistFlags(False, "trailer", "ann"),  # type: ignore[arg-type]
        "invalid_promo_type",
    )


def test_rename_records_the_trimmed_name_and_an_unchanged_one_records_nothing() -> None:
    existing().then(RenamePlaylist(" Saturday ", "bob"), [PlaylistRenamed("Saturday", "bob", NOW)])
    existing().then(RenamePlaylist("  Friday ", "bob"), [])


def test_items_are_set_in_the_order_given() -> None:
    existing().then(
        SetPlaylistItems((B, A, C), "ann"), [PlaylistItemsSet((B, A, C), (), "ann", NOW)]
    )


def test_the_same_items_again_record_nothing_but_a_new_title_is_a_change() -> None:
    s = existing().given(PlaylistItemsSet((A, B)))
    s.then(SetPlaylistItems((A, B), "ann"), [])
    retitled = Media("yt", "a", "Clip A (remastered)", 30)
    s.then(
        SetPlaylistItems((retitled, B), "ann"), [PlaylistItemsSet((retitled, B), (), "ann", NOW)]
    )
    s.then(SetPlaylistItems((), "ann"), [PlaylistItemsSet((), (), "ann", NOW)])


def test_a_media_twice_in_one_playlist_is_refused_by_name() -> None:
    again = Media("yt", "a", "Other title, same media", 99)
    rejected = existing().then_rejected(SetPlaylistItems((A, B, again), "ann"), "duplicate_media")
    assert "yt:a" in rejected.message


def test_every_item_is_validated() -> None:
    existing().then_rejected(SetPlaylistItems((A, Media("yt", " ")), "ann"), "invalid_media")
    existing().then_rejected(SetPlaylistItems((Media("yt", "n", "", -1),), "ann"), "invalid_media")


def test_at_most_2000_items() -> None:
    many = tuple(Media("yt", f"m{i}", "", 10) for i in range(MAX_ITEMS + 1))
    existing().then(
        SetPlaylistItems(many[:MAX_ITEMS], "ann"),
        [PlaylistItemsSet(many[:MAX_ITEMS], (), "ann", NOW)],
    )
    existing().then_rejected(SetPlaylistItems(many, "ann"), "too_many_items")


def test_flags_change_together_and_unchanged_flags_record_nothing() -> None:
    s = existing()
    s.then(
        SetPlaylistFlags(False, "viewers_choice", "ann"),
        [PlaylistFlagsSet(False, "viewers_choice", "ann", NOW)],
    )
    s.then(SetPlaylistFlags(False, None, "ann"), [])
    pooled = existing().given(PlaylistFlagsSet(True, "event"))
    pooled.then(SetPlaylistFlags(True, "event", "ann"), [])
    pooled.then(SetPlaylistFlags(True, None, "ann"), [PlaylistFlagsSet(True, None, "ann", NOW)])


def test_delete_records_who_and_empties_the_playlist() -> None:
    s = existing().given(PlaylistItemsSet((A,)))
    s.then(DeletePlaylist("bob"), [PlaylistDeleted("bob", NOW)])
    s.given(PlaylistDeleted("bob"))
    assert s.state.deleted and s.state.items == () and not s.state.live


@pytest.mark.parametrize(
    "command",
    [
        RenamePlaylist("New", "ann"),
        SetPlaylistItems((A,), "ann"),
        SetPlaylistFlags(True, None, "ann"),
        DeletePlaylist("ann"),
    ],
    ids=lambda c: type(c).__name__,
)
def test_commands_on_a_missing_or_deleted_playlist_are_refused(command: object) -> None:
    fresh().then_rejected(command, "unknown_playlist")
    existing().given(PlaylistDeleted("ann")).then_rejected(command, "unknown_playlist")


def test_state_folds_every_event() -> None:
    s = fresh().given_commands(
        CreatePlaylist("Pool", "ann", promo_type="event"),
        RenamePlaylist("Event pool", "bob"),
        SetPlaylistItems((A, B), "bob"),
        SetPlaylistFlags(True, "mod_shoutout", "bob"),
    )
    state = s.state
    assert (state.playlist_id, state.name, state.created_by) == ("p1", "Event pool", "ann")
    assert (state.is_immutable, state.promo_type, state.items) == (True, "mod_shoutout", (A, B))
    assert state.live and state.hidden


def test_an_edit_of_several_changes_is_decided_as_one_on_what_each_step_leaves() -> None:
    """Name, flags and items in one decision (one commit): nobody sees it half made."""
    edit = EditPlaylist(
        (
            RenamePlaylist("Friday VC", "ann"),
            SetPlaylistFlags(False, "viewers_choice", "ann"),
            SetPlaylistItems((B, A), "ann", expected_version=3),  # the version two steps leave
        )
    )
    existing().then(
        edit,
        [
            PlaylistRenamed("Friday VC", "ann", NOW),
            PlaylistFlagsSet(False, "viewers_choice", "ann", NOW),
            PlaylistItemsSet((B, A), (), "ann", NOW),
        ],
    )


def test_an_edit_with_one_bad_step_is_refused_whole() -> None:
    edit = EditPlaylist((RenamePlaylist("Friday VC", "ann"), SetPlaylistItems((A, A), "ann")))
    existing().then_rejected(edit, "duplicate_media")
