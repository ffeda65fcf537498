"""The clocks behind the `Clock` port: virtual time that can run fast and jump."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from adapters.clock import VirtualClock, WallClock

T0 = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)
GUARD = 5.0
"""Real seconds after which a test fails instead of hanging; never a timing assertion."""


class FakeMonotonic:
    """Real time that moves only when the test says so."""

    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def test_wall_clock_is_utc_aware() -> None:
    now = WallClock().now()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)


async def test_wall_clock_sleeps() -> None:
    await asyncio.wait_for(WallClock().sleep(0), GUARD)


def test_virtual_clock_starts_where_told_in_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    clock = VirtualClock(datetime(2026, 11, 20, 22, 0, tzinfo=plus_two), monotonic=FakeMonotonic())
    assert clock.now() == T0
    assert clock.now().utcoffset() == timedelta(0)


def test_virtual_time_runs_speed_times_faster() -> None:
    real = FakeMonotonic()
    clock = VirtualClock(T0, speed=60, monotonic=real)
    real.value += 1.0
    assert clock.now() == T0 + timedelta(minutes=1)


def test_set_speed_keeps_now_continuous() -> None:
    real = FakeMonotonic()
    clock = VirtualClock(T0, speed=60, monotonic=real)
    real.value += 2.0
    before = clock.now()
    clock.set_speed(1)
    assert clock.now() == before
    real.value += 3.0
    assert clock.now() == before + timedelta(seconds=3)
    assert clock.speed == 1


def test_advance_jumps_forward() -> None:
    clock = VirtualClock(T0, monotonic=FakeMonotonic())
    clock.advance(90)
    assert clock.now() == T0 + timedelta(seconds=90)


@pytest.mark.parametrize("speed", [0, -1, float("nan")])
def test_speed_must_be_positive(speed: float) -> None:
    with pytest.raises(ValueError):
        VirtualClock(T0, speed=speed)
    clock = VirtualClock(T0)
    with pytest.raises(ValueError):
        clock.set_speed(speed)


def test_naive_start_and_backwards_advance_are_refused() -> None:
    with pytest.raises(ValueError):
        VirtualClock(datetime(2026, 11, 20, 20, 0))
    with pytest.raises(ValueError):
        VirtualClock(T0).advance(-1)


async def test_advance_wakes_a_sleeper_whose_deadline_passed() -> None:
    clock = VirtualClock(T0, monotonic=FakeMonotonic())
    sleeper = asyncio.ensure_future(clock.sleep(3600))
    await settle()
    assert not sleeper.done()
    clock.advance(3600)
    await asyncio.wait_for(sleeper, GUARD)
    assert clock.now() == T0 + timedelta(hours=1)


async def test_advance_short_of_the_deadline_keeps_the_sleeper_asleep() -> None:
    clock = VirtualClock(T0, monotonic=FakeMonotonic())
    sleeper = asyncio.ensure_future(clock.sleep(100))
    await settle()
    clock.advance(60)
    await settle()
    assert not sleeper.done()
    clock.advance(40)
    await asyncio.wait_for(sleeper, GUARD)


async def test_sleep_at_high_speed_passes_virtual_time() -> None:
    clock = VirtualClock(T0, speed=100_000)
    await asyncio.wait_for(clock.sleep(60), GUARD)
    assert clock.now() >= T0 + timedelta(seconds=60)


async def test_raising_the_speed_shortens_a_pending_sleep() -> None:
    clock = VirtualClock(T0, speed=1)
    sleeper = asyncio.ensure_future(clock.sleep(3600))
    await settle()
    clock.set_speed(1_000_000)
    await asyncio.wait_for(sleeper, GUARD)
    assert clock.now() >= T0 + timedelta(hours=1)


async def test_a_clock_that_adopts_anothers_state_runs_the_same_time_and_wakes_its_sleepers() -> (
    None
):
    real = FakeMonotonic()
    front = VirtualClock(T0, speed=2, monotonic=real)
    told = []
    front.on_change.append(told.append)
    follower = VirtualClock(T0 - timedelta(days=3), monotonic=real)
    assert follower.adopt(front.state())
    real.value += 10
    assert follower.now() == front.now() == T0 + timedelta(seconds=20)

    sleeper = asyncio.create_task(follower.sleep(600))
    await settle()
    front.advance(900)  # the demo panel's jump, in the front
    assert len(told) == 1 and follower.adopt(told[0])
    await asyncio.wait_for(sleeper, GUARD)  # woken by the jump, not after 600 s
    assert follower.now() == front.now()


def test_an_older_state_than_the_one_held_is_not_taken() -> None:
    real = FakeMonotonic()
    front = VirtualClock(T0, monotonic=real)
    old = front.state()
    front.set_speed(10)
    follower = VirtualClock(T0, monotonic=real)
    assert follower.adopt(front.state())
    assert not follower.adopt(old)  # a reply that crossed a change on the wire
    assert follower.speed == 10
