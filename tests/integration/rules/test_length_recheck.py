"""The length rules judged again on the length CyTube reports, through the simulator: media the
catalog does not know is bought at the buyer's hint, so a long item declared short passed the
rules once; now CyTube's length is judged before it is priced, and it is taken off the playlist
and refunded in full, the rule and the real length recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from application.log.streams import rule_refusals_stream
from application.rules.service import RulesService
from domain.media import Media
from domain.queue.pay_model import PayItemCancelled, PayItemRefunded
from domain.rules.config import RequestRefusedByRule, RulesConfig
from tests.integration.pay.pay_world import PayWorld

LIED = Media("yt", "long1", "", 60)  # CyTube knows it as 30 minutes
HONEST = Media("yt", "short1", "", 240)


@pytest.fixture
async def world() -> AsyncIterator[PayWorld]:
    w = PayWorld(speed=50.0)
    await w.seed(3)
    await w.ledger.grant("lobby", "ann", 10_000, "admin")
    w.sim.know_media("yt", "long1", "A long one", 1800)
    w.rules = RulesService(
        w.handler, defaults=RulesConfig(max_pending_per_viewer=None, max_length_sec=600)
    )
    w.start_flow()
    yield w
    await w.stop_flow()


async def test_a_long_item_declared_short_is_taken_off_and_refunded_in_full(
    world: PayWorld,
) -> None:
    rid = await world.buy("ann", LIED)  # 60 s passes the 10-minute rule at the purchase
    state = await world.until(
        lambda s: s.pay_item(rid).finished,  # type: ignore[union-attr]
        "the lied-about purchase to be undone",
    )
    pay = state.pay_item(rid)
    assert pay is not None
    assert (pay.cancel_reason, pay.payment, pay.placement) == (
        "rule_too_long",
        "refunded",
        "removed",
    )
    assert pay.refunded == pay.cost > 0 and pay.top_up == 0  # in full, no difference taken
    assert "long1" not in world.playlist_ids()
    money = await world.money("ann")
    assert sum(a for _, a in money["debited"]) == sum(a for _, a in money["refunded"])

    events = [
        e for c in await world.store.read_stream(world.store_stream()) for e in c.commit.events
    ]
    cancel = next(e for e in events if isinstance(e, PayItemCancelled) and e.request_id == rid)
    assert "1800 s" in cancel.detail and "600 s (10 min)" in cancel.detail, cancel.detail
    assert any(isinstance(e, PayItemRefunded) and e.request_id == rid for e in events)
    refusals = [
        e
        for c in await world.store.read_stream(rule_refusals_stream("lobby"))
        for e in c.commit.events
        if isinstance(e, RequestRefusedByRule)
    ]
    assert [(r.code, r.request_id, r.duration_sec, r.user) for r in refusals] == [
        ("rule_too_long", rid, 1800, "ann")
    ]

    # An honest purchase under the limit goes through and stays.
    kept = await world.buy("ann", HONEST)
    state = await world.settled(kept)
    honest = state.pay_item(kept)
    assert honest is not None and not honest.cancelled and honest.placement == "positioned"
