"""A weekly event in Europe/Berlin fired by the firing process manager (not only its
occurrences computed) on both sides of a change of clocks: Saturdays at 21:00 Berlin time are
20:00 UTC in winter and 19:00 UTC from the last Sunday of March; nothing fires a second
early, each fires at its own instant, and the pre-fire lock moves with it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from application.schedules.firing import ScheduleFirer
from domain.schedules.model import OccurrenceFired
from tests.integration.playlists.test_apply import ADMIN
from tests.integration.schedules.test_firing import ScheduleWorld, ep

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
async def world(tmp_path: Any) -> Any:
    w = ScheduleWorld(tmp_path, tz=BERLIN)
    await w.read.prepare()
    await w.seed(1)
    yield w
    await w.stop_applier()
    await w.read.close()


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def fired_at(world: ScheduleWorld) -> list[datetime]:
    return [f.occurrence_at for f in await world.fired()]


async def fire_exactly_at(world: ScheduleWorld, firer: ScheduleFirer, at: datetime) -> None:
    """A pass a second before `at` fires nothing; a pass at `at` fires it, once; then the event
    (one short item) runs to its end so the next one is free to fire."""
    before = await fired_at(world)
    world.clock.advance((at - world.clock.now()).total_seconds() - 1)
    await firer.tick("lobby")
    assert await fired_at(world) == before, f"fired early, before {at}"
    held = (await world.state()).schedule_lock
    assert held is not None and held.kind == "pre_fire" and held.fire_at == at
    assert held.starts_at == at - timedelta(minutes=15)
    world.clock.advance(1)
    await firer.tick("lobby")
    assert await fired_at(world) == [*before, at]
    fire = (await world.fired())[-1]
    assert isinstance(fire, OccurrenceFired)

    async def over() -> bool:
        return (await world.schedules.state("lobby")).running is None

    await world.tick_until(firer, over)


async def test_a_weekly_berlin_event_fires_at_the_right_utc_instant_across_the_spring_change(
    world: ScheduleWorld,
) -> None:
    event = await world.saved(ep(1, length=30), name="Saturday film")
    made = await world.schedules.create(
        "lobby",
        ADMIN,
        playlist_id=event,
        label="Saturday film",
        fire_at=world.schedules.parse_time("2027-03-20T21:00"),  # Berlin wall time, CET
        rrule="FREQ=WEEKLY",
    )
    assert made.fire_at == utc("2027-03-20T20:00")
    firer = world.firer()
    await fire_exactly_at(world, firer, utc("2027-03-20T20:00"))  # CET (UTC+1)
    await fire_exactly_at(world, firer, utc("2027-03-27T20:00"))  # the night before the change
    after = next(iter(await world.schedules.list("lobby", ADMIN)))
    assert after.next_at == utc("2027-04-03T19:00")  # CEST (UTC+2): an hour earlier in UTC
    assert after.next_at is not None
    assert world.schedules.local(after.next_at) == "2027-04-03 21:00 CEST"
    await fire_exactly_at(world, firer, utc("2027-04-03T19:00"))
    await fire_exactly_at(world, firer, utc("2027-04-10T19:00"))
    assert len(await world.fired()) == 4  # each once


async def test_and_across_the_autumn_change(world: ScheduleWorld) -> None:
    # The world's clock starts in November 2026: the next autumn change is October 2027.
    event = await world.saved(ep(1, length=30), name="Saturday film")
    await world.schedules.create(
        "lobby",
        ADMIN,
        playlist_id=event,
        label="Saturday film",
        fire_at=world.schedules.parse_time("2027-10-23T21:00"),  # CEST
        rrule="FREQ=WEEKLY",
    )
    firer = world.firer()
    await fire_exactly_at(world, firer, utc("2027-10-23T19:00"))  # CEST (UTC+2)
    await fire_exactly_at(world, firer, utc("2027-10-30T19:00"))  # the night before the change
    await fire_exactly_at(world, firer, utc("2027-11-06T20:00"))  # CET from Oct 31: UTC+1
