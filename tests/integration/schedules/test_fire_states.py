"""A fire over the simulated channel under the two things that make it hard: CyTube refusing
some of the event's adds (transient ones retried, permanent ones recorded, the rest loaded),
and paid items caught in every state when the event takes over (waiting to be paid for, the
spend in flight, being added, in place, playing). Each ends with the money audit clean."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any

from application.cytube.port import AddOutcome
from application.log.streams import purchase_stream
from application.pay.audit import audit_commits
from domain.media import Media
from tests.integration.playlists.test_apply import ADMIN, MOD
from tests.integration.schedules.test_firing import ScheduleWorld, ep

LONG = 4 * 3600  # paid media that cannot finish before the event by itself


class ScriptedAdds:
    """The channel port, with the answers to some media's adds scripted (by media id) and
    every try counted; everything else goes through to the simulator."""

    def __init__(self, inner: Any, script: dict[str, list[AddOutcome]]) -> None:
        self._inner, self._script = inner, script
        self.tries: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def add(self, channel: str, media: Media, pos: Any, temp: bool) -> AddOutcome:
        self.tries[media.id] += 1
        planned = self._script.get(media.id)
        if planned:
            return planned.pop(0)
        outcome: AddOutcome = await self._inner.add(channel, media, pos, temp)
        return outcome


class Gates:
    """Named gates a port call waits at: `entered` once the call got there, `open` to let it
    through (what a slow economy or a slow CyTube add looks like from the pay flow)."""

    def __init__(self, *names: str) -> None:
        self.entered: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.open: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.names = set(names)

    async def at(self, name: str) -> None:
        if name in self.names:
            self.entered[name].set()
            await self.open[name].wait()

    def release(self) -> None:
        for name in self.names:
            self.open[name].set()


class GatedCytube:
    def __init__(self, inner: Any, gates: Gates) -> None:
        self._inner, self._gates = inner, gates

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def add(self, channel: str, media: Media, pos: Any, temp: bool) -> AddOutcome:
        await self._gates.at(f"add:{media.id}")
        outcome: AddOutcome = await self._inner.add(channel, media, pos, temp)
        return outcome


class GatedEconomy:
    def __init__(self, inner: Any, gates: Gates) -> None:
        self._inner, self._gates = inner, gates

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def spend(self, channel: str, user: str, sec: int, tier: Any, key: str) -> Any:
        await self._gates.at(f"spend:{key.split('/')[2]}")
        return await self._inner.spend(channel, user, sec, tier, key)


class GatedStore:
    """The flow's log: appends to a gated stream wait (a purchase whose claim is slow to be
    written, so no spend has gone out for it yet)."""

    def __init__(self, inner: Any, gates: Gates) -> None:
        self._inner, self._gates = inner, gates

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def append(self, commit: Any, expected_position: int) -> Any:
        await self._gates.at(f"stream:{commit.stream.id}")
        return await self._inner.append(commit, expected_position)


async def audited(world: ScheduleWorld) -> None:
    report = audit_commits("lobby", [c async for c in world.store.read_all()], world.clock.now())
    assert report.ok, report.findings
    assert report.wallet_in_log


async def test_the_load_under_transient_and_permanent_add_failures(world: ScheduleWorld) -> None:
    await world.ledger.grant("lobby", "ann", 1_000_000, "admin")
    world.start_flow()
    short = await world.buy("ann", Media("yt", "paid1", "Paid", 300))
    await world.settled(short)
    rid = await world.buy("ann", Media("yt", "paid2", "Paid long", LONG))
    await world.settled(rid)
    event = await world.saved(ep(1), ep(2), ep(3), ep(4), name="Marathon")
    fire_at = world.clock.now() + timedelta(minutes=20)
    await world.schedules.create(
        "lobby", ADMIN, playlist_id=event, label="Marathon", fire_at=fire_at
    )
    transient = AddOutcome(ok=False, error="Rate limited", transient=True)
    cytube = ScriptedAdds(
        world.cytube,
        {
            "ep1": [transient, transient],  # a third try is within the budget (1 + 2 retries)
            "ep2": [AddOutcome(ok=False, error="Invalid manifest", transient=False)],
            "ep3": [transient, transient, transient],  # beyond the budget
        },
    )
    world.clock.advance((fire_at - world.clock.now()).total_seconds())
    firer = world.firer(cytube=cytube)
    fire_id = ""

    async def loaded() -> bool:
        nonlocal fire_id
        fired = await world.fired()
        if not fired:
            return False
        fire_id = fired[0].fire_id
        assert world.applier is not None
        run = (await world.applier.state("lobby")).find(fire_id)
        return run is not None and run.status != "running"

    await world.tick_until(firer, loaded)
    # The apply's status (what GET .../apply/{id} shows, the fire id is the apply id) names
    # each item's outcome; the clear took the whole queue, the load the items that could go.
    done = await world.finished(fire_id)
    by_id = {i.media_id: i for i in done.items}
    assert (by_id["ep1"].status, by_id["ep1"].attempts) == ("queued", 3)
    assert (by_id["ep2"].status, by_id["ep2"].reason, by_id["ep2"].attempts) == (
        "failed",
        "refused",
        1,
    )
    assert by_id["ep2"].detail == "Invalid manifest"
    assert (by_id["ep3"].status, by_id["ep3"].reason, by_id["ep3"].attempts) == (
        "failed",
        "add_failed",
        3,
    )
    assert (by_id["ep4"].status, by_id["ep4"].attempts) == ("queued", 1)
    assert (done.queued, done.failed, done.pending) == (2, 2, 0)
    assert sorted(f.media_id for f in done.failures) == ["ep2", "ep3"]
    assert done.cleared and done.mode == "hard_replace"
    assert (cytube.tries["ep1"], cytube.tries["ep2"], cytube.tries["ep3"]) == (3, 1, 3)
    assert world.playlist_ids() == ["ep1", "ep4"]
    # Point 2: the short purchase finished before the event (it played, and keeps its
    # price); the long one was playing when the event took over: cut off, refunded, once.
    await world.until(lambda q: q.pay_item(rid).finished, "the refund")  # type: ignore[union-attr]
    assert [r for r, _ in (await world.money("ann"))["refunded"]] == [rid]
    cut = await world.pay(rid)
    assert (cut.cancel_reason, cut.cut_off, cut.status) == ("schedule_displaced", True, "refunded")
    assert (await world.pay(short)).status == "played"

    async def lifted() -> bool:
        return (await world.state()).schedule_lock is None

    world.clock.advance(61)  # ep1 has played; ep4, the last item the event loaded, begins
    await world.tick_until(firer, lifted)
    fires = await world.schedules.fires("lobby", ADMIN)
    assert fires[0].finish_reason == "last_item_began"
    await audited(world)


async def test_paid_items_in_every_state_at_the_fire(world: ScheduleWorld) -> None:
    """Point 2 of the issue: purchases in place before the lock stay and play if they finish
    before the event; the rest are refunded at fire time. Nothing here can finish before the
    event, so each ends refunded, or (no spend gone out) never charged, and only once."""
    await world.ledger.grant("lobby", "ann", 10_000_000, "admin")
    gates = Gates("add:adding1", "spend:s1", f"stream:{purchase_stream('lobby', 'w1').id}")
    world.start_flow(
        store=GatedStore(world.store, gates),  # type: ignore[arg-type]
        economy=GatedEconomy(world.ledger, gates),  # type: ignore[arg-type]
        cytube=GatedCytube(world.cytube, gates),  # type: ignore[arg-type]
    )
    event = await world.saved(ep(1), ep(2), name="Premiere")
    fire_at = world.clock.now() + timedelta(hours=2)
    made = await world.schedules.create(
        "lobby", ADMIN, playlist_id=event, label="Premiere", fire_at=fire_at
    )
    # Playing: bought to play next, then what played before it ends.
    playing = await world.buy("ann", Media("yt", "play1", "Playing", LONG), "playnext")
    await world.settled(playing)
    await world.sim.skip()
    await world.until(lambda q: q.pay_item(playing).placement == "playing", "it to play")  # type: ignore[union-attr]
    # Positioned: in place after it.
    placed = await world.buy("ann", Media("yt", "pos1", "Placed", LONG))
    await world.settled(placed)
    # Adding: paid for, its add sent, CyTube not yet answering.
    adding = await world.buy("ann", Media("yt", "adding1", "Adding", LONG), request_id="a1")
    await asyncio.wait_for(gates.entered["add:adding1"].wait(), 30)
    # Spend in flight: the economy has not answered yet.
    spending = await world.buy("ann", Media("yt", "spend1", "Spending", LONG), request_id="s1")
    await asyncio.wait_for(gates.entered["spend:s1"].wait(), 30)
    # Waiting: not yet paid for; no spend has gone out.
    waiting = await world.buy("ann", Media("yt", "wait1", "Waiting", LONG), request_id="w1")
    await asyncio.wait_for(gates.entered[f"stream:{purchase_stream('lobby', 'w1').id}"].wait(), 30)
    q = await world.state()
    assert [q.pay_item(r).status for r in (playing, placed, adding, spending, waiting)] == [  # type: ignore[union-attr]
        "playing",
        "positioned",
        "adding",
        "paying",
        "paying",
    ]
    assert made.lock_from is not None and world.clock.now() < made.lock_from

    world.clock.advance((fire_at - world.clock.now()).total_seconds())
    firer = world.firer()

    async def swept() -> bool:
        q = await world.state()
        return all(
            q.pay_item(r).cancel_reason == "schedule_displaced"  # type: ignore[union-attr]
            for r in (playing, placed, adding, spending, waiting)
        )

    await world.tick_until(firer, swept)
    gates.release()  # the slow economy, CyTube and log answer, after the fire

    everyone = (playing, placed, adding, spending, waiting)

    async def rested() -> bool:
        q = await world.state()
        return all(q.pay_item(r).finished for r in everyone)  # type: ignore[union-attr]

    await world.tick_until(firer, rested, within=60)
    q = await world.state()
    pays = {r: q.pay_item(r) for r in everyone}
    assert {r: p.status for r, p in pays.items()} == {  # type: ignore[union-attr]
        playing: "refunded",
        placed: "refunded",
        adding: "refunded",
        spending: "refunded",
        waiting: "cancelled",
    }
    assert pays[playing].cut_off  # type: ignore[union-attr]
    money = await world.money("ann")
    assert sorted(r for r, _ in money["debited"]) == sorted([playing, placed, adding, spending])
    assert sorted(r for r, _ in money["refunded"]) == sorted([playing, placed, adding, spending])
    assert dict(money["debited"]) == dict(money["refunded"])  # each given back in full
    # The channel plays the event and nothing paid.
    assert world.playlist_ids() == ["ep1", "ep2"], world.playlist_ids()
    await audited(world)
    status = await world.applier.status("lobby", MOD, (await world.fired())[0].fire_id)  # type: ignore[union-attr]
    assert playing in status.displaced_purchases and placed in status.displaced_purchases
