"""Firing a scheduled event over the simulated channel with the pay flow running: the pre-fire
lock at its edges, the fire with paid items pending (refunded as schedule_displaced), the event
lock until the last item begins, the fallback after it, a restart spanning the fire (no second
fire), a missed occurrence and a recurring one advancing."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, timedelta, tzinfo
from typing import Any

import pytest

from application.log.command_handler import CommandHandler
from application.log.streams import schedules_stream
from application.playlists.service import PlaylistService
from application.schedules.firing import ScheduleFirer
from application.schedules.service import ScheduleConfig, ScheduleService
from domain.errors import Rejected
from domain.media import Media
from domain.schedules.model import OccurrenceFired, OccurrencesMissed
from tests.integration.playlists.test_apply import ADMIN, ApplyWorld


def ep(n: int, length: int = 60) -> Media:
    return Media("yt", f"ep{n}", f"Episode {n}", length)


class ScheduleWorld(ApplyWorld):
    def __init__(self, tmp: Any, tz: tzinfo = UTC) -> None:
        super().__init__(tmp)
        self.tz = tz
        self.schedule_config = ScheduleConfig(too_late_minutes=10)
        self.schedules = ScheduleService(
            self.handler, self.playlists, self.clock, config=self.schedule_config, tz=tz
        )

    def firer(self, *, store: Any = None, cytube: Any = None) -> ScheduleFirer:
        """A fresh firer over a fresh handler (and applier): what a restarted process has."""
        applier = self.start_applier(store=store, cytube=cytube)
        handler = CommandHandler(store or self.store, self.clock)
        service = ScheduleService(
            handler,
            PlaylistService(handler, self.read, self.clock),
            self.clock,
            config=self.schedule_config,
            tz=self.tz,
        )
        return ScheduleFirer(handler, self.clock, service, applier, channels=["lobby"])

    async def fired(self) -> list[Any]:
        commits = await self.store.read_stream(schedules_stream("lobby"))
        return [e for c in commits for e in c.commit.events if isinstance(e, OccurrenceFired)]

    async def tick_until(self, firer: ScheduleFirer, ok: Any, within: float = 20.0) -> None:
        deadline = time.monotonic() + within
        while True:
            await self.sim.play_due()
            await firer.tick("lobby")
            if await ok():
                return
            if time.monotonic() >= deadline:
                run = (await firer._applier.state("lobby")).latest
                q = await self.state()
                raise AssertionError(
                    f"not met: {q.schedule_lock} {self.playlist_ids()} {q.current} "
                    f"{run and [(e.uid, e.status) for e in run.items]} {run and run.status}"
                    f"{(await self.schedules.state('lobby')).fires}"
                )
            await asyncio.sleep(0.05)


async def test_lock_fire_refund_event_lock_and_fallback(world: ScheduleWorld) -> None:
    await world.ledger.grant("lobby", "ann", 10_000, "admin")
    world.start_flow()
    rid, _ = await world.request("ann", Media("yt", "paid1", "Paid", 300))
    await world.settled(rid)
    event = await world.saved(ep(1), ep(2), name="Movie night")
    fallback = await world.saved(ep(9), name="After")
    fire_at = world.clock.now() + timedelta(minutes=40)
    made = await world.schedules.create(
        "lobby",
        ADMIN,
        playlist_id=event,
        label="Movie night",
        fire_at=fire_at,
        fallback_playlist_id=fallback,
    )
    assert made.lock_minutes == 15 and made.duration_sec == 120
    firer = world.firer()
    await firer.tick("lobby")
    held = (await world.state()).schedule_lock
    assert held is not None and held.kind == "pre_fire" and held.starts_at == made.lock_from
    # Just before the lock a purchase goes in; from its first moment it is refused (423).
    world.clock.advance((made.lock_from - world.clock.now()).total_seconds() - 30)
    early, _ = await world.request("ann", Media("yt", "paid2", "Paid 2", 60))
    world.clock.advance(31)
    with pytest.raises(Rejected) as info:
        await world.request("ann", Media("yt", "paid3", "Paid 3", 60))
    assert info.value.code == "queue_locked" and info.value.extra["kind"] == "pre_fire"
    assert info.value.extra["fire_at"] == made.next_at.isoformat()  # type: ignore[union-attr]
    # The fire: once, the playlist hard-replaced, paid items still waiting refunded.
    world.clock.advance((fire_at - world.clock.now()).total_seconds())
    await firer.tick("lobby")
    await firer.tick("lobby")
    assert len(await world.fired()) == 1
    done = await world.finished((await world.fired())[0].fire_id)
    assert done.mode == "hard_replace" and done.queued == 2
    await firer.tick("lobby")  # the one still being added when the replace began: swept
    state = await world.until(
        lambda q: all(q.pay_item(r).finished for r in (rid, early)),  # type: ignore[union-attr]
        "the displaced purchases to finish",
    )
    # The first was in place (and began to play only when the replace took away what played
    # before it); the second was still being added at the fire: neither finishes before the
    # event, so both are refunded, once.
    first, waiting = state.pay_item(rid), state.pay_item(early)
    assert first is not None and waiting is not None
    assert first.cancel_reason == waiting.cancel_reason == "schedule_displaced"
    assert (first.payment, waiting.payment) == ("refunded", "refunded"), repr(first)[150:]
    money = await world.money("ann")
    assert sorted(r for r, _ in money["refunded"]) == sorted([rid, early])
    held = (await world.state()).schedule_lock
    assert held is not None and held.kind == "event"
    with pytest.raises(Rejected) as info:
        await world.request("ann", Media("yt", "paid4", "Paid 4", 60))
    assert info.value.extra["kind"] == "event" and "estimated_end_at" in info.value.extra

    # A restart after the fire fires nothing again; the lock lifts when the last item begins,
    # then the fallback is appended.
    firer = world.firer()

    async def over() -> bool:
        return (await world.state()).schedule_lock is None and "ep9" in world.playlist_ids()

    world.clock.advance(61)  # the first episode has played; the second (the last) begins
    await world.tick_until(firer, over, within=30)
    assert len(await world.fired()) == 1
    assert (await world.schedules.fires("lobby", ADMIN))[0].finish_reason == "last_item_began"


async def test_a_restart_spanning_the_fire_fires_once_and_too_late_is_missed(
    world: ScheduleWorld,
) -> None:
    event = await world.saved(ep(1), name="Quiz")
    now = world.clock.now()
    once = await world.schedules.create(
        "lobby",
        ADMIN,
        playlist_id=event,
        label="Quiz",
        fire_at=now + timedelta(minutes=5),
        immutable=False,
    )
    daily = await world.schedules.create(
        "lobby",
        ADMIN,
        playlist_id=event,
        label="Daily",
        fire_at=now + timedelta(hours=3),
        rrule="FREQ=DAILY",
    )
    # Down from before the fire until 7 minutes after it: the first pass fires it, once, even
    # with two instances passing at the same time.
    world.clock.advance(12 * 60)
    a, b = world.firer(), world.firer()
    await asyncio.gather(a.tick("lobby"), b.tick("lobby"))
    fired = await world.fired()
    assert [f.schedule_id for f in fired] == [once.schedule_id]
    assert (await world.state()).schedule_lock is None or (
        (await world.state()).schedule_lock.schedule_id == daily.schedule_id  # type: ignore[union-attr]
    )
    # Down across two of the daily ones: missed (recorded), advanced to the next, not fired.
    world.clock.advance(2 * 86400)
    await world.firer().tick("lobby")
    commits = await world.store.read_stream(schedules_stream("lobby"))
    missed = [e for c in commits for e in c.commit.events if isinstance(e, OccurrencesMissed)]
    assert len(missed) == 1 and len(missed[0].missed) == 2
    after = next(s for s in await world.schedules.list("lobby", ADMIN) if s.label == "Daily")
    assert after.next_at == daily.fire_at + timedelta(days=2)
    assert len(await world.fired()) == 1
