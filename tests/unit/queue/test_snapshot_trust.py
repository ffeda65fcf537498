"""What each source of a playlist says, and how far the shadow believes it.

CyTube's clear is `playlist []` then `setPlaylistMeta {count: 0}` (calzoneman/sync
playlist.js handleClear); a join of an empty channel sends the count first. The robot's
`state.playlist` is its own copy: it never applies `setTemp`, keeps a deleted or moved uid 0,
and an empty answer is only as good as the KV bucket that vouches for it.
"""

from __future__ import annotations

import pytest

from domain.media import Media
from domain.queue.commands import (
    ObservedItem,
    ObserveItemDeleted,
    ObserveItemMoved,
    ObserveItemQueued,
    ObserveNowPlaying,
    ObservePlaylist,
    ObservePlaylistCount,
    ObserveTempChanged,
)
from domain.queue.decider import queue_decider
from domain.queue.events import (
    DesyncDetected,
    EmptySnapshotHeld,
    ItemAdded,
    ItemRemoved,
    ItemTempChanged,
    NowPlayingChanged,
    PlaylistCountObserved,
    SnapshotReconciled,
)
from tests.unit.scenario import NOW, Scenario

A = Media("cm", "a1", "Alpha One", 60)
B = Media("cm", "a2", "Alpha Two", 70)
C = Media("cm", "a3", "Alpha Three", 80)


@pytest.fixture
def s() -> Scenario:
    """uids 0, 1, 2 (a reload numbers from 0), the first playing."""
    return Scenario(queue_decider).given_commands(
        ObserveItemQueued(0, A),
        ObserveItemQueued(1, B, after=0),
        ObserveItemQueued(2, C, after=1),
        ObserveNowPlaying(0),
    )


def broadcast(*items: tuple[int, Media, bool]) -> ObservePlaylist:
    return ObservePlaylist(
        tuple(ObservedItem(uid, m, temp) for uid, m, temp in items), source="cytube"
    )


def read(
    *items: tuple[int, Media, bool], current: int | None = None, confirmed: bool = False
) -> ObservePlaylist:
    return ObservePlaylist(
        tuple(ObservedItem(uid, m, temp) for uid, m, temp in items),
        current_uid=current,
        source="robot",
        empty_confirmed=confirmed,
    )


def uids(s: Scenario) -> list[int]:
    return [i.uid for i in s.state.items]


# ---- a clear --------------------------------------------------------------------------------


def test_cytubes_clear_is_believed_once_its_count_of_zero_follows(s: Scenario) -> None:
    s.then(broadcast(), [EmptySnapshotHeld(3, "cytube")])
    s.given_commands(broadcast())
    events = s.when(ObservePlaylistCount(0))
    assert [e for e in events if isinstance(e, ItemRemoved)] == [
        ItemRemoved("q1", 0, "cleared"),
        ItemRemoved("q2", 1, "cleared"),
        ItemRemoved("q3", 2, "cleared"),
    ]
    s.given(*events)
    assert uids(s) == [] and s.state.now_playing is None and not s.state.empty_snapshot_held


def test_a_join_of_an_empty_channel_counts_zero_before_the_empty_list(s: Scenario) -> None:
    s.then(ObservePlaylistCount(0), [PlaylistCountObserved(0, 3)])
    s.given_commands(ObservePlaylistCount(0))
    s.given_commands(broadcast())
    assert uids(s) == []


def test_an_empty_read_alone_is_held_and_asking_again_is_no_second_word(s: Scenario) -> None:
    s.then(read(), [EmptySnapshotHeld(3, "robot")])
    s.given_commands(read())
    s.then(read(), [])
    assert uids(s) == [0, 1, 2]


def test_an_empty_read_the_kv_bucket_vouches_for_is_believed(s: Scenario) -> None:
    s.given_commands(read(confirmed=True))
    assert uids(s) == []


def test_cytubes_empty_list_and_the_robots_empty_read_together_are_believed(
    s: Scenario,
) -> None:
    s.given_commands(broadcast(), read())
    assert uids(s) == []


def test_a_count_of_zero_after_a_held_read_clears(s: Scenario) -> None:
    s.given_commands(read(), ObservePlaylistCount(0))
    assert uids(s) == []


def test_a_count_that_differs_from_the_shadow_is_noted_once(s: Scenario) -> None:
    s.then(ObservePlaylistCount(5), [PlaylistCountObserved(5, 3)])
    s.given_commands(ObservePlaylistCount(5)).then(ObservePlaylistCount(5), [])
    s.then(ObservePlaylistCount(3), [])


def test_the_count_that_matches_changes_nothing(s: Scenario) -> None:
    s.then(ObservePlaylistCount(3), [])


# ---- a read merged with what the log knows --------------------------------------------------


def test_a_read_keeps_the_temp_flags_the_robot_never_applied(s: Scenario) -> None:
    s.given_commands(ObserveTempChanged(1, True))
    s.then(read((0, A, False), (1, B, False), (2, C, False)), [])
    assert [i.temp for i in s.state.items] == [False, True, False]


def test_cytubes_own_broadcast_does_change_a_temp_flag(s: Scenario) -> None:
    events = s.when(broadcast((0, A, False), (1, B, True), (2, C, False)))
    assert ItemTempChanged("q2", True) in events


def test_a_read_never_brings_back_uid_0_that_cytube_deleted(s: Scenario) -> None:
    """Kryten-Robot skips `delete {uid: 0}` (`if uid:`), so its copy still lists it."""
    s.given_commands(ObserveItemDeleted(0))
    s.then(read((0, A, False), (1, B, False), (2, C, False)), [])
    assert uids(s) == [1, 2]


def test_cytubes_broadcast_ends_the_memory_of_deletes(s: Scenario) -> None:
    s.given_commands(ObserveItemDeleted(0), broadcast((1, B, False), (2, C, False)))
    assert s.state.deleted_since_broadcast == ()
    events = s.when(read((0, A, False), (1, B, False), (2, C, False)))
    assert any(isinstance(e, ItemAdded) and e.uid == 0 for e in events)


def test_a_read_keeps_uid_0_where_cytube_moved_it(s: Scenario) -> None:
    """Kryten-Robot skips `moveVideo {from: 0}` (`if from_uid and ...`)."""
    s.given_commands(ObserveItemMoved(0, 2))
    assert uids(s) == [1, 2, 0]
    s.then(read((0, A, False), (1, B, False), (2, C, False)), [])
    assert uids(s) == [1, 2, 0]


def test_a_repeated_delete_is_nothing_but_an_unknown_one_is_a_desync(s: Scenario) -> None:
    s.given_commands(ObserveItemDeleted(2))
    s.then(ObserveItemDeleted(2), [])
    s.then(ObserveItemDeleted(7), [DesyncDetected("unknown_deleted", 7)])


# ---- now playing before its item ------------------------------------------------------------


def test_set_current_for_an_unknown_uid_is_a_desync(s: Scenario) -> None:
    s.then(
        ObserveNowPlaying(9),
        [NowPlayingChanged(None, 9, NOW), DesyncDetected("unknown_current", 9)],
    )


def test_the_snapshot_that_brings_the_playing_item_links_it(s: Scenario) -> None:
    """CyTube named uid 9 playing before we held it; the snapshot then brings it."""
    s.given_commands(ObserveNowPlaying(9))
    events = s.when(read((0, A, False), (1, B, False), (2, C, False), (9, B, False)))
    linked = [e for e in events if isinstance(e, NowPlayingChanged)]
    assert linked == [NowPlayingChanged("q4", 9, NOW)]
    s.given(*events)
    assert s.state.now_playing == "q4" and s.state.current is not None


def test_the_queue_event_of_the_playing_uid_links_it(s: Scenario) -> None:
    s.given_commands(ObserveNowPlaying(9))
    s.then(
        ObserveItemQueued(9, Media("cm", "b1", "Bravo One", 45), after=2),
        [
            ItemAdded("q4", 9, Media("cm", "b1", "Bravo One", 45), False, "", "q3"),
            NowPlayingChanged("q4", 9, NOW),
        ],
    )


def test_a_read_names_the_current_item_it_knows(s: Scenario) -> None:
    events = s.when(read((0, A, False), (1, B, False), (2, C, False), current=1))
    assert NowPlayingChanged("q2", 1, NOW) in events
    assert events[-1] == SnapshotReconciled(3, 0, 0, 0, False, "robot")
