"""The pay flow end to end over the simulator and the local ledger."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from application.identity.roles import Identity
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.streams import purchase_stream
from application.pay.economy import RefundOutcome
from application.pay.service import PayService
from domain.errors import Rejected
from domain.media import Media
from domain.queue import pay_evolve
from domain.queue.pay_claim import ClaimPurchase, claim_decider
from domain.queue.pay_model import PayItemCancelled
from tests.integration.pay.pay_world import NoRows, PayWorld

P = [Media("yt", f"paid{i}", f"Paid {i}", 300) for i in range(10)]
COST = 250  # five minutes on the default price table


@pytest.fixture
async def world() -> AsyncIterator[PayWorld]:
    w = PayWorld()
    await w.seed()
    await w.ledger.grant("lobby", "ann", 10_000, "admin")
    await w.ledger.grant("lobby", "bob", 10_000, "admin")
    w.start_flow()
    yield w
    await w.stop_flow()


async def test_queue_and_playnext_land_in_their_slots_and_are_charged(world: PayWorld) -> None:
    r1, _ = await world.request("ann", P[1], "queue")
    await world.settled(r1)
    r2, _ = await world.request("bob", P[2], "queue")
    await world.settled(r2)
    r3, _ = await world.request("ann", P[3], "playnext")
    await world.settled(r3)
    assert world.playlist_ids() == ["content0", "paid3", "paid1", "paid2", "content1", "content2"]
    assert await world.ledger.balance("lobby", "ann") == 10_000 - 2 * COST
    assert await world.ledger.balance("lobby", "bob") == 10_000 - COST
    state = await world.state()
    assert [i.kind for i in state.items[1:4]] == ["pay", "pay", "pay"]
    assert all(i.temp for i in world.sim.playlist() if i.media.id.startswith("paid"))


async def test_a_declined_spend_adds_nothing(world: PayWorld) -> None:
    rid, _ = await world.request("pauper", P[1])
    state = await world.settled(rid)
    pay = state.pay_item(rid)
    assert pay is not None and pay.status == "declined"
    assert pay.decline_code == "insufficient_balance"
    assert "paid1" not in world.playlist_ids()


async def test_transient_add_failures_past_the_budget_end_in_one_refund(world: PayWorld) -> None:
    world.cytube.fail_adds(10, transient=True)
    rid, _ = await world.request("ann", P[1])
    state = await world.settled(rid)
    pay = state.pay_item(rid)
    assert pay is not None and pay.cancel_reason == "add_failed" and pay.payment == "refunded"
    assert pay.add_attempts == world.config.add_retries + 1
    assert await world.money("ann") == {"debited": [(rid, COST)], "refunded": [(rid, COST)]}
    assert "paid1" not in world.playlist_ids()


async def test_a_transient_add_failure_within_the_budget_is_retried(world: PayWorld) -> None:
    world.cytube.fail_adds(2, transient=True)
    rid, _ = await world.request("ann", P[1])
    pay = (await world.settled(rid)).pay_item(rid)
    assert pay is not None and pay.placement == "positioned" and pay.add_attempts == 3


async def test_a_permanent_add_failure_refunds_at_once(world: PayWorld) -> None:
    world.cytube.fail_adds(1, transient=False, error="Media not found")
    rid, _ = await world.request("ann", P[1])
    pay = (await world.settled(rid)).pay_item(rid)
    assert pay is not None and pay.cancel_reason == "add_failed" and pay.add_attempts == 1
    assert await world.ledger.balance("lobby", "ann") == 10_000
    # CyTube's own words are in the log for the buyer's status page.
    cancelled = [
        e
        for c in await world.store.read_stream(world.store_stream())
        for e in c.commit.events
        if isinstance(e, PayItemCancelled)
    ]
    assert [e.detail for e in cancelled] == ["Media not found"]


async def test_a_move_that_never_happens_ends_in_one_refund_and_no_item(world: PayWorld) -> None:
    world.cytube.drop_moves(100)
    rid, _ = await world.request("ann", P[1], "playnext")
    pay = (await world.settled(rid)).pay_item(rid)
    assert pay is not None and pay.cancel_reason == "move_failed" and pay.finished
    assert await world.money("ann") == {"debited": [(rid, COST)], "refunded": [(rid, COST)]}
    assert "paid1" not in world.playlist_ids()


async def test_an_add_whose_reply_lacks_the_uid_is_confirmed_by_media(world: PayWorld) -> None:
    world.cytube.add_without_uid(1)
    rid, _ = await world.request("ann", P[1])
    pay = (await world.settled(rid)).pay_item(rid)
    assert pay is not None and pay.placement == "positioned"


async def test_an_add_whose_reply_is_lost_is_found_on_the_playlist_not_added_twice(
    world: PayWorld,
) -> None:
    world.cytube.lose_after_add(1)
    rid, _ = await world.request("ann", P[1])
    pay = (await world.settled(rid)).pay_item(rid)
    assert pay is not None and pay.placement == "positioned"
    assert world.playlist_ids().count("paid1") == 1


async def test_the_same_request_id_twice_charges_once(world: PayWorld) -> None:
    rid, first = await world.request("ann", P[1], request_id="same-id")
    _, second = await world.request("ann", P[1], request_id="same-id")
    assert first.events and not second.events
    await world.settled(rid)
    assert (await world.money("ann"))["debited"] == [("same-id", COST)]


async def test_an_admin_cancel_refunds_and_removes_the_item(world: PayWorld) -> None:
    rid, _ = await world.request("ann", P[1])
    await world.settled(rid)
    await world.admin_cancel(rid)
    pay = (await world.until(lambda s: s.pay_item(rid).finished, "refund")).pay_item(rid)  # type: ignore[union-attr]
    assert pay is not None and pay.refunded == COST and pay.placement == "removed"
    assert "paid1" not in world.playlist_ids()
    assert await world.ledger.balance("lobby", "ann") == 10_000


async def test_losing_now_playing_before_the_add_refunds_with_no_now_playing(
    world: PayWorld,
) -> None:
    await world.stop_flow()
    rid, _ = await world.request("ann", P[1])
    for item in world.sim.playlist():
        await world.sim.delete(item.uid)
    world.start_flow()
    pay = (await world.settled(rid)).pay_item(rid)
    assert pay is not None and pay.cancel_reason == "no_now_playing"
    assert await world.ledger.balance("lobby", "ann") == 10_000


class LedgerExcept:
    """The ledger, except for what a subclass overrides."""

    def __init__(self, inner: object) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


class BuggyOnce(LedgerExcept):
    """The ledger, except that its first spend fails with an error nobody planned for."""

    raised = 0

    async def spend(self, *args: object) -> object:
        if not self.raised:
            self.raised += 1
            raise RuntimeError("a bug in the economy adapter (injected)")
        return await self.inner.spend(*args)  # type: ignore[attr-defined]


async def test_an_unforeseen_error_delays_a_purchase_but_does_not_strand_it() -> None:
    w = PayWorld()
    await w.seed()
    await w.ledger.grant("lobby", "ann", 10_000, "admin")
    buggy = BuggyOnce(w.ledger)
    w.start_flow(economy=buggy)  # type: ignore[arg-type]
    try:
        rid, _ = await w.request("ann", P[1])
        state = await w.settled(rid)
        pay = state.pay_item(rid)
        assert buggy.raised == 1
        assert pay is not None and pay.payment == "captured" and pay.placement == "positioned"
        assert await w.ledger.balance("lobby", "ann") == 10_000 - COST
    finally:
        await w.stop_flow()


class RefusesRefunds(LedgerExcept):
    """The ledger, except that it answers every refund with a refusal."""

    asked = 0

    async def refund(self, *args: object) -> RefundOutcome:
        self.asked += 1
        return RefundOutcome(ok=False, refunded=0, error_code="not_found", message="No such tx")


async def test_a_refused_refund_is_recorded_as_refused_and_the_flow_stops_asking() -> None:
    w = PayWorld()
    await w.seed()
    await w.ledger.grant("lobby", "ann", 10_000, "admin")
    economy = RefusesRefunds(w.ledger)
    w.start_flow(economy=economy)  # type: ignore[arg-type]
    try:
        rid, _ = await w.request("ann", P[1])
        await w.settled(rid)
        await w.admin_cancel(rid)
        state = await w.until(
            lambda s: s.pay_item(rid) is None or s.pay_item(rid).finished, "the refund settled"
        )
        pay = state.pay_item(rid)
        assert pay is not None and pay.status == "refund_refused" and pay.refunded == 0
        assert "paid1" not in w.playlist_ids()  # off the playlist all the same
        assert await w.ledger.balance("lobby", "ann") == 10_000 - COST  # nothing came back
        assert economy.asked == 1
        assert w.flow is not None and w.flow.outcomes["refund_refused:not_found"] == 1
    finally:
        await w.stop_flow()


async def test_a_purchase_cancelled_before_it_was_paid_for_sends_no_spend() -> None:
    world = PayWorld()
    await world.seed()
    await world.ledger.grant("lobby", "ann", 10_000, "admin")
    rid, _ = await world.request("ann", P[1])
    await world.admin_cancel(rid)  # presence or an admin, before the flow got to the spend
    world.start_flow()
    try:
        state = await world.until(lambda s: s.pay_item(rid).finished, "void")  # type: ignore[union-attr]
    finally:
        await world.stop_flow()
    pay = state.pay_item(rid)
    assert pay is not None and pay.payment == "void" and pay.status == "cancelled"
    assert await world.money("ann") == {"debited": [], "refunded": []}
    assert await world.ledger.balance("lobby", "ann") == 10_000


async def test_a_claim_whose_request_never_reached_the_queue_is_carried_on_by_its_retry(
    world: PayWorld,
) -> None:
    """The process stopped between claiming the id and recording the purchase: the same
    request again completes it; anything else under that id is a reuse."""
    claim = ClaimPurchase("crashed-1", "ann", "yt", P[2].id, "queue")
    await world.handler.handle(
        claim_decider, purchase_stream("lobby", "crashed-1"), claim, CommandMeta.new("ann")
    )
    with pytest.raises(Rejected) as other:
        await world.buy("bob", P[2], request_id="crashed-1")
    assert other.value.code == "request_id_used"
    assert await world.buy("ann", P[2], request_id="crashed-1") == "crashed-1"
    await world.settled("crashed-1")
    with pytest.raises(Rejected) as again:  # now it is in the queue: a reuse
        await world.buy("ann", P[2], request_id="crashed-1")
    assert again.value.code == "request_id_used"
    assert (await world.money("ann"))["debited"] == [("crashed-1", COST)]


async def test_a_reuse_from_another_process_is_refused_however_long_ago(
    world: PayWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second process knows nothing of the first's cache, and the queue has forgotten the
    purchase: the claim alone refuses the id (a claim whose commit id came from the request id
    would have passed as a repeat of the first)."""
    monkeypatch.setattr(pay_evolve, "KEEP_FINISHED", 1)
    before = await world.ledger.balance("lobby", "ann")
    for n, rid in enumerate(("old-1", "later-2")):
        await world.buy("ann", P[3 + n], request_id=rid)
        await world.settled(rid)
        await world.admin_cancel(rid)
        await world.until(lambda s, r=rid: s.pay_item(r) is None or s.pay_item(r).finished, rid)  # type: ignore[union-attr]
    assert (await world.state()).pay_item("old-1") is None, "the queue still remembers it"
    other = PayService(
        CommandHandler(world.store, world.clock),
        world.ledger,
        NoRows(),  # type: ignore[arg-type]
        world.clock,
    )
    for who, media in (("bob", P[6]), ("ann", P[3])):
        with pytest.raises(Rejected) as used:
            await other.request("lobby", Identity(who, "viewer"), media, "queue", "old-1")
        assert used.value.code == "request_id_used"
    assert (await world.state()).pay_item("old-1") is None
    assert await world.ledger.balance("lobby", "ann") == before
