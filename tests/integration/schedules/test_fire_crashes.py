"""The process dies before, during and after a fire: every log append and every CyTube call the
firer and the playlist load make passes one counter, the process is killed just before or just
after the k-th (the firer, the load and the pay flow all stop, their memory lost), and a fresh
set resumes from the log and the channel alone. Whatever k: the occurrence fired once, each of
the event's items is on the playlist once, each displaced purchase refunded once, the load
finished, and the money audit is clean."""

from __future__ import annotations

import contextlib
from collections import Counter
from datetime import timedelta

import pytest

from application.pay.audit import audit_commits
from domain.media import Media
from tests.integration.pay.test_pay_flow_crashes import Crash, Fuse, FusedStore, Through
from tests.integration.playlists.test_apply import ADMIN
from tests.integration.schedules.test_fire_states import LONG
from tests.integration.schedules.test_firing import ScheduleWorld, ep

EVENT = [ep(n) for n in range(1, 6)]


async def fired_and_loaded(world: ScheduleWorld) -> bool:
    fired = await world.fired()
    if not fired:
        return False
    assert world.applier is not None
    run = (await world.applier.state("lobby")).find(fired[0].fire_id)
    return run is not None and run.status == "done"


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("at", [1, 2, 3, 4, 6, 8, 10, 12, 15, 18, 21, 24, 26])
async def test_a_kill_around_the_fire_fires_once_adds_once_and_refunds_once(
    world: ScheduleWorld, at: int, when: str
) -> None:
    await world.ledger.grant("lobby", "ann", 10_000_000, "admin")
    world.start_flow()
    playing = await world.buy("ann", Media("yt", "play1", "Playing", LONG), "playnext")
    await world.settled(playing)
    await world.sim.skip()
    await world.until(lambda q: q.pay_item(playing).placement == "playing", "it to play")  # type: ignore[union-attr]
    placed = await world.buy("ann", Media("yt", "pos1", "Placed", LONG))
    await world.settled(placed)
    event = await world.saved(*EVENT, name="Premiere")
    fire_at = world.clock.now() + timedelta(minutes=20)
    await world.schedules.create(
        "lobby", ADMIN, playlist_id=event, label="Premiere", fire_at=fire_at
    )
    world.clock.advance((fire_at - world.clock.now()).total_seconds())

    fuse = Fuse(at, when)
    store = FusedStore(world.store, fuse, set())
    firer = world.firer(
        store=store,
        cytube=Through(world.cytube, fuse, {"add", "delete", "playlist"}),
    )
    with contextlib.suppress(Crash, AssertionError):  # it dies part-way, as intended
        await world.tick_until(firer, lambda: fired_and_loaded(world), within=3)
    assert fuse.calls >= at  # the fuse did blow
    # The kill: every process manager stops, and all they held in memory is gone.
    await world.stop_applier()
    await world.stop_flow()
    world.start_flow()
    firer = world.firer()
    await world.tick_until(firer, lambda: fired_and_loaded(world), within=30)

    async def refunded() -> bool:
        q = await world.state()
        return all(q.pay_item(r).finished for r in (playing, placed))  # type: ignore[union-attr]

    await world.tick_until(firer, refunded, within=30)
    assert len(await world.fired()) == 1  # no second fire
    ids = world.playlist_ids()
    assert Counter(ids).most_common(1)[0][1] == 1, ids  # nothing added twice
    assert ids == [m.id for m in EVENT], ids  # the load resumed to its end, nothing else
    done = await world.finished((await world.fired())[0].fire_id)
    assert (done.queued, done.failed) == (len(EVENT), 0)
    money = await world.money("ann")
    assert sorted(r for r, _ in money["refunded"]) == sorted([playing, placed])  # each once
    q = await world.state()
    assert [q.pay_item(r).status for r in (playing, placed)] == ["refunded", "refunded"]  # type: ignore[union-attr]
    held = q.schedule_lock
    assert held is not None and held.kind == "event"
    report = audit_commits("lobby", [c async for c in world.store.read_all()], world.clock.now())
    assert report.ok, report.findings
