from __future__ import annotations

from datetime import timedelta

import pytest

from domain.media import Media
from domain.queue.commands import (
    ExpectClear,
    ObservedItem,
    ObserveItemDeleted,
    ObserveItemMoved,
    ObserveItemQueued,
    ObserveNowPlaying,
    ObservePlaylist,
    ObserveTempChanged,
)
from domain.queue.decider import queue_decider
from domain.queue.events import (
    ClearExpected,
    DesyncDetected,
    EmptySnapshotHeld,
    ItemAdded,
    ItemMoved,
    ItemRemoved,
    ItemTempChanged,
    ItemUidRemapped,
    NowPlayingChanged,
    SnapshotReconciled,
)
from tests.unit.scenario import NOW, Scenario

A = Media("yt", "aaa", "Clip A", 180)
B = Media("yt", "bbb", "Clip B", 240)
C = Media("vi", "ccc", "Clip C", 300)
D = Media("fi", "ddd", "Feature D", 5820)


@pytest.fixture
def s() -> Scenario:
    return Scenario(queue_decider)


def queued(uid: int, media: Media, after: int | str | None = None, temp: bool = False):
    return ObserveItemQueued(uid=uid, media=media, temp=temp, queued_by="ann", after=after)  # type: ignore[arg-type]


def abc(s: Scenario) -> Scenario:
    return s.given_commands(queued(1, A), queued(2, B, after=1), queued(3, C, after=2))


def order(s: Scenario) -> list[int]:
    return [i.uid for i in s.state.items]


def test_first_item_gets_a_stable_item_id_of_our_own(s: Scenario) -> None:
    s.then(queued(41, A), [ItemAdded("q1", 41, A, False, "ann", None)])


def test_item_lands_after_the_uid_cytube_names(s: Scenario) -> None:
    abc(s).then(queued(4, D, after=1), [ItemAdded("q4", 4, D, False, "ann", "q1")])


def test_prepend_puts_the_item_at_the_top(s: Scenario) -> None:
    abc(s).then(queued(4, D, after="prepend"), [ItemAdded("q4", 4, D, False, "ann", None)])


def test_unknown_anchor_or_no_anchor_appends(s: Scenario) -> None:
    """An anchor we do not hold means we missed something: appended, and a desync noted (the
    observer then asks for a fresh snapshot)."""
    abc(s).then(
        queued(4, D, after=99),
        [ItemAdded("q4", 4, D, False, "ann", "q3"), DesyncDetected("unknown_after", 99)],
    )
    s.then(queued(4, D), [ItemAdded("q4", 4, D, False, "ann", "q3")])


def test_the_same_queue_report_twice_records_once(s: Scenario) -> None:
    abc(s).then(queued(2, B, after=1), [])


def test_a_uid_reported_for_other_media_is_refused_as_a_desync(s: Scenario) -> None:
    abc(s).then_rejected(queued(2, D), "uid_conflict")


@pytest.mark.parametrize(
    ("media", "uid"),
    [(Media("", "x"), 1), (Media("yt", ""), 1), (Media("yt", "x", duration_sec=-1), 1), (A, -1)],
)
def test_malformed_observations_are_refused(s: Scenario, media: Media, uid: int) -> None:
    s.then_rejected(queued(uid, media), "invalid_media" if uid >= 0 else "invalid_uid")


def test_delete_removes_and_a_repeat_is_a_no_op(s: Scenario) -> None:
    abc(s).then(ObserveItemDeleted(2), [ItemRemoved("q2", 2, "deleted")])
    s.given_commands(ObserveItemDeleted(2)).then(ObserveItemDeleted(2), [])
    assert order(s) == [1, 3]


@pytest.mark.parametrize(
    ("after", "expected_order", "anchor"),
    [(3, [2, 3, 1], "q3"), ("prepend", [3, 1, 2], None), ("append", [2, 3, 1], "q3")],
)
def test_move(s: Scenario, after, expected_order, anchor) -> None:
    mover = 1 if after != "prepend" else 3
    abc(s).then(ObserveItemMoved(mover, after), [ItemMoved(f"q{mover}", anchor)])
    s.given_commands(ObserveItemMoved(mover, after))
    assert order(s) == expected_order


def test_a_move_to_where_the_item_already_is_records_nothing(s: Scenario) -> None:
    abc(s).then(ObserveItemMoved(2, 1), [])


def test_a_move_of_an_unknown_uid_is_a_desync(s: Scenario) -> None:
    abc(s).then_rejected(ObserveItemMoved(9, 1), "unknown_item")
    s.then_rejected(ObserveItemMoved(1, 9), "unknown_item")


def test_temp_flag_changes(s: Scenario) -> None:
    abc(s).then(ObserveTempChanged(2, True), [ItemTempChanged("q2", True)])
    s.given_commands(ObserveTempChanged(2, True)).then(ObserveTempChanged(2, True), [])


def test_now_playing_records_when_playback_started(s: Scenario) -> None:
    abc(s).then(
        ObserveNowPlaying(2, elapsed_sec=30),
        [NowPlayingChanged("q2", 2, NOW - timedelta(seconds=30))],
    )
    s.given_commands(ObserveNowPlaying(2)).then(ObserveNowPlaying(2), [])


def test_a_temp_item_disappears_once_it_has_played(s: Scenario) -> None:
    s.given_commands(queued(1, A, temp=True), queued(2, B, after=1), ObserveNowPlaying(1))
    s.then(
        ObserveNowPlaying(2),
        [ItemRemoved("q1", 1, "temp_finished"), NowPlayingChanged("q2", 2, NOW)],
    )
    s.given_commands(ObserveNowPlaying(2))
    assert order(s) == [2]
    # CyTube's own delete of that temp item arrives afterwards and changes nothing.
    s.then(ObserveItemDeleted(1), [])


def test_deleting_the_playing_item_clears_now_playing(s: Scenario) -> None:
    abc(s).given_commands(ObserveNowPlaying(1), ObserveItemDeleted(1))
    assert s.state.now_playing is None


def snap(*items: tuple[int, Media], current: int | None = None) -> ObservePlaylist:
    """CyTube's own `playlist` broadcast."""
    return ObservePlaylist(
        tuple(ObservedItem(uid, m) for uid, m in items), current_uid=current, source="cytube"
    )


def test_a_snapshot_identical_to_the_shadow_records_nothing(s: Scenario) -> None:
    abc(s).then(snap((1, A), (2, B), (3, C)), [])


def test_snapshot_adds_removes_and_reorders(s: Scenario) -> None:
    events = abc(s).when(snap((3, C), (5, D), (1, A)))
    assert ItemRemoved("q2", 2, "missing_from_snapshot") in events
    assert any(isinstance(e, ItemAdded) and e.uid == 5 and e.source == "snapshot" for e in events)
    assert events[-1] == SnapshotReconciled(items=3, added=1, removed=1, remapped=0, reordered=True)
    s.given(*events)
    assert order(s) == [3, 5, 1]


def test_renumbered_uids_keep_our_item_ids(s: Scenario) -> None:
    """CyTube renumbers on reload: the payment attached to item q2 must stay attached."""
    abc(s).given_commands(ObserveNowPlaying(2))
    events = s.when(snap((10, A), (11, B), (12, C), current=11))
    assert ItemUidRemapped("q2", 2, 11) in events
    assert not any(isinstance(e, ItemAdded | ItemRemoved) for e in events)
    assert not any(isinstance(e, NowPlayingChanged) for e in events)
    s.given(*events)
    assert [(i.item_id, i.uid) for i in s.state.items] == [("q1", 10), ("q2", 11), ("q3", 12)]
    assert (s.state.now_playing, s.state.now_playing_uid) == ("q2", 11)


def test_swapped_uids_between_two_items_are_remapped_both_ways(s: Scenario) -> None:
    abc(s)
    events = s.when(snap((2, A), (1, B), (3, C)))
    s.given(*events)
    assert [(i.item_id, i.uid) for i in s.state.items] == [("q1", 2), ("q2", 1), ("q3", 3)]


def test_an_empty_snapshot_is_not_trusted_once(s: Scenario) -> None:
    """The earlier web queue wiped every paid item when a robot read returned []."""
    abc(s).then(snap(), [EmptySnapshotHeld(3, "cytube")])
    s.given_commands(snap())
    assert order(s) == [1, 2, 3]


def test_an_empty_snapshot_twice_in_a_row_is_believed(s: Scenario) -> None:
    abc(s).given_commands(snap())
    events = s.when(snap())
    assert [e for e in events if isinstance(e, ItemRemoved)] == [
        ItemRemoved("q1", 1, "cleared"),
        ItemRemoved("q2", 2, "cleared"),
        ItemRemoved("q3", 3, "cleared"),
    ]
    s.given(*events)
    assert order(s) == []


def test_a_full_snapshot_between_two_empty_ones_resets_the_count(s: Scenario) -> None:
    abc(s).given_commands(snap(), snap((1, A), (2, B), (3, C)))
    s.then(snap(), [EmptySnapshotHeld(3, "cytube")])


def test_an_empty_snapshot_after_an_expected_clear_is_believed(s: Scenario) -> None:
    abc(s).then(ExpectClear(by="admin"), [ClearExpected("admin")])
    s.given_commands(ExpectClear(by="admin"), snap())
    assert order(s) == []


def test_snapshot_names_the_current_item(s: Scenario) -> None:
    abc(s).then(
        snap((1, A), (2, B), (3, C), current=3),
        [
            NowPlayingChanged("q3", 3, NOW),
            SnapshotReconciled(items=3, added=0, removed=0, remapped=0, reordered=False),
        ],
    )


def test_a_snapshot_with_a_repeated_uid_is_refused(s: Scenario) -> None:
    s.then_rejected(snap((1, A), (1, B)), "invalid_snapshot")


def test_item_ids_never_repeat_after_removals(s: Scenario) -> None:
    abc(s).given_commands(ObserveItemDeleted(3))
    s.then(queued(4, D), [ItemAdded("q4", 4, D, False, "ann", "q2")])


def test_a_playing_temp_item_deleted_at_its_end_finished_rather_than_was_deleted(
    s: Scenario,
) -> None:
    """CyTube reports a temp item's natural end as `delete`, before the next `setCurrent`."""
    s.given_commands(queued(1, A, temp=True), queued(2, B, after=1), ObserveNowPlaying(1))
    s.now = NOW + timedelta(seconds=A.duration_sec + 5)
    s.then(ObserveItemDeleted(1), [ItemRemoved("q1", 1, "temp_finished")])


def test_a_playing_temp_item_deleted_early_was_deleted(s: Scenario) -> None:
    s.given_commands(queued(1, A, temp=True), ObserveNowPlaying(1))
    s.now = NOW + timedelta(seconds=30)
    s.then(ObserveItemDeleted(1), [ItemRemoved("q1", 1, "deleted")])


def test_a_lone_item_looping_restarts_its_clock(s: Scenario) -> None:
    s.given_commands(queued(1, A), ObserveNowPlaying(1))
    s.now = NOW + timedelta(seconds=A.duration_sec + 5)
    s.then(ObserveNowPlaying(1), [NowPlayingChanged("q1", 1, s.now)])
