"""A fired event's life over the simulated channel, with a driven clock: the occurrence that
fired stays spent through an edit and a disable/enable, the fire's apply and the item that
starts the event are recorded, the fire's clear is believed when CyTube's delete broadcasts
are lost, the event lock lifts when a moderator deletes the event's items, an admin lifts it
and the fallback follows, and a mutable event runs unlocked with the promo director on."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from application.log.command_handler import CommandMeta
from application.log.streams import queue_stream, schedules_stream
from domain.errors import Rejected
from domain.media import Media
from domain.promos.config import PromoConfig
from domain.queue.commands import ObserveItemDeleted
from domain.queue.decider import queue_decider
from domain.queue.promo_model import DirectPromos
from domain.schedules.model import FireApplyStarted, FireStartedWith
from tests.integration.pay.test_pay_flow_paths import LossySink
from tests.integration.playlists.test_apply import ADMIN
from tests.integration.schedules.test_firing import ScheduleWorld, ep


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
    firer, fire = await fire_and_load(
        world, playlist_id=event, label="Movie night", fallback_playlist_id=fallback
    )
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


async def fire_and_load(world: ScheduleWorld, **schedule: Any) -> tuple[Any, Any]:
    """Create a schedule, drive the clock to its fire time, and pass until the event's load is
    done and its first item plays: the firer and the fire as listed."""
    made = await world.schedules.create(
        "lobby", ADMIN, fire_at=world.clock.now() + timedelta(minutes=20), **schedule
    )
    world.clock.advance((made.fire_at - world.clock.now()).total_seconds())
    firer = world.firer()

    async def playing() -> bool:
        fires = await world.schedules.fires("lobby", ADMIN)
        return bool(fires) and fires[0].starts_with is not None

    await world.tick_until(firer, playing)
    (fire,) = await world.schedules.fires("lobby", ADMIN)
    assert fire.apply_id is not None
    await world.finished(fire.apply_id)
    return firer, fire


async def pay_to_play_open(world: ScheduleWorld, media_id: str) -> bool:
    try:
        await world.request("ann", Media("yt", media_id, "Paid", 60))
    except Rejected as exc:
        assert exc.code == "queue_locked"
        return False
    return True


async def promos_directed(world: ScheduleWorld) -> bool:
    """Whether the promo director's decision does anything now (it does nothing while a lock
    closes pay-to-play: a curated event plays exactly as built)."""
    outcome = await world.handler.handle(
        queue_decider,
        queue_stream("lobby"),
        DirectPromos({}, PromoConfig()),
        CommandMeta.new("promo-director"),
    )
    return bool(outcome.events)


async def test_the_event_lock_lifts_when_a_moderator_deletes_the_events_items(
    world: ScheduleWorld,
) -> None:
    await world.ledger.grant("lobby", "ann", 10_000, "admin")
    world.start_flow()
    event = await world.saved(ep(1), ep(2), ep(3), name="Movie night")
    firer, fire = await fire_and_load(world, playlist_id=event, label="Movie night")
    held = (await world.state()).schedule_lock
    assert held is not None and held.kind == "event"
    assert not await pay_to_play_open(world, "paid1")
    assert world.playlist_ids() == ["ep1", "ep2", "ep3"]
    # A moderator puts something else on and deletes the event's items in CyTube, the last
    # one first (so it never begins), the playing one last.
    await world.sim.add(Media("yt", "mod1", "Something else", 600))
    for item in reversed(world.sim.playlist()):
        if item.media.id.startswith("ep"):
            await world.sim.delete(item.uid)

    async def lifted() -> bool:
        return (await world.state()).schedule_lock is None

    await world.tick_until(firer, lifted)
    (fire,) = await world.schedules.fires("lobby", ADMIN)
    assert fire.finish_reason == "items_gone" and not fire.running
    assert world.playlist_ids() == ["mod1"]
    assert await pay_to_play_open(world, "paid2")


async def test_an_admin_lifts_the_event_lock_and_the_fallback_is_appended(
    world: ScheduleWorld,
) -> None:
    await world.ledger.grant("lobby", "ann", 10_000, "admin")
    world.start_flow()
    event = await world.saved(ep(1), ep(2), name="Movie night")
    fallback = await world.saved(ep(8), ep(9), name="After")
    firer, fire = await fire_and_load(
        world, playlist_id=event, label="Movie night", fallback_playlist_id=fallback
    )
    for _ in range(2):  # the event runs: nothing follows it yet
        await firer.tick("lobby")
    assert world.playlist_ids() == ["ep1", "ep2"]
    assert not await promos_directed(world)
    lifted = await world.schedules.lift("lobby", ADMIN)
    assert lifted.finish_reason == "admin" and not lifted.running

    async def fallback_in() -> bool:
        q = await world.state()
        return q.schedule_lock is None and world.playlist_ids()[-2:] == ["ep8", "ep9"]

    await world.tick_until(firer, fallback_in)
    # The event's items stay (the admin lifted the lock, nobody deleted anything); the
    # fallback is appended after them, with pay-to-play and the promos open again.
    assert world.playlist_ids() == ["ep1", "ep2", "ep8", "ep9"]
    (fire,) = await world.schedules.fires("lobby", ADMIN)
    assert fire.fallback_apply_id == f"{fire.fire_id}-fallback"
    done = await world.finished(fire.fallback_apply_id)
    assert (done.mode, done.queued) == ("append", 2)
    assert await pay_to_play_open(world, "paid1")
    assert await promos_directed(world)


async def test_a_mutable_event_runs_without_the_event_lock_and_with_promos_on(
    world: ScheduleWorld,
) -> None:
    await world.ledger.grant("lobby", "ann", 10_000, "admin")
    world.start_flow()
    event = await world.saved(ep(1), ep(2), name="Open mic")
    made = await world.schedules.create(
        "lobby",
        ADMIN,
        playlist_id=event,
        label="Open mic",
        fire_at=world.clock.now() + timedelta(minutes=20),
        immutable=False,
    )
    # The pre-fire lock holds before a mutable event too (its load replaces the queue).
    assert made.lock_from is not None
    world.clock.advance((made.lock_from - world.clock.now()).total_seconds() + 1)
    firer = world.firer()
    await firer.tick("lobby")
    held = (await world.state()).schedule_lock
    assert held is not None and held.kind == "pre_fire"
    assert not await pay_to_play_open(world, "paid0")
    assert not await promos_directed(world)
    world.clock.advance((made.fire_at - world.clock.now()).total_seconds())

    async def playing() -> bool:
        fires = await world.schedules.fires("lobby", ADMIN)
        return bool(fires) and fires[0].starts_with is not None

    await world.tick_until(firer, playing)
    (fire,) = await world.schedules.fires("lobby", ADMIN)
    await world.finished(fire.fire_id)
    assert not fire.immutable and fire.running
    # On now: no event lock, pay-to-play open, the promo director at work.
    assert (await world.state()).schedule_lock is None
    rid, _ = await world.request("ann", Media("yt", "paid1", "Paid", 60))
    await world.settled(rid)
    assert sorted(world.playlist_ids()) == ["ep1", "ep2", "paid1"]
    assert await promos_directed(world)
    for _ in range(2):
        await firer.tick("lobby")
    assert (await world.state()).schedule_lock is None  # still none, the event still on
    assert (await world.schedules.fires("lobby", ADMIN))[0].running
