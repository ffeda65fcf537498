"""A fired event's life over the simulated channel, with a driven clock: the occurrence that
fired stays spent through an edit and a disable/enable, the fire's apply and the item that
starts the event are recorded, the event lock lifts when a moderator deletes the event's
items, an admin lifts it and the fallback follows, and a mutable event runs unlocked with the
promo director on."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from application.log.streams import schedules_stream
from domain.queue.commands import ObserveItemDeleted
from domain.schedules.model import FireApplyStarted, FireStartedWith
from tests.integration.pay.test_pay_flow_paths import LossySink
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


async def recorded(world: ScheduleWorld, kind: type) -> list[Any]:
    commits = await world.store.read_stream(schedules_stream("lobby"))
    return [e for c in commits for e in c.commit.events if isinstance(e, kind)]


async def test_a_fire_records_its_apply_the_item_that_starts_it_and_the_fallback_apply(
    world: ScheduleWorld,
) -> None:
    event = await world.saved(ep(1), ep(2), name="Movie night")
    fallback = await world.saved(ep(9), name="After")
    made = await world.schedules.create(
        "lobby",
        ADMIN,
        playlist_id=event,
        label="Movie night",
        fire_at=world.clock.now() + timedelta(minutes=20),
        fallback_playlist_id=fallback,
    )
    world.clock.advance((made.fire_at - world.clock.now()).total_seconds())
    firer = world.firer()

    async def started() -> bool:
        fires = await world.schedules.fires("lobby", ADMIN)
        return bool(fires) and fires[0].starts_with is not None

    await world.tick_until(firer, started)
    (fire,) = await world.schedules.fires("lobby", ADMIN)
    # The apply behind the fire is the one that loaded the event (its id is in the listing,
    # and it is the hard-replace that queued both episodes).
    assert fire.apply_id == fire.fire_id and fire.fallback_apply_id is None
    done = await world.finished(fire.apply_id)
    assert done.mode == "hard_replace" and done.queued == 2
    # The item that starts the event is the first episode, as CyTube reported it playing.
    assert fire.starts_with is not None
    assert (fire.starts_with.media_type, fire.starts_with.media_id) == ("yt", "ep1")
    assert world.applier is not None
    run = (await world.applier.state("lobby")).find(fire.apply_id)
    assert run is not None
    assert fire.starts_with.uid == next(e.uid for e in run.items if e.media.id == "ep1")
    assert fire.starts_with.began_at >= fire.at
    # A restarted firer records neither again.
    firer = world.firer()
    for _ in range(3):
        await firer.tick("lobby")
    assert len(await recorded(world, FireApplyStarted)) == 1
    assert len(await recorded(world, FireStartedWith)) == 1

    async def fallback_on() -> bool:
        fires = await world.schedules.fires("lobby", ADMIN)
        return fires[0].fallback_apply_id is not None and "ep9" in world.playlist_ids()

    world.clock.advance(61)  # the first episode has played; the second, the last, begins
    await world.tick_until(firer, fallback_on, within=30)
    (fire,) = await world.schedules.fires("lobby", ADMIN)
    assert fire.finish_reason == "last_item_began"
    assert fire.fallback_apply_id == f"{fire.fire_id}-fallback"
    assert (await world.finished(fire.fallback_apply_id)).mode == "append"
    assert fire.starts_with is not None and fire.starts_with.media_id == "ep1"  # unchanged
    kinds = [(e.kind, e.apply_id) for e in await recorded(world, FireApplyStarted)]
    assert kinds == [("event", fire.fire_id), ("fallback", f"{fire.fire_id}-fallback")]


async def test_the_fires_clear_is_expected_so_the_empty_read_after_it_is_believed(
    world: ScheduleWorld,
) -> None:
    """CyTube deletes the queue for the fire's hard-replace, but its delete broadcasts never
    arrive: the read the apply takes then comes back empty. An empty read alone is not
    believed (a failed robot read looks the same), but this one is the clear the fire asked
    for, so the queue the log holds is emptied, not left with the old items as ghosts."""
    lossy = LossySink(world.observer)
    world.sim._sink = lossy
    for _ in range(3):  # the three items on the queue
        lossy.drop_one(lambda o: isinstance(o, ObserveItemDeleted))
    event = await world.saved(ep(1), ep(2), name="Movie night")
    made = await world.schedules.create(
        "lobby",
        ADMIN,
        playlist_id=event,
        label="Movie night",
        fire_at=world.clock.now() + timedelta(minutes=20),
    )
    world.clock.advance((made.fire_at - world.clock.now()).total_seconds())
    firer = world.firer()

    async def loaded() -> bool:
        fired = await world.fired()
        assert world.applier is not None
        run = fired and (await world.applier.state("lobby")).find(fired[0].fire_id)
        return bool(run) and run.status != "running"  # type: ignore[union-attr]

    await world.tick_until(firer, loaded, within=60)
    assert len(lossy.dropped) == 3
    done = await world.finished((await world.fired())[0].fire_id)
    assert (done.cleared, done.removed, done.kept) == (True, 3, [])
    assert world.playlist_ids() == ["ep1", "ep2"]
    assert [i.media.id for i in (await world.state()).items] == ["ep1", "ep2"]
