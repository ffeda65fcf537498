"""A fired event's life over the simulated channel, with a driven clock: the occurrence that
fired stays spent through an edit and a disable/enable, the fire's apply and the item that
starts the event are recorded, the event lock lifts when a moderator deletes the event's
items, an admin lifts it and the fallback follows, and a mutable event runs unlocked with the
promo director on."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.integration.playlists.test_apply import ADMIN
from tests.integration.schedules.test_firing import ScheduleWorld, ep


@pytest.fixture
async def world(tmp_path: Any) -> Any:
    w = ScheduleWorld(tmp_path)
    await w.read.prepare()
    await w.seed(3)
    yield w
    await w.stop_applier()
    await w.stop_flow()
    await w.read.close()


async def test_an_edit_and_a_disable_enable_after_a_fire_do_not_fire_it_again(
    world: ScheduleWorld,
) -> None:
    event = await world.saved(ep(1), name="Daily quiz")
    fire_at = world.clock.now() + timedelta(minutes=30)
    made = await world.schedules.create(
        "lobby", ADMIN, playlist_id=event, label="Quiz", fire_at=fire_at, rrule="FREQ=DAILY"
    )
    fire_at = made.fire_at  # whole seconds
    firer = world.firer()
    world.clock.advance((fire_at - world.clock.now()).total_seconds())

    async def fired_once() -> bool:
        return len(await world.fired()) == 1

    await world.tick_until(firer, fired_once)
    tomorrow = fire_at + timedelta(days=1)
    # Two minutes on (inside the too-late window) the admin renames it, then turns it off and
    # on again; each pass after that fires nothing.
    world.clock.advance(120)
    edited = await world.schedules.edit("lobby", ADMIN, made.schedule_id, label="Quiz night")
    assert edited.next_at == tomorrow
    for _ in range(3):
        await firer.tick("lobby")
    await world.schedules.set_active("lobby", ADMIN, made.schedule_id, False)
    enabled = await world.schedules.set_active("lobby", ADMIN, made.schedule_id, True)
    assert enabled.next_at == tomorrow
    for _ in range(3):
        await world.sim.play_due()
        await firer.tick("lobby")
    assert [f.occurrence_at for f in await world.fired()] == [fire_at]
    # The next recurrence still fires, once.
    world.clock.advance((tomorrow - world.clock.now()).total_seconds())

    async def fired_twice() -> bool:
        return len(await world.fired()) == 2

    await world.tick_until(firer, fired_twice)
    await firer.tick("lobby")
    assert [f.occurrence_at for f in await world.fired()] == [fire_at, tomorrow]
