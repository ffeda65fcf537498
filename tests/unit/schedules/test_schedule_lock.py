"""The queue's schedule lock: armed ahead, closed from fire time minus the lock length to the
second, saying which kind, and lifted (an event lock carries its estimated end)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.media import Media
from domain.queue.commands import ObserveItemQueued, ObserveNowPlaying
from domain.queue.decider import queue_decider
from domain.queue.lock import lock_message
from domain.queue.pay_model import (
    LiftScheduleLock,
    LockQueue,
    RequestPayItem,
    ScheduleLockLifted,
    ScheduleLockSet,
    SetScheduleLock,
)
from tests.unit.scenario import NOW, Scenario

A = Media("yt", "aaa", "Clip A", 180)
P1 = Media("yt", "p1", "Paid one", 300)
FIRE = NOW + timedelta(hours=1)
LOCK_FROM = FIRE - timedelta(minutes=15)


@pytest.fixture
def s() -> Scenario:
    sc = Scenario(queue_decider)
    sc.given_commands(ObserveItemQueued(1, A), ObserveNowPlaying(1))
    return sc.given_commands(
        SetScheduleLock("s1", "pre_fire", "Movie night", LOCK_FROM, FIRE, None)
    )


def buy() -> RequestPayItem:
    return RequestPayItem("r1", "ann", P1, "queue")


def test_armed_ahead_and_open_until_the_lock_begins(s: Scenario) -> None:
    s.now = LOCK_FROM - timedelta(microseconds=1)
    assert len(s.when(buy())) == 1
    assert lock_message(s.state, s.now) is None


def test_closed_from_the_first_moment_with_kind_label_and_fire_time(s: Scenario) -> None:
    s.now = LOCK_FROM
    err = s.then_rejected(buy(), "queue_locked")
    assert err.extra == {"kind": "pre_fire", "label": "Movie night", "fire_at": FIRE.isoformat()}
    assert "Movie night" in err.message


def test_setting_the_same_lock_again_is_a_no_op_and_an_event_lock_replaces_it(
    s: Scenario,
) -> None:
    s.then(SetScheduleLock("s1", "pre_fire", "Movie night", LOCK_FROM, FIRE, None), [])
    end = FIRE + timedelta(hours=2)
    s.given_commands(SetScheduleLock("s1", "event", "Movie night", FIRE, FIRE, end))
    s.now = FIRE + timedelta(minutes=1)
    err = s.then_rejected(buy(), "queue_locked")
    assert err.extra == {
        "kind": "event",
        "label": "Movie night",
        "estimated_end_at": end.isoformat(),
    }


def test_lifted_by_schedule_or_by_anyone(s: Scenario) -> None:
    s.now = FIRE
    s.then(LiftScheduleLock("missed", schedule_id="other"), [])  # not that schedule's lock
    s.then(LiftScheduleLock("admin", "admin"), [ScheduleLockLifted("s1", "admin", "admin")])
    s.given_commands(LiftScheduleLock("admin", "admin"))
    assert len(s.when(buy())) == 1
    s.then(LiftScheduleLock("again"), [])


def test_the_manual_lock_speaks_first(s: Scenario) -> None:
    s.now = LOCK_FROM
    s.given_commands(LockQueue("Maintenance", None, "admin"))
    err = s.then_rejected(buy(), "queue_locked")
    assert err.extra["kind"] == "manual"


def test_a_bad_kind_is_refused(s: Scenario) -> None:
    s.then_rejected(SetScheduleLock("s1", "party", "x", LOCK_FROM, FIRE, None), "invalid_lock")
    assert s.state.schedule_lock.kind == "pre_fire"  # type: ignore[union-attr]
    assert isinstance(s.history[-1], ScheduleLockSet)
