"""The schedule aggregate: create/edit/enable/delete, overlap refused with both named, and the
fire decision (once per occurrence, too late recorded as missed, advancing after downtime)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain.decider import Context
from domain.errors import Rejected
from domain.media import Media
from domain.schedules.model import (
    CreateSchedule,
    DeleteSchedule,
    EditSchedule,
    FinishFire,
    FireApplyStarted,
    FireDue,
    FireNow,
    FireStartedWith,
    OccurrenceFired,
    OccurrencesMissed,
    RecordFireApply,
    RecordFireStart,
    ScheduleCreated,
    ScheduleEdited,
    ScheduleSpec,
    SetScheduleActive,
    schedules_decider,
)

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
FIRE = datetime(2026, 11, 20, 19, 0, tzinfo=UTC)  # Friday 20:00 in Berlin
HOUR = 3600


class Log:
    def __init__(self) -> None:
        self.events: list[Any] = []
        self.now = NOW
        self.config: dict[str, Any] = {"schedule_tz": BERLIN, "too_late_minutes": 10}

    @property
    def state(self) -> Any:
        return schedules_decider.fold("lobby", self.events)

    def decide(self, cmd: Any) -> tuple[Any, ...]:
        return schedules_decider.decide(self.state, cmd, Context(now=self.now, config=self.config))

    def run(self, cmd: Any) -> tuple[Any, ...]:
        out = self.decide(cmd)
        self.events.extend(out)
        return out

    def refused(self, cmd: Any, code: str) -> Rejected:
        with pytest.raises(Rejected) as info:
            self.decide(cmd)
        assert info.value.code == code
        return info.value


def spec(label: str = "Movie night", at: datetime = FIRE, **kw: Any) -> ScheduleSpec:
    kw.setdefault("duration_sec", 2 * HOUR)
    return ScheduleSpec("p1", label, at, **kw)


def test_create_takes_the_configured_lock_default_and_arms_the_fire_time() -> None:
    log = Log()
    (created,) = log.run(CreateSchedule("s1", spec(), "admin"))
    assert isinstance(created, ScheduleCreated)
    assert created.lock_minutes == 15 and created.next_at == FIRE
    assert log.state.find("s1").lock_from == FIRE - timedelta(minutes=15)
    log.config["pre_fire_lock_minutes"] = 30
    (other,) = log.run(CreateSchedule("s2", spec("Later", FIRE + timedelta(days=1)), "admin"))
    assert other.lock_minutes == 30
    assert log.decide(CreateSchedule("s1", spec(), "admin")) == ()  # the same again: a no-op


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"label": " "}, "invalid_schedule"),
        ({"duration_sec": 0}, "invalid_schedule"),
        ({"lock_minutes": -1}, "invalid_schedule"),
        ({"rrule": "FREQ=NEVER"}, "invalid_rrule"),
        ({"fallback_playlist_id": ""}, "invalid_schedule"),
    ],
)
def test_bad_schedules_are_refused(changes: dict[str, Any], code: str) -> None:
    base = {"label": "Movie night", "duration_sec": HOUR}
    base.update(changes)
    label = base.pop("label")
    Log().refused(CreateSchedule("s1", ScheduleSpec("p1", str(label), FIRE, **base), "a"), code)


def test_overlap_is_refused_naming_both() -> None:
    log = Log()
    log.run(CreateSchedule("s1", spec(), "admin"))
    err = log.refused(
        CreateSchedule("s2", spec("Cartoons", FIRE + timedelta(hours=1)), "admin"),
        "schedule_overlap",
    )
    assert "Cartoons" in err.message and "Movie night" in err.message
    assert err.extra["other"]["schedule_id"] == "s1"
    # Back to back is fine; a disabled one does not count.
    log.run(CreateSchedule("s3", spec("After", FIRE + timedelta(hours=2)), "admin"))
    log.run(SetScheduleActive("s1", False, "admin"))
    log.run(
        CreateSchedule("s2", spec("Cartoons", FIRE + timedelta(hours=1), duration_sec=1800), "a")
    )
    log.refused(SetScheduleActive("s1", True, "admin"), "schedule_overlap")


def test_overlap_of_recurring_schedules_is_found_weeks_ahead() -> None:
    log = Log()
    log.run(CreateSchedule("s1", spec(rrule="FREQ=WEEKLY;BYDAY=FR"), "admin"))
    # A one-off on a Friday five weeks on, at the same wall time.
    five = datetime(2026, 12, 25, 19, 30, tzinfo=UTC)
    err = log.refused(CreateSchedule("s2", spec("Xmas", five), "admin"), "schedule_overlap")
    assert err.extra["other"]["fire_at"] == "2026-12-25T19:00:00+00:00"


def test_edit_and_delete() -> None:
    log = Log()
    log.run(CreateSchedule("s1", spec(), "admin"))
    log.run(EditSchedule("s1", spec("Renamed", FIRE + timedelta(hours=1)), "admin"))
    assert log.state.find("s1").next_at == FIRE + timedelta(hours=1)
    assert log.state.find("s1").label == "Renamed"
    log.run(DeleteSchedule("s1", "admin"))
    assert log.state.find("s1") is None
    log.refused(EditSchedule("s1", spec(), "admin"), "unknown_schedule")


def test_fire_due_fires_once_within_the_window() -> None:
    log = Log()
    log.run(CreateSchedule("s1", spec(), "admin"))
    log.now = FIRE - timedelta(seconds=1)
    assert log.run(FireDue("s1", "f1")) == ()  # not yet
    log.now = FIRE + timedelta(minutes=10)  # the window's last moment
    (fired,) = log.run(FireDue("s1", "f1"))
    assert isinstance(fired, OccurrenceFired)
    assert fired.occurrence_at == FIRE and fired.next_at is None and not fired.manual
    assert fired.estimated_end_at == log.now + timedelta(hours=2)
    assert log.run(FireDue("s1", "f2")) == ()  # spent: no second fire
    assert log.state.running.fire_id == "f1"
    log.run(FinishFire("f1", "last_item_began"))
    assert log.state.running is None
    assert log.run(FinishFire("f1", "admin")) == ()


def test_too_late_is_recorded_missed_not_fired() -> None:
    log = Log()
    log.run(CreateSchedule("s1", spec(), "admin"))
    log.now = FIRE + timedelta(minutes=10, seconds=1)
    (missed,) = log.run(FireDue("s1", "f1"))
    assert missed == OccurrencesMissed("s1", (FIRE,), None, log.now)
    assert log.run(FireDue("s1", "f1")) == ()


def test_recurring_advances_past_a_downtime_and_fires_the_next() -> None:
    log = Log()
    log.run(CreateSchedule("s1", spec(rrule="FREQ=DAILY"), "admin"))
    log.now = FIRE + timedelta(days=2, minutes=5)  # down for two days, back just after a fire
    (missed,) = log.run(FireDue("s1", "f1"))
    assert isinstance(missed, OccurrencesMissed)
    assert missed.missed == (FIRE, FIRE + timedelta(days=1))
    assert missed.next_at == FIRE + timedelta(days=2)
    (fired,) = log.run(FireDue("s1", "f1"))
    assert fired.occurrence_at == FIRE + timedelta(days=2)
    assert fired.next_at == FIRE + timedelta(days=3)


def test_fire_now_while_an_event_runs_is_refused_and_a_one_off_is_spent() -> None:
    log = Log()
    log.run(CreateSchedule("s1", spec(), "admin"))
    (fired,) = log.run(FireNow("s1", "f1", "admin"))
    assert fired.manual and fired.next_at is None
    log.refused(FireNow("s1", "f2", "admin"), "event_running")
    assert log.run(FireNow("s1", "f1", "admin")) == ()  # the same fire again


def test_an_edit_or_a_disable_and_enable_after_a_fire_never_arms_the_fired_occurrence() -> None:
    """Within the too-late window after a fire, taking the armed occurrence again (an edit,
    enabling) must not find the occurrence that fired: it is spent, the next one is armed."""
    log = Log()
    log.run(CreateSchedule("s1", spec(rrule="FREQ=DAILY"), "admin"))
    log.now = FIRE + timedelta(minutes=1)
    (fired,) = log.run(FireDue("s1", "f1"))
    assert fired.next_at == FIRE + timedelta(days=1)
    log.now = FIRE + timedelta(minutes=3)
    (edited,) = log.run(EditSchedule("s1", spec("Renamed", rrule="FREQ=DAILY"), "admin"))
    assert edited.next_at == FIRE + timedelta(days=1)
    log.run(SetScheduleActive("s1", False, "admin"))
    (enabled,) = log.run(SetScheduleActive("s1", True, "admin"))
    assert enabled.next_at == FIRE + timedelta(days=1)
    assert log.run(FireDue("s1", "f2")) == ()  # nothing due: the next is tomorrow
    log.now = FIRE + timedelta(days=1)
    (again,) = log.run(FireDue("s1", "f3"))
    assert isinstance(again, OccurrenceFired) and again.occurrence_at == FIRE + timedelta(days=1)


def test_a_one_off_fired_then_edited_stays_spent_and_a_missed_one_is_not_armed_again() -> None:
    log = Log()
    log.run(CreateSchedule("s1", spec(), "admin"))
    log.now = FIRE
    log.run(FireDue("s1", "f1"))
    log.run(FinishFire("f1", "admin"))
    log.now = FIRE + timedelta(minutes=2)
    (edited,) = log.run(EditSchedule("s1", spec("Renamed"), "admin"))
    assert edited.next_at is None
    log.run(SetScheduleActive("s1", False, "admin"))
    (enabled,) = log.run(SetScheduleActive("s1", True, "admin"))
    assert enabled.next_at is None
    # Moved to a new time it is a new occurrence, armed and fired.
    (moved,) = log.run(EditSchedule("s1", spec("Renamed", FIRE + timedelta(hours=3)), "admin"))
    assert moved.next_at == FIRE + timedelta(hours=3)
    # A missed one is never armed again either (the too-late window is widened afterwards).
    log2 = Log()
    log2.run(CreateSchedule("s1", spec(rrule="FREQ=DAILY"), "admin"))
    log2.now = FIRE + timedelta(minutes=11)
    (missed,) = log2.run(FireDue("s1", "f1"))
    assert isinstance(missed, OccurrencesMissed) and missed.missed == (FIRE,)
    log2.config["too_late_minutes"] = 60
    (edited,) = log2.run(EditSchedule("s1", spec("Renamed", rrule="FREQ=DAILY"), "admin"))
    assert edited.next_at == FIRE + timedelta(days=1)


def test_a_log_that_armed_a_fired_occurrence_again_moves_on_at_the_next_due() -> None:
    """An old log (before edits skipped fired occurrences) may hold a schedule armed at an
    occurrence that fired: the next `FireDue` does not fire it, it arms the next one."""
    log = Log()
    log.run(CreateSchedule("s1", spec(rrule="FREQ=DAILY"), "admin"))
    log.now = FIRE + timedelta(minutes=1)
    log.run(FireDue("s1", "f1"))
    log.events.append(
        ScheduleEdited("s1", spec("Renamed", rrule="FREQ=DAILY"), 15, FIRE, "admin", log.now)
    )
    assert log.state.find("s1").next_at == FIRE
    log.now = FIRE + timedelta(minutes=2)
    (moved,) = log.run(FireDue("s1", "f1-again"))
    assert isinstance(moved, OccurrencesMissed)
    assert moved.missed == () and moved.next_at == FIRE + timedelta(days=1)
    assert [type(e) for e in log.events].count(OccurrenceFired) == 1


def test_the_fires_apply_and_the_item_that_starts_it_are_recorded_once() -> None:
    log = Log()
    log.run(CreateSchedule("s1", spec(fallback_playlist_id="p2"), "admin"))
    log.now = FIRE
    log.run(FireDue("s1", "f1"))
    assert log.state.fire("f1").apply_id is None and log.state.fire("f1").starts_with is None
    (applied,) = log.run(RecordFireApply("f1", "f1"))
    assert isinstance(applied, FireApplyStarted) and applied.kind == "event"
    assert log.run(RecordFireApply("f1", "other")) == ()  # the first one stays
    first = Media("yt", "ep1", "Episode 1", 60)
    (began,) = log.run(RecordFireStart("f1", 7, first))
    assert isinstance(began, FireStartedWith) and began.at == FIRE
    assert log.run(RecordFireStart("f1", 8, Media("yt", "ep2", "Episode 2", 60))) == ()
    log.run(FinishFire("f1", "admin"))
    log.run(RecordFireApply("f1", "f1-fallback", "fallback"))
    fire = log.state.fire("f1")
    assert (fire.apply_id, fire.fallback_apply_id) == ("f1", "f1-fallback")
    assert (fire.starts_with.uid, fire.starts_with.media) == (7, first)
    log.refused(RecordFireApply("nope", "x"), "unknown_fire")
    log.refused(RecordFireStart("nope", 1, first), "unknown_fire")
