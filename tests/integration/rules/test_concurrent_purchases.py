"""Viewers buying as fast as they can, all at once, on a real JetStream log (its round trips let
the purchases interleave, as HTTP requests do): the per-viewer pending cap and the queue's
minutes cap hold exactly (each purchase is decided again on the queue's latest state when it is
appended, under the stream's expected version), the rest are refused with the rule's code and
take no money."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

import nats
import pytest

from adapters.log.jetstream_store import JetStreamEventStore
from application.log.streams import rule_refusals_stream
from application.rules.service import RulesService
from domain.errors import Rejected
from domain.media import Media
from domain.rules.config import RequestRefusedByRule, RulesConfig
from tests.integration.pay.pay_world import PayWorld

GRANT = 100_000
USERS = ("ann", "bob", "cy", "dee", "eve")


MakeWorld = Callable[[RulesConfig], Awaitable[PayWorld]]


@pytest.fixture
async def a_world(nats_url: str) -> AsyncIterator[MakeWorld]:
    """A channel with these rules on a fresh JetStream stream of its own."""
    nc = await nats.connect(nats_url)
    made: list[tuple[PayWorld, str]] = []

    async def make(rules: RulesConfig) -> PayWorld:
        name, prefix = f"R{uuid.uuid4().hex[:10].upper()}", f"r{uuid.uuid4().hex[:8]}.ev"
        store = JetStreamEventStore(nc, stream=name, prefix=prefix)
        await store.ensure_stream()
        w = PayWorld(speed=50.0, store=store)
        made.append((w, name))
        await w.seed(3)
        for user in USERS:
            await w.ledger.grant("lobby", user, GRANT, "admin")
        w.rules = RulesService(w.handler, defaults=rules)
        w.start_flow()
        return w

    yield make
    for w, name in made:
        await w.stop_flow()
        await nc.jetstream().delete_stream(name)
    await nc.close()


async def rush(world: PayWorld, buyers: list[str]) -> tuple[dict[str, str], Counter[str]]:
    """Every buyer's purchase at once (media 120 s each, all different): accepted ids by
    buyer, and the refusals by code."""

    async def one(n: int, user: str) -> tuple[str, str | None, str | None]:
        try:
            rid = await world.buy(user, Media("yt", f"rush{n}", "", 120), request_id=f"rush{n}")
        except Rejected as exc:
            return user, None, exc.code
        return user, rid, None

    results = await asyncio.gather(*(one(n, u) for n, u in enumerate(buyers)))
    accepted = {rid: user for user, rid, _ in results if rid is not None}
    refused = Counter(code for _, _, code in results if code is not None)
    await world.settled(*accepted, within=60)
    return accepted, refused


async def logged_refusals(world: PayWorld) -> Counter[str]:
    return Counter(
        e.code
        for c in await world.store.read_stream(rule_refusals_stream("lobby"))
        for e in c.commit.events
        if isinstance(e, RequestRefusedByRule)
    )


async def wallets_match(world: PayWorld, accepted: dict[str, str]) -> None:
    """Each wallet was debited for its accepted purchases only, and its balance says so."""
    state = await world.state()
    for user in USERS:
        mine = {rid for rid, u in accepted.items() if u == user}
        money = await world.money(user)
        assert {rid for rid, _ in money["debited"]} == mine, user
        assert not money["refunded"], user
        kept = sum(p.cost for p in state.pay if p.request_id in mine)
        assert kept == sum(a for _, a in money["debited"])
        assert await world.ledger.balance("lobby", user) == GRANT - kept, user


async def test_one_viewer_rushing_gets_exactly_the_pending_cap(a_world: MakeWorld) -> None:
    world = await a_world(RulesConfig(max_pending_per_viewer=3))
    accepted, refused = await rush(world, ["ann"] * 20)
    assert len(accepted) == 3, accepted
    assert refused == Counter({"rule_max_pending": 17}), refused
    assert await logged_refusals(world) == refused
    pending = [p for p in (await world.state()).pay if p.pending]
    assert len(pending) == 3
    await wallets_match(world, accepted)


async def test_several_viewers_rushing_hold_both_caps(a_world: MakeWorld) -> None:
    # 2 min each: the queue holds 10 minutes (5 items); each viewer at most 2 of them.
    rules = RulesConfig(max_pending_per_viewer=2, max_queue_pending_minutes=10)
    world = await a_world(rules)
    buyers = [USERS[n % len(USERS)] for n in range(20)]
    accepted, refused = await rush(world, buyers)
    assert len(accepted) == 5, accepted
    assert max(Counter(accepted.values()).values()) <= 2
    assert sum(refused.values()) == 15
    assert set(refused) <= {"rule_max_pending", "rule_queue_minutes"}, refused
    assert refused["rule_queue_minutes"] > 0
    assert await logged_refusals(world) == refused
    pending = [p for p in (await world.state()).pay if p.pending]
    assert sum(p.media.duration_sec for p in pending) == 600
    await wallets_match(world, accepted)
