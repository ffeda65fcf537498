"""Presence refunds over the simulator: payers who leave or go AFK, on a frozen virtual clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from application.cytube.port import CytubeUnavailable
from application.log.command_handler import CommandHandler
from application.log.ports import AppendResult, Commit, ConcurrencyConflict
from application.pay.flow import PayFlowConfig
from application.presence.monitor import PresenceMonitor
from domain.media import Media
from domain.queue.pay_model import PayItemCancelled
from domain.queue.presence_policy import PresenceRefundConfig
from tests.integration.pay.pay_world import PayWorld

GRACE = 60.0
CONFIG = PresenceRefundConfig(
    grace_seconds=GRACE, on_afk=True, afk_grace_seconds=GRACE, check_interval_seconds=15
)
INSTANT = PayFlowConfig(add_delay_sec=0, confirm_timeout_sec=5, retry_delay_sec=0.1)


class FlakyLookups:
    """The CyTube port, except that user lookups fail while `failing` is set."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.failing, self.lookups = inner, False, 0

    async def user(self, channel: str, name: str) -> Any:
        self.lookups += 1
        if self.failing:
            raise CytubeUnavailable("user lookup timed out (injected)")
        return await self.inner.user(channel, name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class Monitored(PayWorld):
    def __init__(self, config: PresenceRefundConfig = CONFIG) -> None:
        super().__init__(frozen=True, config=INSTANT)
        self.presence_config = config
        self.lookups = FlakyLookups(self.cytube)
        self.monitor: PresenceMonitor | None = None
        self._monitor_task: asyncio.Task[None] | None = None

    def start_monitor(self, handler: CommandHandler | None = None) -> PresenceMonitor:
        self.monitor = PresenceMonitor(
            handler or self.handler,
            self.store,
            self.lookups,  # type: ignore[arg-type]
            self.observer,
            self.clock,
            channels=["lobby"],
            config=self.presence_config,
        )
        self._monitor_task = asyncio.create_task(self.monitor.run())
        return self.monitor

    async def stop_monitor(self) -> None:
        if self._monitor_task is not None:
            self._monitor_task.cancel()
            await asyncio.gather(self._monitor_task, return_exceptions=True)

    async def evaluated(self) -> None:
        """Have the monitor look again (as its periodic check would) and wait until it has."""
        assert self.monitor is not None
        await asyncio.sleep(0)
        after = self.monitor.started  # a pass that starts from here on sees what just happened
        self.monitor.poke()
        deadline = time.monotonic() + 5
        while self.monitor.evaluations < after + 1:
            assert time.monotonic() < deadline, "the monitor stopped evaluating"
            await asyncio.sleep(0.005)

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        await self.evaluated()

    async def buy(self, user: str, n: int, tier: str = "queue") -> str:
        rid, _ = await self.request(user, Media("yt", f"{user}{n}", f"{user} {n}", 300), tier)
        await self.settled(rid)
        return rid


@pytest.fixture
async def world() -> AsyncIterator[Monitored]:
    w = Monitored()
    await w.seed()
    for user in ("ann", "bob"):
        await w.ledger.grant("lobby", user, 10_000, "admin")
        await w.sim.join(user)
    w.start_flow()
    w.start_monitor()
    yield w
    await w.stop_monitor()
    await w.stop_flow()


async def refunded(w: Monitored, *rids: str) -> None:
    await w.until(
        lambda s: all(s.pay_item(r) is None or s.pay_item(r).finished for r in rids),  # type: ignore[union-attr]
        f"{rids} refunded",
    )
    for rid in rids:
        pay = await w.pay(rid)
        assert pay.payment == "refunded" and pay.placement == "removed", pay


async def test_owner_leaves_and_after_grace_the_paid_item_is_refunded_and_removed(
    world: Monitored,
) -> None:
    rid = await world.buy("ann", 1)
    await world.sim.leave("ann")
    await world.until(lambda s: s.away_window("ann") is not None, "a grace window")
    await world.advance(GRACE - 1)
    assert (await world.pay(rid)).status == "positioned"
    await world.advance(2)
    await refunded(world, rid)
    assert "ann1" not in world.playlist_ids()
    assert [m for m in world.playlist_ids() if m.startswith("content")] == [
        "content0",
        "content1",
        "content2",
    ]
    assert await world.ledger.balance("lobby", "ann") == 10_000
    # She is gone: CyTube would refuse the PM (while the robot reports success), so none goes.
    assert [pm for pm in world.cytube.sent_pms if pm[1] == "ann"] == []
    assert (await world.pay(rid)).cancel_reason == "owner_left"


async def test_an_afk_buyer_is_told_once_the_item_is_off_the_playlist_and_refunded(
    world: Monitored,
) -> None:
    rid = await world.buy("ann", 1)
    world.clock.advance(1)  # AFK after buying
    await world.sim.set_afk("ann", True)
    await world.until(lambda s: s.away_window("ann") is not None, "a grace window")
    await world.advance(GRACE + 1)
    await refunded(world, rid)
    await world.evaluated()
    assert "ann1" not in world.playlist_ids()
    told = [pm for pm in world.cytube.sent_pms if pm[1] == "ann"]
    assert len(told) == 1 and "AFK" in told[0][2]


async def test_a_purchase_made_while_afk_is_not_cancelled_for_that_afk(
    world: Monitored,
) -> None:
    await world.sim.set_afk("ann", True)
    world.clock.advance(5)
    rid = await world.buy("ann", 1)
    await world.advance(3 * GRACE)
    pay = await world.pay(rid)
    assert pay.status == "positioned" and pay.payment == "captured"


async def test_afk_then_back_within_grace_keeps_the_item(world: Monitored) -> None:
    rid = await world.buy("ann", 1)
    world.clock.advance(1)
    await world.sim.set_afk("ann", True)
    await world.until(lambda s: s.away_window("ann") is not None, "a grace window")
    await world.advance(30)
    await world.sim.set_afk("ann", False)
    await world.until(lambda s: s.away_window("ann") is None, "the window to close")
    await world.advance(2 * GRACE)
    pay = await world.pay(rid)
    assert pay.status == "positioned" and pay.payment == "captured"


async def test_the_now_playing_items_owner_gone_keeps_it(world: Monitored) -> None:
    rid = await world.buy("ann", 1)
    uid = next(i.uid for i in world.sim.playlist() if i.media.id == "ann1")
    await world.sim.jump(uid)
    await world.until(lambda s: s.pay_item(rid).placement == "playing", "playing")  # type: ignore[union-attr]
    await world.sim.leave("ann")
    await world.advance(2 * GRACE)
    assert (await world.pay(rid)).cancel_reason is None


async def test_a_failed_lookup_does_nothing_and_the_next_real_signal_acts(
    world: Monitored,
) -> None:
    await world.ledger.grant("lobby", "carl", 10_000, "admin")
    world.lookups.failing = True  # carl was never seen, and looking him up fails
    rid, _ = await world.request("carl", Media("yt", "carl1", "carl 1", 300))
    await world.settled(rid)
    await world.advance(2 * GRACE)
    assert world.lookups.lookups > 0
    assert (await world.state()).away_window("carl") is None
    assert (await world.pay(rid)).status == "positioned"
    await world.sim.join("carl")
    await world.sim.leave("carl")
    await world.until(lambda s: s.away_window("carl") is not None, "a window from the real leave")
    await world.advance(GRACE + 1)
    await refunded(world, rid)


async def test_two_pending_items_of_one_owner_go_together(world: Monitored) -> None:
    first = await world.buy("ann", 1)
    second = await world.buy("ann", 2, "playnext")
    other = await world.buy("bob", 1)
    await world.sim.leave("ann")
    await world.until(lambda s: s.away_window("ann") is not None, "a grace window")
    await world.advance(GRACE + 1)
    await refunded(world, first, second)
    cancels = [
        stored.position
        for stored in await world.store.read_stream(world.store_stream())
        for e in stored.commit.events
        if isinstance(e, PayItemCancelled)
    ]
    assert len(cancels) == 2
    assert (await world.pay(other)).status == "positioned"


async def test_an_owner_who_flaps_restarts_the_window(world: Monitored) -> None:
    rid = await world.buy("ann", 1)
    await world.sim.leave("ann")
    await world.until(lambda s: s.away_window("ann") is not None, "a grace window")
    await world.advance(10)
    await world.sim.join("ann")
    await world.until(lambda s: s.away_window("ann") is None, "the window to close")
    await world.advance(5)
    await world.sim.leave("ann")
    await world.until(lambda s: s.away_window("ann") is not None, "a new window")
    await world.advance(GRACE - 10)  # the first window would have run out by now
    assert (await world.pay(rid)).cancel_reason is None
    await world.advance(11)
    await refunded(world, rid)


async def test_a_restart_mid_window_still_cancels_at_the_original_deadline(
    world: Monitored,
) -> None:
    rid = await world.buy("ann", 1)
    await world.sim.leave("ann")
    state = await world.until(lambda s: s.away_window("ann") is not None, "a grace window")
    deadline = state.away_window("ann").deadline  # type: ignore[union-attr]
    await world.advance(30)
    await world.stop_monitor()
    await world.stop_flow()
    world.start_flow()
    world.start_monitor()
    await world.evaluated()
    assert (await world.pay(rid)).cancel_reason is None
    await world.advance(31)
    await refunded(world, rid)
    [cancelled_at] = [
        stored.commit.at
        for stored in await world.store.read_stream(world.store_stream())
        if any(isinstance(e, PayItemCancelled) for e in stored.commit.events)
    ]
    assert deadline <= cancelled_at < deadline + timedelta(seconds=2)


async def test_with_on_afk_off_afk_owners_are_left_alone() -> None:
    w = Monitored(PresenceRefundConfig(grace_seconds=GRACE, on_afk=False))
    await w.seed()
    await w.ledger.grant("lobby", "ann", 10_000, "admin")
    await w.sim.join("ann")
    w.start_flow()
    w.start_monitor()
    try:
        rid = await w.buy("ann", 1)
        await w.sim.set_afk("ann", True)
        await w.advance(3 * GRACE)
        assert (await w.pay(rid)).status == "positioned"
        assert (await w.state()).away_window("ann") is None
    finally:
        await w.stop_monitor()
        await w.stop_flow()


class JammedAppends:
    """The log, except that every append loses to a concurrent writer while `jammed` is set."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.jammed, self.refused = inner, False, 0

    async def append(self, commit: Commit, expected_position: int) -> AppendResult:
        if self.jammed:
            self.refused += 1
            raise ConcurrencyConflict(commit.stream, expected_position)
        result: AppendResult = await self.inner.append(commit, expected_position)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_round_lost_to_write_conflicts_does_not_stop_the_monitor() -> None:
    w = Monitored()
    await w.seed()
    await w.ledger.grant("lobby", "ann", 10_000, "admin")
    await w.sim.join("ann")
    w.start_flow()
    jam = JammedAppends(w.store)
    monitor = w.start_monitor(CommandHandler(jam, w.clock))  # type: ignore[arg-type]
    try:
        rid = await w.buy("ann", 1)
        jam.jammed = True
        await w.sim.leave("ann")
        await w.evaluated()
        assert jam.refused > 0  # it tried to open the grace window, and lost every retry
        assert (await w.state()).away_window("ann") is None
        jam.jammed = False
        await w.evaluated()  # the same monitor, still running
        assert (await w.state()).away_window("ann") is not None
        await w.advance(GRACE + 1)
        await refunded(w, rid)
        assert monitor.cancelled == 1
    finally:
        await w.stop_monitor()
        await w.stop_flow()
