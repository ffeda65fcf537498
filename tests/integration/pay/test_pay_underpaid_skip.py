"""Nothing plays for less than its price, not even what CyTube starts at once.

An add to an empty playlist plays at once, so a purchase whose buyer said "a minute" can be
playing before the pay flow has priced CyTube's real length. When the difference cannot be
taken (the wallet holds exactly the first price), the flow skips it (deletes it in CyTube, which
moves on) and refunds the buyer in full, reason `underpaid`, exactly once, also when the flow is
restarted in the middle; the money audit over the whole log then finds nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from application.pay.audit import audit_commits
from application.pay.economy import Economy, Quote, RefundOutcome, SpendOutcome, Tier
from domain.media import Media
from domain.queue.pay_model import PayItemRefunded, PayItemRemoved
from domain.wallet.model import RequestRefunded
from tests.integration.pay.pay_world import PayWorld
from tests.integration.pay.test_pay_flow_paths import CountingCytube

LIED = Media("yt", "long1", "", 60)  # the buyer says a minute; CyTube knows 30 minutes
FIRST_PRICE = 250  # what a minute costs on the default price table (30 minutes cost 500)


class EmptyingCytube(CountingCytube):
    """What was playing ends just before the paid add lands: the add meets an empty playlist,
    and CyTube plays it at once."""

    async def add(self, channel: str, media: Media, pos: object, temp: bool) -> object:  # type: ignore[override]
        sim = self._channels[channel]
        current = sim.current_uid
        if media.id == LIED.id and current is not None:
            await sim.delete(current)
        return await super().add(channel, media, pos, temp)  # type: ignore[arg-type]


class RefundThenCrash:
    """The economy, except that the first refund is done and then never answered: the process
    dies there (the test stops the flow), with the money back and nothing recorded."""

    def __init__(self, inner: Economy) -> None:
        self.inner = inner
        self.refunded = asyncio.Event()

    async def preview(self, channel: str, user: str, duration_sec: int, tier: Tier) -> Quote:
        return await self.inner.preview(channel, user, duration_sec, tier)

    async def spend(
        self, channel: str, user: str, duration_sec: int, tier: Tier, request_id: str
    ) -> SpendOutcome:
        return await self.inner.spend(channel, user, duration_sec, tier, request_id)

    async def top_up(self, channel: str, user: str, amount: int, request_id: str) -> SpendOutcome:
        return await self.inner.top_up(channel, user, amount, request_id)

    async def refund(self, channel: str, user: str, request_id: str, reason: str) -> RefundOutcome:
        await self.inner.refund(channel, user, request_id, reason)
        self.refunded.set()
        await asyncio.Event().wait()  # never answers
        raise AssertionError("unreachable")


class SkipWorld(PayWorld):
    def __init__(self) -> None:
        super().__init__(speed=20.0)  # a 30-minute item cannot end by itself during the test
        self.counting = EmptyingCytube(self.sim)
        self.cytube = self.cytube_port = self.counting


@pytest.fixture
async def world() -> AsyncIterator[SkipWorld]:
    w = SkipWorld()
    await w.sim.add(Media("yt", "filler", "Filler", 600), temp=True)  # all there is
    w.sim.know_media("yt", LIED.id, "The real one", 1800)
    await w.ledger.grant("lobby", "ann", FIRST_PRICE, "admin")  # nothing for a difference
    yield w
    await w.stop_flow()


async def refunds_in_log(world: PayWorld, rid: str) -> tuple[int, int]:
    """(queue refunds, wallet refunds) the log holds for `rid`."""
    queue = wallet = 0
    async for stored in world.store.read_all():
        for e in stored.commit.events:
            if isinstance(e, PayItemRefunded) and e.request_id == rid:
                queue += 1
            if isinstance(e, RequestRefunded) and e.request_id.startswith(f"wq/lobby/{rid}/"):
                wallet += 1
    return queue, wallet


async def finished(world: PayWorld, rid: str) -> None:
    await world.until(
        lambda s: (p := s.pay_item(rid)) is not None and p.finished, f"{rid} to finish", 30
    )


async def assert_skipped_and_refunded_once(world: SkipWorld, rid: str) -> None:
    pay = await world.pay(rid)
    assert (pay.status, pay.cancel_reason, pay.refunded) == ("refunded", "underpaid", 250), pay
    assert LIED.id not in world.playlist_ids()  # CyTube moved on
    assert world.counting.deletes >= 1  # ...because the flow deleted it
    removed = [
        e
        async for stored in world.store.read_all()
        for e in stored.commit.events
        if isinstance(e, PayItemRemoved) and e.request_id == rid
    ]
    assert [e.reason for e in removed] == ["skipped_underpaid"]
    money = await world.money("ann")
    assert money == {"debited": [(rid, FIRST_PRICE)], "refunded": [(rid, FIRST_PRICE)]}, money
    assert await refunds_in_log(world, rid) == (1, 1)
    report = audit_commits("lobby", [c async for c in world.store.read_all()], world.clock.now())
    assert report.ok, report.findings
    assert report.purchases[rid].skipped and report.purchases[rid].kept == 0


async def test_an_item_playing_before_its_price_was_checked_is_skipped_and_refunded(
    world: SkipWorld,
) -> None:
    world.start_flow()
    rid = await world.buy("ann", LIED)
    await world.until(
        lambda s: (p := s.pay_item(rid)) is not None and p.owed > 0, "the underpaid record"
    )
    await finished(world, rid)
    await assert_skipped_and_refunded_once(world, rid)
    # A new flow over the same log finds nothing more to do for it.
    await world.stop_flow()
    world.start_flow()
    await asyncio.sleep(0.3)
    assert world.flow is not None
    await world.flow.idle()
    await assert_skipped_and_refunded_once(world, rid)


async def test_a_restart_after_the_refund_was_given_unrecorded_refunds_once(
    world: SkipWorld,
) -> None:
    crashing = RefundThenCrash(world.ledger)
    world.start_flow(economy=crashing)
    rid = await world.buy("ann", LIED)
    await asyncio.wait_for(crashing.refunded.wait(), 30)
    await world.stop_flow()  # the process dies with the refund given and not recorded
    assert (await world.pay(rid)).status == "cancelling"
    world.start_flow()
    await finished(world, rid)
    await assert_skipped_and_refunded_once(world, rid)


async def test_a_skip_cytube_does_not_take_is_sent_again_and_refunded_once(
    world: SkipWorld,
) -> None:
    world.counting.deaf_deletes = 1
    world.start_flow()
    rid = await world.buy("ann", LIED)
    await finished(world, rid)
    assert world.counting.deletes >= 2
    await assert_skipped_and_refunded_once(world, rid)
