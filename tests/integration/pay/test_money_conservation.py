"""Money is conserved: 1,000 random purchases through the simulator with faults injected.

The faults: CyTube's (refused, lost and unconfirmed adds, lost moves), the economy's (timeouts
before and after the call), restarts of the flow, request ids used again (for other media, by
other users), lengths lied about, purchases cancelled right after they were made (before their
spend, or racing it), cancels racing play, and lied-about items CyTube starts at once (before
their length is priced) for a buyer who cannot pay the difference, which must be skipped and
refunded in full. Each is counted, with a lower bound. The verdict is
the money audit's (`application.pay.audit`, what `webqueue audit` runs) over the whole log: per
purchase and per user, captured = refunded + kept and the wallet agrees; none captured or
refunded twice, none played and refunded, none stuck.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter, defaultdict
from typing import Any

from adapters.sim.channel import SimulatedChannel
from adapters.sim.cytube import SimCytube
from application.cytube.port import AddOutcome, AddPosition
from application.log.streams import queue_stream
from application.pay.audit import audit_commits
from application.pay.economy import (
    Economy,
    OutcomeUnknown,
    Quote,
    RefundOutcome,
    SpendOutcome,
    Tier,
)
from application.pay.flow import PayFlowConfig
from application.rules.service import RulesService
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
from domain.rules.config import BlockedMedia, BlockedUser, RequestRefusedByRule, RulesConfig
from tests.integration.pay.pay_world import PayWorld

REQUESTS = 1000
PLAYED = 50
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

    async def top_up(self, channel: str, user: str, amount: int, request_id: str) -> SpendOutcome:
        return await self._flaky(  # type: ignore[no-any-return]
            "top_up", lambda: self.inner.top_up(channel, user, amount, request_id)
        )

    async def balance(self, channel: str, user: str) -> int:
        return await self.inner.balance(channel, user)


class StartsAtOnce(SimCytube):
    """The simulator's CyTube, except that the media in `at_once` starts the moment it lands
    (as on an empty playlist, or an admin jumping to it): before the flow can price it."""

    def __init__(self, sim: SimulatedChannel) -> None:
        super().__init__({"lobby": sim})
        self.sim = sim
        self.at_once: set[str] = set()
        self.started = 0

    async def add(self, channel: str, media: Media, pos: AddPosition, temp: bool) -> AddOutcome:
        outcome = await super().add(channel, media, pos, temp)
        if outcome.ok and media.id in self.at_once:
            uid = next((i.uid for i in self.sim.playlist() if i.media.id == media.id), None)
            if uid is not None:
                self.at_once.discard(media.id)
                await self.sim.jump(uid)
                self.started += 1
        return outcome


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
    at_once = StartsAtOnce(world.sim)
    world.cytube = world.cytube_port = at_once
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
    made: list[str] = []
    started = time.monotonic()
    try:
        for n in range(REQUESTS):
            inject_cytube_fault(world, rng, faults)
            hint = rng.choice([45, 90, 600, 1200])
            if rng.random() < 0.15:  # the buyer lies: CyTube knows it is longer
                world.sim.know_media("yt", f"m{n}", f"Purchase {n}", rng.choice([1800, 4000]))
                hint = 60
                faults["lying_duration"] += 1
            media = Media("yt", f"m{n}", "", hint)
            tier = rng.choice(["queue", "queue", "playnext"])
            user = rng.choice(USERS)
            try:
                made.append(await world.buy(user, media, tier))
            except Rejected as exc:
                rejected[exc.code] += 1
            if made and rng.random() < 0.05:  # an old id again, for anything, by anyone
                old = rng.choice(made)
                other = Media("yt", f"reuse{n}", "", rng.choice([60, 5000]))
                try:
                    await world.buy(rng.choice(USERS), other, "playnext", request_id=old)
                    raise AssertionError(f"request id {old} was accepted twice")
                except Rejected as exc:
                    assert exc.code == "request_id_used", exc
                    faults["request_id_reused"] += 1
            if made and rng.random() < 0.04:  # cancelled at once: before its spend, or racing it
                try:
                    await world.admin_cancel(made[-1])
                    faults["cancel_right_after_request"] += 1
                except Rejected:
                    pass
            if rng.random() < 0.05:
                target = f"r{rng.randint(1, n + 1)}"
                try:
                    await world.admin_cancel(target)
                    faults["admin_cancel"] += 1
                except Rejected:
                    pass
            if rng.random() < 0.03:  # a cancel that races play: cancelled, then jumped to
                placed = [
                    p
                    for p in (await world.state()).pay
                    if p.placement == "positioned" and not p.cancelled and p.item_id
                ]
                if placed:
                    target_pay = rng.choice(placed)
                    item = (await world.state()).by_id(target_pay.item_id or "")
                    try:
                        await world.admin_cancel(target_pay.request_id)
                        if item is not None:
                            await world.sim.jump(item.uid)
                        faults["cancel_racing_play"] += 1
                    except Rejected:
                        pass
            if n % 125 == 60:  # a buyer with just the hint's price; CyTube starts it at once
                pauper, lied = f"pauper{n}", f"atonce{n}"
                await world.ledger.grant("lobby", pauper, 250, "admin")
                world.sim.know_media("yt", lied, f"At once {n}", 1800)
                at_once.at_once.add(lied)
                try:
                    made.append(await world.buy(pauper, Media("yt", lied, "", 60), "queue"))
                    faults["started_before_priced"] += 1
                except Rejected as exc:
                    rejected[exc.code] += 1
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
        # How many have played by now depends on how fast this machine ran the loop; let the
        # playlist play on until enough have, so the played bound below is not a timing bet.
        deadline = time.monotonic() + 180

        def kept_and_played(requests: dict[str, Any]) -> int:  # a skipped one started, too
            return sum(1 for v in requests.values() if v.get("played") and not v.get("refunded"))

        while kept_and_played(await audit(world)) <= PLAYED:
            assert time.monotonic() < deadline, "the paid items never played"
            await asyncio.sleep(0.2)
        await world.until(quiet, "every purchase to come to rest", within=180)
    finally:
        await world.stop_flow()
        playback.cancel()
        await asyncio.gather(playback, return_exceptions=True)

    # The same audit `webqueue audit` runs, over the whole log.
    report = audit_commits("lobby", [c async for c in world.store.read_all()], world.clock.now())
    assert report.ok, report.findings[:20]
    assert report.wallet_in_log

    requests = await audit(world)
    on_playlist = {i.media.id for i in world.sim.playlist()}
    outcomes = Counter[str]()
    for rid, r in requests.items():
        captured, refunded = r.get("captured", 0), r.get("refunded", 0)
        if "declined" in r:
            outcomes["declined"] += 1
            continue
        if "void" in r:
            outcomes["cancelled before payment"] += 1
            continue
        assert captured > 0, f"{rid} never settled its payment: {r}"
        if refunded:
            outcomes[f"refunded:{r.get('cancel')}"] += 1
        else:
            queued = r.get("positioned") and r["media"] in on_playlist
            assert r.get("played") or queued, f"{rid} kept its money but is nowhere: {r}"
            outcomes["played" if r.get("played") else "queued"] += 1
    for p in report.purchases.values():
        if p.price is not None and p.price > 250 and p.kept:
            outcomes["kept at CyTube's price"] += 1
        if (
            p.played
            and p.status == "played"
            and any(r.get("cancel") for rid, r in requests.items() if rid == p.request_id)
        ):
            outcomes["cancel lost to play"] += 1

    skipped = [p for p in report.purchases.values() if p.skipped]
    outcomes["skipped underpaid"] = len(skipped)
    assert all(p.status == "refunded" and p.refunded == p.captured for p in skipped), skipped
    assert not any(p.owed and not p.skipped for p in report.purchases.values())

    took = time.monotonic() - started
    print(
        f"\n{len(requests)} purchases in {took:.1f}s; outcomes {dict(outcomes)}; "
        f"rejected {dict(rejected)}; faults {dict(faults)}; economy {dict(economy.timeouts)}"
    )
    assert len(requests) >= 0.8 * REQUESTS
    assert outcomes["played"] > PLAYED and outcomes["declined"] > 10
    assert sum(v for k, v in outcomes.items() if k.startswith("refunded")) > 20
    # The faults this test exists for happened, and often enough to mean something.
    assert faults["request_id_reused"] >= 30, faults
    assert faults["lying_duration"] >= 100, faults
    assert faults["cancel_right_after_request"] >= 20, faults
    assert faults["cancel_racing_play"] >= 5, faults
    assert faults["started_before_priced"] == 8 and at_once.started >= 6, (faults, at_once.started)
    assert outcomes["skipped underpaid"] >= 5, outcomes
    assert outcomes["cancelled before payment"] >= 5, outcomes
    assert outcomes["refunded:underpaid"] >= 5, outcomes
    assert outcomes["kept at CyTube's price"] >= 5, outcomes
    assert outcomes["cancel lost to play"] >= 3, outcomes


RULED = 400


async def test_money_is_conserved_with_the_request_rules_on() -> None:
    """Every rule on, fair order too, viewers buying as fast as they can (media repeated, some
    blocked, a blocked buyer): a refusal by rule never takes money (no claim, no purchase, no
    spend: nothing in the queue's log names its request id) and the audit still balances."""
    rng = random.Random(20261202)
    world = PayWorld(speed=500.0, config=PayFlowConfig(add_delay_sec=0.5, retry_delay_sec=0.5))
    for i in range(4):
        await world.sim.add(Media("yt", f"content{i}", f"Content {i}", 120))
    users = [*USERS[:8], "troll"]
    for user in users:
        await world.ledger.grant("lobby", user, 20000, "admin")
    rules = RulesConfig(
        max_pending_per_viewer=2,
        min_length_sec=30,
        max_length_sec=1500,
        max_viewer_pending_minutes=25,
        max_queue_pending_minutes=90,
        cooldown_minutes=0.5,
        no_repeat_hours=1,
        blocked_media=(BlockedMedia("yt", "m-blocked", "too loud"),),
        blocked_users=(BlockedUser("troll", "spam"),),
        fair_order=True,
    )

    service = RulesService(world.handler, defaults=rules)
    world.rules = service
    world.economy = FlakyEconomy(world.ledger, rng, p=0.05)
    world.start_flow()
    playback = asyncio.create_task(world.sim.run())
    refused: dict[str, str] = {}
    rejected = Counter[str]()
    made: list[str] = []
    try:
        for n in range(RULED):
            media_id = rng.choice([f"m{n}", f"m{rng.randint(0, 10)}", f"m{n}", "m-blocked"])
            media = Media("yt", media_id, "", rng.choice([10, 90, 600, 1200, 2000]))
            user = rng.choice(users)
            rid = f"ruled{n}"
            try:
                made.append(await world.buy(user, media, rng.choice(["queue", "playnext"]), rid))
            except Rejected as exc:
                rejected[exc.code] += 1
                if exc.code.startswith("rule_"):
                    refused[rid] = exc.code
            if made and rng.random() < 0.05:
                with contextlib.suppress(Rejected):
                    await world.admin_cancel(rng.choice(made))
            await asyncio.sleep(rng.choice([0, 0, 0.01]))

        def quiet(state: Any) -> bool:
            return all(
                p.finished or (not p.cancelled and p.placement in ("positioned", "playing"))
                for p in state.pay
            )

        await world.until(quiet, "every purchase to come to rest", within=180)
    finally:
        await world.stop_flow()
        playback.cancel()
        await asyncio.gather(playback, return_exceptions=True)

    commits = [c async for c in world.store.read_all()]
    report = audit_commits("lobby", commits, world.clock.now())
    assert report.ok, report.findings[:20]
    named = {getattr(e, "request_id", None) for c in commits for e in c.commit.events} | {
        c.commit.correlation_id for c in commits
    }
    assert not named & set(refused), sorted(named & set(refused))[:5]  # refusals take nothing
    logged = Counter(
        e.code for c in commits for e in c.commit.events if isinstance(e, RequestRefusedByRule)
    )
    print(f"\n{len(made)} bought, refused by rule {dict(logged)}, other refusals {dict(rejected)}")
    assert logged == Counter(refused.values())  # the log says which rule refused what
    # The rules every run reaches whatever the timing; a repeat needs an item to have played
    # by then (or to be pending past the queue's own `media_already_pending`), which a loaded
    # machine may not give: it is tested at its edges in tests/unit/rules.
    for code in (
        "rule_user_blocked",
        "rule_media_blocked",
        "rule_too_short",
        "rule_too_long",
        "rule_cooldown",
    ):
        assert logged[code] > 0, (code, logged)
    # Money moved for many: how many depends on how much played meanwhile (30 to 34 seen);
    # 8 viewers with 2 pending each is what the rules allow when nothing has played yet.
    assert len(made) >= 16
