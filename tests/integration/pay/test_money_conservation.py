"""Money is conserved: 1,000 random purchases through the simulator with faults injected.

Per user, from the wallets' own log and the queue's: captured = refunded + the cost of items
queued, playing or played; no purchase both refunded and played; none charged twice; none left
hanging.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, defaultdict
from typing import Any

from application.log.ports import StreamId
from application.log.streams import queue_stream
from application.pay.economy import (
    Economy,
    OutcomeUnknown,
    Quote,
    RefundOutcome,
    SpendOutcome,
    Tier,
)
from application.pay.flow import PayFlowConfig
from domain.errors import Rejected
from domain.media import Media
from domain.queue.pay_model import (
    PayItemCancelled,
    PayItemPlaying,
    PayItemPositioned,
    PayItemRefunded,
    PayItemRequested,
    PaymentCaptured,
    PaymentDeclined,
    PaymentVoided,
)
from domain.wallet.model import RequestDebited, RequestRefunded
from tests.integration.pay.pay_world import PayWorld

REQUESTS = 1000
USERS = [f"user{i}" for i in range(20)]


class FlakyEconomy:
    """Times out before the call (nothing happened) or after it (it did) now and then."""

    def __init__(self, inner: Economy, rng: random.Random, p: float) -> None:
        self.inner, self.rng, self.p = inner, rng, p
        self.timeouts = Counter[str]()

    async def _flaky(self, name: str, call: Any) -> Any:
        roll = self.rng.random()
        if roll < self.p / 2:
            self.timeouts[f"{name}:before"] += 1
            raise OutcomeUnknown("timed out before")
        result = await call()
        if roll < self.p:
            self.timeouts[f"{name}:after"] += 1
            raise OutcomeUnknown("timed out after")
        return result

    async def preview(self, channel: str, user: str, duration_sec: int, tier: Tier) -> Quote:
        return await self.inner.preview(channel, user, duration_sec, tier)

    async def spend(
        self, channel: str, user: str, duration_sec: int, tier: Tier, request_id: str
    ) -> SpendOutcome:
        return await self._flaky(  # type: ignore[no-any-return]
            "spend", lambda: self.inner.spend(channel, user, duration_sec, tier, request_id)
        )

    async def refund(self, channel: str, user: str, request_id: str, reason: str) -> RefundOutcome:
        return await self._flaky(  # type: ignore[no-any-return]
            "refund", lambda: self.inner.refund(channel, user, request_id, reason)
        )

    async def balance(self, channel: str, user: str) -> int:
        return await self.inner.balance(channel, user)


def inject_cytube_fault(world: PayWorld, rng: random.Random, faults: Counter[str]) -> None:
    roll = rng.random()
    if roll < 0.04:
        world.cytube.fail_adds(rng.randint(1, 5), transient=True)
        faults["transient_queue_fail"] += 1
    elif roll < 0.05:
        world.cytube.fail_adds(1, transient=False, error="Media not found")
        faults["permanent_queue_fail"] += 1
    elif roll < 0.08:
        world.cytube.drop_moves(rng.randint(1, 4))
        faults["lost_move"] += 1
    elif roll < 0.10:
        world.cytube.lose_after_add(1)
        faults["lost_add_reply"] += 1
    elif roll < 0.12:
        world.cytube.add_without_uid(1)
        faults["add_without_uid"] += 1
    elif roll < 0.13:
        world.cytube.unavailable(rng.randint(1, 3))
        faults["cytube_unavailable"] += 1


async def audit(world: PayWorld) -> dict[str, Any]:
    requests: dict[str, dict[str, Any]] = defaultdict(dict)
    for stored in await world.store.read_stream(queue_stream("lobby")):
        for e in stored.commit.events:
            if isinstance(e, PayItemRequested):
                requests[e.request_id]["user"] = e.user
                requests[e.request_id]["media"] = e.media.id
            elif isinstance(e, PaymentCaptured):
                requests[e.request_id]["captured"] = e.cost
            elif isinstance(e, PaymentDeclined):
                requests[e.request_id]["declined"] = e.code
            elif isinstance(e, PaymentVoided):
                requests[e.request_id]["void"] = True
            elif isinstance(e, PayItemRefunded):
                requests[e.request_id]["refunded"] = (
                    requests[e.request_id].get("refunded", 0) + e.amount
                )
            elif isinstance(e, PayItemPlaying):
                requests[e.request_id]["played"] = True
            elif isinstance(e, PayItemPositioned):
                requests[e.request_id]["positioned"] = True
            elif isinstance(e, PayItemCancelled):
                requests[e.request_id]["cancel"] = e.reason
    return requests


async def test_money_is_conserved_under_random_faults_and_restarts() -> None:
    rng = random.Random(20261120)
    config = PayFlowConfig(
        add_delay_sec=0.5,
        add_retries=3,
        confirm_timeout_sec=8.0,
        move_retries=2,
        retry_delay_sec=0.5,
        retry_delay_max_sec=4.0,
    )
    world = PayWorld(speed=500.0, config=config)
    for i in range(4):
        await world.sim.add(Media("yt", f"content{i}", f"Content {i}", 120))
    for user in USERS:
        if rng.random() < 0.8:
            await world.ledger.grant("lobby", user, rng.choice([300, 1000, 5000, 20000]), "admin")
    economy = FlakyEconomy(world.ledger, rng, p=0.1)
    world.economy = economy
    world.start_flow()
    playback = asyncio.create_task(world.sim.run())
    faults = Counter[str]()
    rejected = Counter[str]()
    started = time.monotonic()
    try:
        for n in range(REQUESTS):
            inject_cytube_fault(world, rng, faults)
            media = Media("yt", f"m{n}", f"Purchase {n}", rng.choice([45, 90, 600, 1200]))
            tier = rng.choice(["queue", "queue", "playnext"])
            try:
                await world.request(rng.choice(USERS), media, tier)
            except Rejected as exc:
                rejected[exc.code] += 1
            if rng.random() < 0.05:
                target = f"r{rng.randint(1, n + 1)}"
                try:
                    await world.admin_cancel(target)
                    faults["admin_cancel"] += 1
                except Rejected:
                    pass
            if n % 100 == 99:
                await world.stop_flow()
                world.start_flow()
                faults["flow_restart"] += 1
            await asyncio.sleep(rng.choice([0, 0, 0.002]))

        def quiet(state: Any) -> bool:
            return all(
                p.finished or (not p.cancelled and p.placement in ("positioned", "playing"))
                for p in state.pay
            )

        # Pruned (finished) purchases leave the aggregate; the ones left must all be at rest.
        await world.until(quiet, "every purchase to come to rest", within=180)
    finally:
        await world.stop_flow()
        playback.cancel()
        await asyncio.gather(playback, return_exceptions=True)

    requests = await audit(world)
    on_playlist = {i.media.id for i in world.sim.playlist()}
    per_user: dict[str, Counter[str]] = defaultdict(Counter)
    outcomes = Counter[str]()
    for rid, r in requests.items():
        user = r["user"]
        captured, refunded = r.get("captured", 0), r.get("refunded", 0)
        assert not (refunded and r.get("played")), f"{rid} was refunded and played: {r}"
        assert refunded in (0, captured), f"{rid} refunded {refunded} of {captured}"
        if "declined" in r:
            outcomes["declined"] += 1
            assert captured == 0
            continue
        assert captured > 0, f"{rid} never settled its payment: {r}"
        if refunded:
            outcomes[f"refunded:{r.get('cancel')}"] += 1
        else:
            queued = r.get("positioned") and r["media"] in on_playlist
            assert r.get("played") or queued, f"{rid} kept its money but is nowhere: {r}"
            outcomes["played" if r.get("played") else "queued"] += 1
            per_user[user]["kept"] += captured
        per_user[user]["captured"] += captured
        per_user[user]["refunded"] += refunded

    for user in USERS:
        wallet = StreamId("lobby", "wallet", user)
        debits = Counter[str]()
        debited = refunds = 0
        for stored in await world.store.read_stream(wallet):
            for e in stored.commit.events:
                if isinstance(e, RequestDebited):
                    debits[e.request_id] += 1
                    debited += e.amount
                elif isinstance(e, RequestRefunded):
                    refunds += e.amount
        assert all(c == 1 for c in debits.values()), f"{user} charged twice: {debits}"
        book = per_user[user]
        assert debited == book["captured"], f"{user}: wallet debited {debited}, log says {book}"
        assert refunds == book["refunded"], f"{user}: wallet refunded {refunds}, log says {book}"
        assert book["captured"] == book["refunded"] + book["kept"]

    took = time.monotonic() - started
    print(
        f"\n{len(requests)} purchases in {took:.1f}s; outcomes {dict(outcomes)}; "
        f"rejected {dict(rejected)}; faults {dict(faults)}; economy {dict(economy.timeouts)}"
    )
    assert len(requests) >= 0.9 * REQUESTS
    assert (
        outcomes["played"] > 0
        and sum(v for k, v in outcomes.items() if k.startswith("refunded")) > 0
    )
