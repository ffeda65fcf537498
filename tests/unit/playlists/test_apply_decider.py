"""The apply aggregate: one apply per channel, every add guarded by its own started event."""

from __future__ import annotations

from domain.media import Media
from domain.playlists.apply import (
    AbortApply,
    ApplyFinished,
    ApplyItemAddStarted,
    ApplyItemFailed,
    ApplyItemQueued,
    ApplyQueueCleared,
    ApplyStarted,
    ApplyTarget,
    FinishApply,
    RecordApplyItemFailed,
    RecordApplyItemQueued,
    RecordQueueCleared,
    StartApply,
    StartApplyItemAdd,
    apply_decider,
)
from tests.unit.scenario import NOW, Scenario

A, B = Media("yt", "a", "A", 60), Media("yt", "b", "B", 60)
OLD = ApplyTarget("q1", 1, Media("yt", "old"), None)


def start(apply_id: str = "x1", removals: tuple[ApplyTarget, ...] = ()) -> StartApply:
    return StartApply(apply_id, "p1", "Friday", "preserve_current", "mod", (A, B), (), removals)


def started(
    removals: tuple[ApplyTarget, ...] = (), unavailable: tuple[tuple[int, str], ...] = ()
) -> ApplyStarted:
    return ApplyStarted(
        "x1", "p1", "Friday", "preserve_current", "mod", (A, B), (), removals, unavailable, NOW
    )


def test_an_apply_starts_once_and_a_second_is_refused_with_the_running_id() -> None:
    s = Scenario(apply_decider)
    s.then(start(), [started()])
    s.given(started())
    s.then(start(), [])  # the same apply again: already there
    refused = s.then_rejected(start("x2"), "apply_running")
    assert refused.extra == {"running_apply_id": "x1"}
    s.given(ApplyItemAddStarted("x1", 0, 1), ApplyItemQueued("x1", 0, 5))
    s.given(ApplyItemAddStarted("x1", 1, 1), ApplyItemQueued("x1", 1, 6))
    s.then(FinishApply("x1"), [ApplyFinished("x1", "p1", 2, 0, at=NOW)])
    s.given(ApplyFinished("x1", "p1", 2, 0, at=NOW))
    s.then(
        start("x2"),
        [ApplyStarted("x2", "p1", "Friday", "preserve_current", "mod", (A, B), (), (), (), NOW)],
    )
    assert s.state.recent[-1].status == "done" and s.state.running is None


def test_each_attempt_of_an_add_is_started_once_and_only_after_the_queue_is_cleared() -> None:
    s = Scenario(apply_decider).given(started((OLD,)))
    s.then_rejected(StartApplyItemAdd("x1", 0, 1), "not_cleared")
    s.then(RecordQueueCleared("x1", 1), [ApplyQueueCleared("x1", 1, ())])
    s.given(ApplyQueueCleared("x1", 1, ()))
    s.then(RecordQueueCleared("x1", 1), [])
    s.then(StartApplyItemAdd("x1", 0, 1), [ApplyItemAddStarted("x1", 0, 1)])
    s.given(ApplyItemAddStarted("x1", 0, 1))
    s.then_rejected(StartApplyItemAdd("x1", 0, 1), "add_started")  # the guard
    s.then_rejected(StartApplyItemAdd("x1", 0, 3), "invalid_attempt")
    s.then(StartApplyItemAdd("x1", 0, 2), [ApplyItemAddStarted("x1", 0, 2)])
    s.then_rejected(RecordApplyItemQueued("x1", 1), "not_added")
    s.then(RecordApplyItemQueued("x1", 0, 9), [ApplyItemQueued("x1", 0, 9)])
    s.given(ApplyItemQueued("x1", 0, 9))
    s.then_rejected(StartApplyItemAdd("x1", 0, 2), "item_done")
    s.then(RecordApplyItemQueued("x1", 0, 9), [])
    s.then_rejected(FinishApply("x1"), "items_pending")
    s.then(
        RecordApplyItemFailed("x1", 1, "refused", "bad"),
        [ApplyItemFailed("x1", 1, "refused", "bad")],
    )


def test_unusable_items_fail_at_the_start_and_an_abort_ends_it() -> None:
    s = Scenario(apply_decider).given(started(unavailable=((1, "gone from the catalog"),)))
    run = s.state.running
    assert run is not None and run.items[1].status == "failed" and run.cleared
    s.then(
        AbortApply("x1", "boss"), [ApplyFinished("x1", "p1", 0, 1, True, "aborted by boss", NOW)]
    )
    empty = StartApply("x3", "p1", "F", "preserve_current", "mod", ())
    Scenario(apply_decider).then_rejected(empty, "empty_playlist")
