"""Peers that misbehave: an economy that times out or answers garbage, a robot that never
confirms an add, confirms the wrong uid, or answers `[]` for the playlist.

Both peers are our own fake responders on the session's nats-server, spoken to through the real
adapters (`KrytenEconomy`, `KrytenRobot`), each on a subject of its own. The fakes keep real
state behind the wire: the economy a ledger (idempotent by request id, as kryten-economy is),
the robot a simulated CyTube channel whose changes are reported to the observer as the robot's
events would be. A seeded random schedule decides which call misbehaves and how.

What must hold afterwards: no money lost (per purchase, what the peer's ledger took equals what
our log says was captured, and what it gave back what our log says was refunded; per user, the
balance is what was granted less what was kept), no purchase charged twice or two calls with one
request id in flight at once, none left hanging, and no paid item dropped from the shadow (the
queue shadow projection, tailing the log, holds every purchase that is still queued; none was
cancelled because a misread playlist made it look gone).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from adapters.kryten.economy import KrytenEconomy
from adapters.kryten.robot import KrytenRobot
from adapters.ledger.local_ledger import DEFAULT_PRICING
from adapters.sim.channel import QueueFail, SimulatedChannel
from adapters.sql.projection_store import SqlProjectionStore, sqlite_url
from application.log.ports import ConcurrencyConflict, StoreUnavailable
from application.pay.economy import OutcomeUnknown, payment_key
from application.pay.flow import PayFlowConfig
from application.projections.runner import ProjectionRunner
from application.queue.shadow import QueueShadowProjection
from application.queue.view import QueueQueries
from domain.errors import Rejected
from domain.media import Media
from domain.queue.commands import ObservePlaylist
from domain.queue.state import QueueState
from tests.integration.pay.pay_world import PayWorld
from tests.integration.pay.test_money_conservation import audit

CONFIG = PayFlowConfig(
    add_delay_sec=0.5,
    add_retries=3,
    confirm_timeout_sec=8.0,
    move_retries=2,
    retry_delay_sec=0.5,
    retry_delay_max_sec=4.0,
)
PEER_TIMEOUT = 0.25  # real seconds either adapter waits for a reply
QUIET_WITHIN = 120.0  # a hang detector: the tests take seconds


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


def subject(kind: str) -> str:
    return f"t{uuid.uuid4().hex[:10]}.{kind}.command"


class Responder:
    """Answers each request in a task of its own, so it never serialises the client's calls:
    whatever overlap the client lets through, it sees."""

    def __init__(self, nc: Client, subject: str) -> None:
        self.nc, self.subject = nc, subject
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.nc.subscribe(self.subject, cb=self._received)

    async def _received(self, msg: Msg) -> None:
        task = asyncio.create_task(self.handle(msg))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def handle(self, msg: Msg) -> None:
        raise NotImplementedError

    @staticmethod
    async def reply(msg: Msg, body: bytes | dict[str, Any]) -> None:
        await msg.respond(body if isinstance(body, bytes) else json.dumps(body).encode())


# ---- the economy ---------------------------------------------------------------------------

GARBAGE: tuple[bytes | dict[str, Any], ...] = (
    b"\x00{not json",
    {"success": True},  # no data
    {"success": True, "data": {"success": "yes"}},  # wrong type
    {"success": True, "data": {"success": True}},  # a spend without cost_z
    {"success": True, "data": [1, 2, 3]},
)


class FakeKrytenEconomy(Responder):
    """kryten-economy's wire over a ledger of its own. Faults: `silent_before` (no reply, nothing
    done), `silent_after` (done, the reply lost), `garbage_before` / `garbage_after` (an
    unreadable reply), `refused` (outer `success: false`: the request itself refused, nothing
    done)."""

    FAULTS = ("silent_before", "silent_after", "garbage_before", "garbage_after", "refused")

    def __init__(self, nc: Client, rng: random.Random, p_fault: float) -> None:
        super().__init__(nc, subject("economy"))
        self.rng, self.p_fault = rng, p_fault
        self.balance: dict[str, int] = defaultdict(int)
        self.spent: dict[str, tuple[str, int]] = {}
        self.declined: dict[str, int] = {}
        self.refunded: dict[str, int] = {}
        self.faults = Counter[str]()
        self._per_id = Counter[str]()
        self.max_per_id = Counter[str]()

    def _spend(self, r: dict[str, Any]) -> dict[str, Any]:
        rid, user = r["request_id"], r["username"].lower()
        if rid in self.spent:
            return {"success": True, "cost_z": self.spent[rid][1], "idempotent_replay": True}
        cost = DEFAULT_PRICING.cost_for(r["duration_sec"])
        if rid in self.declined or self.balance[user] < cost:
            self.declined[rid] = cost
            return {"success": False, "error_code": "insufficient_balance", "cost_z": cost}
        self.balance[user] -= cost
        self.spent[rid] = (user, cost)
        return {"success": True, "cost_z": cost, "new_balance": self.balance[user]}

    def _refund(self, r: dict[str, Any]) -> dict[str, Any]:
        rid = r["request_id"]
        if rid not in self.spent:
            return {"success": False, "error_code": "unknown_request_id"}
        if rid in self.refunded:
            return {"success": True, "refunded": self.refunded[rid], "idempotent_replay": True}
        user, cost = self.spent[rid]
        self.balance[user] += cost
        self.refunded[rid] = cost
        return {"success": True, "refunded": cost, "new_balance": self.balance[user]}

    def _apply(self, r: dict[str, Any]) -> dict[str, Any]:
        command = r["command"]
        if command == "spending.queue":
            return self._spend(r)
        if command == "spending.queue_refund":
            return self._refund(r)
        if command == "balance.get":
            return {"found": True, "balance": self.balance[r["username"].lower()]}
        cost = DEFAULT_PRICING.cost_for(r["duration_sec"])
        return {"available": self.balance[r["username"].lower()] >= cost, "cost_z": cost}

    async def handle(self, msg: Msg) -> None:
        r = json.loads(msg.data)
        rid = str(r.get("request_id", ""))
        self._per_id[rid] += 1
        self.max_per_id[rid] = max(self.max_per_id[rid], self._per_id[rid])
        try:
            await asyncio.sleep(0.002)  # long enough for a second call to overlap
            fault = self.rng.choice(self.FAULTS) if self.rng.random() < self.p_fault else None
            if fault is not None:
                self.faults[f"{r['command']}:{fault}"] += 1
            if fault == "refused":
                await self.reply(msg, {"success": False, "error": "malformed request"})
                return
            if fault == "silent_before":
                return
            if fault == "garbage_before":
                await self.reply(msg, self.rng.choice(GARBAGE))
                return
            data = self._apply(r)
            if fault == "silent_after":
                return
            if fault == "garbage_after":
                await self.reply(msg, self.rng.choice(GARBAGE))
                return
            body = {"service": "economy", "command": r["command"], "success": True, "data": data}
            await self.reply(msg, body)
        finally:
            self._per_id[rid] -= 1


# ---- the robot ---------------------------------------------------------------------------


def wire(item: Any) -> dict[str, Any]:
    m = item.media
    return {
        "media": {"id": m.id, "type": m.type, "title": m.title, "seconds": m.duration_sec},
        "uid": item.uid,
        "temp": item.temp,
        "queueby": item.queued_by,
    }


class FakeRobot(Responder):
    """Kryten-Robot's command wire over a simulated channel (which reports each change to the
    observer, as the robot's events do). CyTube learns a media's title and length itself, so
    adds are looked up in `catalog`. Faults, drawn per call: an add that happens but is never
    confirmed (no reply), confirmed with another item's uid, or refused by the robot before it
    did anything; a playlist read answered `[]` (the robot's failed KV read); a move that is
    never answered and never done."""

    def __init__(self, nc: Client, sim: SimulatedChannel, rng: random.Random) -> None:
        super().__init__(nc, subject("robot"))
        self.sim, self.rng = sim, rng
        self.catalog: dict[str, Media] = {}
        self.faults = Counter[str]()

    def _fault(self, name: str, p: float) -> bool:
        if self.rng.random() < p:
            self.faults[name] += 1
            return True
        return False

    async def handle(self, msg: Msg) -> None:
        r = json.loads(msg.data)
        command, args = r["command"], r["args"]

        async def ran(data: Any) -> None:
            await self.reply(
                msg, {"service": "robot", "command": command, "success": True, "data": data}
            )

        if command == "addvideo":
            if self._fault("add_refused_by_robot", 0.1):
                await self.reply(
                    msg, {"service": "robot", "command": command, "success": False, "error": "x"}
                )
                return
            media = self.catalog[args["id"]]
            try:
                uid = await self.sim.add(media, args["pos"], args["temp"], "KrytenBot")
            except QueueFail as fail:
                await ran({"success": False, "queue_fail": {"msg": fail.msg}})
                return
            if self._fault("add_never_confirmed", 0.2):
                return
            if self._fault("add_confirmed_with_wrong_uid", 0.2):
                others = [i.uid for i in self.sim.playlist() if i.uid != uid]
                uid = self.rng.choice(others) if others else uid + 1000
            await ran({"success": True, "uid": uid})
        elif command == "state.playlist":
            if self._fault("playlist_read_empty", 0.6):
                await ran([])
                return
            await ran([wire(i) for i in self.sim.playlist()])
        elif command == "mvvideo":
            if self._fault("move_never_answered", 0.15):
                return
            await self.sim.move(args["from"], args["after"])
            await ran({"success": True})
        elif command == "rmvideo":
            await self.sim.delete(args["uid"])
            await ran({"success": True})
        elif command == "state.user":
            user = self.sim.user(r["username"])
            if user is None:
                await ran({"user": None})
            else:
                await ran(
                    {"user": {"name": user.name, "rank": user.rank, "meta": {"afk": user.afk}}}
                )
        else:
            await ran({"success": True})


# ---- driving and auditing ------------------------------------------------------------------


class Shadow:
    """The queue shadow projection over SQLite, tailing the world's log."""

    def __init__(self, world: PayWorld, tmp_path: Path) -> None:
        self.world = world
        self.store = SqlProjectionStore(sqlite_url(tmp_path / "read.db"))
        self.runner: ProjectionRunner | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.store.prepare()
        self.runner = ProjectionRunner(self.world.store, self.store, QueueShadowProjection())
        self.task = asyncio.create_task(self.runner.run())

    async def caught_up(self) -> None:
        assert self.runner is not None
        head = await self.world.store.head()
        deadline = time.monotonic() + 30
        while self.runner.position < head:
            assert time.monotonic() < deadline, "the shadow never caught up"
            await asyncio.sleep(0.01)

    async def queued_request_ids(self) -> set[str]:
        view = await QueueQueries(self.store, self.world.clock).queue("lobby")
        items = list(view.items)
        if view.now_playing is not None and view.now_playing.item is not None:
            items.append(view.now_playing.item)
        return {i.pay.request_id for i in items if i.pay is not None}

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        await self.store.close()


def never_drops(world: PayWorld, dropped: list[str]) -> Callable[[], Any]:
    """A watcher: a purchase in place whose item left the aggregate's queue, while its media is
    still on the channel, is a paid item dropped from the shadow."""

    async def watch() -> None:
        while True:
            state: QueueState = await world.state()
            on_channel = {i.media.key for i in world.sim.playlist()}
            held = {i.item_id for i in state.items}
            for pay in state.pay:
                placed = pay.placement in ("positioned", "playing") and not pay.cancelled
                if placed and pay.item_id not in held and pay.media.key in on_channel:
                    dropped.append(pay.request_id)
            await asyncio.sleep(0.02)

    return watch


async def drive(
    world: PayWorld,
    rng: random.Random,
    users: list[str],
    n: int,
    *,
    catalog: dict[str, Media] | None = None,
    faults: Callable[[], None] | None = None,
    cancel_rate: float = 0.08,
) -> Counter[str]:
    rejected = Counter[str]()
    for i in range(n):
        if faults is not None:
            faults()
        media = Media("yt", f"peer{i}", f"Purchase {i}", rng.choice([45, 90, 600, 1200]))
        if catalog is not None:
            catalog[media.id] = media
        try:
            await world.request(rng.choice(users), media, rng.choice(["queue", "playnext"]))
        except Rejected as exc:
            rejected[exc.code] += 1
        if rng.random() < cancel_rate:  # an admin cancels something now and then
            target = rng.choice([p.request_id for p in (await world.state()).pay] or ["none"])
            try:
                await world.admin_cancel(target)
                rejected["(admin cancels sent)"] += 1
            except Rejected:
                pass
        await asyncio.sleep(rng.choice([0, 0.005, 0.02]))
    return rejected


async def at_rest(world: PayWorld) -> None:
    def quiet(state: QueueState) -> bool:
        placed = ("positioned", "playing")
        return all(p.finished or (p.placement in placed and not p.cancelled) for p in state.pay)

    await world.until(quiet, "every purchase to come to rest", within=QUIET_WITHIN)


async def check_outcomes(
    world: PayWorld, shadow: Shadow
) -> tuple[dict[str, dict[str, Any]], Counter[str]]:
    """Every purchase settled one way; the kept ones are played or queued in the shadow."""
    await shadow.caught_up()
    requests = await audit(world)
    queued_in_shadow = await shadow.queued_request_ids()
    on_channel = {i.media.id for i in world.sim.playlist()}
    outcomes = Counter[str]()
    for rid, r in requests.items():
        captured, refunded = r.get("captured", 0), r.get("refunded", 0)
        assert not (refunded and r.get("played")), f"{rid} was refunded and played: {r}"
        assert refunded in (0, captured), f"{rid} refunded {refunded} of {captured}"
        if "declined" in r:
            assert captured == 0, r
            outcomes["declined"] += 1
            continue
        if "void" in r:  # cancelled before any spend went out
            assert captured == 0 and not refunded and r.get("cancel"), r
            outcomes["cancelled before payment"] += 1
            continue
        assert captured > 0, f"{rid} never settled its payment: {r}"
        cancel = r.get("cancel")
        assert cancel not in ("removed_in_cytube",), f"{rid}: a paid item was dropped: {r}"
        if refunded:
            outcomes[f"refunded:{cancel}"] += 1
        elif r.get("played"):
            outcomes["played"] += 1
        else:
            assert r.get("positioned") and r["media"] in on_channel, f"{rid} is nowhere: {r}"
            assert rid in queued_in_shadow, f"{rid} is queued but not in the shadow: {r}"
            outcomes["queued"] += 1
    return requests, outcomes


async def test_an_economy_that_times_out_or_answers_garbage_loses_no_money(
    nc: Client, tmp_path: Path
) -> None:
    rng = random.Random(4242)
    fake = FakeKrytenEconomy(nc, random.Random(7), p_fault=0.35)
    await fake.start()
    world = PayWorld(speed=500.0, config=CONFIG)
    world.economy = KrytenEconomy(nc, timeout=PEER_TIMEOUT, subject=fake.subject)
    await world.seed(4)
    users = [f"peer{i}" for i in range(8)]
    granted = {u: rng.choice([0, 300, 1000, 5000]) for u in users}
    for user, amount in granted.items():
        fake.balance[user] = amount
    shadow = Shadow(world, tmp_path)
    await shadow.start()
    world.start_flow()
    playback = asyncio.create_task(world.sim.run())
    started = time.monotonic()
    try:

        def cytube_refuses_now_and_then() -> None:  # refunds, so refunds meet faults too
            if rng.random() < 0.1:
                world.cytube.fail_adds(1, transient=False)

        rejected = await drive(
            world, rng, users, 80, faults=cytube_refuses_now_and_then, cancel_rate=0.15
        )
        await at_rest(world)
        requests, outcomes = await check_outcomes(world, shadow)
    finally:
        await world.stop_flow()
        playback.cancel()
        await asyncio.gather(playback, *fake.tasks, return_exceptions=True)
        await shadow.close()

    # Our log against the economy's own ledger, purchase by purchase.
    kept: Counter[str] = Counter()
    for rid, r in requests.items():
        key = payment_key("lobby", rid, "spend")  # what the economy was sent
        assert fake.max_per_id[key] <= 1, f"two calls for {rid} were in flight at once"
        if "declined" in r or "void" in r:
            assert key not in fake.spent, f"{rid} declined or cancelled here, debited there"
            continue
        assert fake.spent[key][1] == r["captured"], (rid, r, fake.spent[key])
        assert fake.refunded.get(key, 0) == r.get("refunded", 0), (rid, r)
        if not r.get("refunded"):
            kept[r["user"].lower()] += r["captured"]
    made = {payment_key("lobby", rid, "spend") for rid in requests}
    assert set(fake.spent) <= made, "the economy debited a purchase we never made"
    for user in users:
        assert fake.balance[user] == granted[user] - kept[user], user

    spend_faults = sum(v for k, v in fake.faults.items() if k.startswith("spending.queue:"))
    refund_faults = sum(v for k, v in fake.faults.items() if k.startswith("spending.queue_ref"))
    print(
        f"\n{len(requests)} purchases in {time.monotonic() - started:.1f}s; "
        f"outcomes {dict(outcomes)}; rejected {dict(rejected)}; "
        f"economy faults {dict(sorted(fake.faults.items()))}"
    )
    assert spend_faults > 0 and refund_faults > 0
    assert outcomes["declined"] > 0 and any(k.startswith("refunded") for k in outcomes)


async def test_a_robot_that_never_confirms_confirms_wrong_uids_or_reads_empty_drops_nothing(
    nc: Client, tmp_path: Path
) -> None:
    rng = random.Random(9090)
    world = PayWorld(speed=500.0, config=CONFIG)
    fake = FakeRobot(nc, world.sim, random.Random(11))
    await fake.start()
    robot = KrytenRobot(nc, domain="cytu.be", timeout=PEER_TIMEOUT, subject=fake.subject)

    async def resync(channel: str) -> None:  # as bootstrap wires it in Kryten mode
        items = await robot.playlist(channel)
        if items is not None:
            await world.observer.observe(channel, ObservePlaylist(items))

    world.observer.set_desync_hook(resync)
    await world.seed(4)
    users = [f"rob{i}" for i in range(5)]
    for user in users:
        await world.ledger.grant("lobby", user, 20_000, "admin")
    shadow = Shadow(world, tmp_path)
    await shadow.start()
    world.start_flow(cytube=robot)
    playback = asyncio.create_task(world.sim.run())
    dropped: list[str] = []
    watcher = asyncio.create_task(never_drops(world, dropped)())
    started = time.monotonic()
    try:
        rejected = await drive(world, rng, users, 40, catalog=fake.catalog, cancel_rate=0.2)
        # The robot's `playlist []` event after a failed read: held, and the resync it asks
        # for reads `[]` as often as not.
        await world.observer.observe("lobby", ObservePlaylist(()))
        await at_rest(world)
        requests, outcomes = await check_outcomes(world, shadow)
    finally:
        watcher.cancel()
        await world.stop_flow()
        playback.cancel()
        await asyncio.gather(watcher, playback, *fake.tasks, return_exceptions=True)
        await shadow.close()
    assert not dropped, f"paid items dropped from the queue while still on the channel: {dropped}"

    for user in users:
        money = await world.money(user)
        debits = Counter(rid for rid, _ in money["debited"])
        assert all(c == 1 for c in debits.values()), f"{user} charged twice: {debits}"
        refunds = Counter(rid for rid, _ in money["refunded"])
        assert all(c == 1 for c in refunds.values()), f"{user} refunded twice: {refunds}"
        kept = sum(
            r["captured"]
            for r in requests.values()
            if r["user"] == user and r.get("captured") and not r.get("refunded")
        )
        balance = await world.ledger.balance("lobby", user)
        assert balance == 20_000 - kept, (user, balance, kept)
        for rid, amount in money["debited"]:
            assert requests[rid]["captured"] == amount
        for rid, amount in money["refunded"]:
            assert requests[rid].get("refunded") == amount

    print(
        f"\n{len(requests)} purchases in {time.monotonic() - started:.1f}s; "
        f"outcomes {dict(outcomes)}; rejected {dict(rejected)}; "
        f"robot faults {dict(sorted(fake.faults.items()))}"
    )
    for fault in (
        "add_never_confirmed",
        "add_confirmed_with_wrong_uid",
        "add_refused_by_robot",
        "playlist_read_empty",
        "move_never_answered",
    ):
        assert fake.faults[fault] > 0, f"the schedule never produced {fault}"
    assert outcomes["queued"] + outcomes["played"] > 0
    assert any(k.startswith("refunded") for k in outcomes), "no delete went through the robot"


@pytest.mark.parametrize(
    "data", [{"success": True}, {"success": True, "new_balance": 5}, {"success": True, "ok": 1}]
)
async def test_a_refund_reply_that_does_not_say_how_much_is_unknown_not_zero(
    nc: Client, data: dict[str, Any]
) -> None:
    """Found by the economy test above: such a reply was read as "gave back 0" and recorded as
    the refund, so the buyer never got the money back (or the log and the ledger disagreed)."""
    fake = FakeKrytenEconomy(nc, random.Random(1), p_fault=0.0)
    await fake.start()

    async def answer(msg: Msg) -> None:
        r = json.loads(msg.data)
        await Responder.reply(
            msg, {"service": "economy", "command": r["command"], "success": True, "data": data}
        )

    fake.handle = answer  # type: ignore[method-assign]
    economy = KrytenEconomy(nc, timeout=PEER_TIMEOUT, subject=fake.subject)
    with pytest.raises(OutcomeUnknown):
        await economy.refund("lobby", "ann", "r1", "admin_remove")


# ---- the log itself: unreachable, or too busy, right after the money was taken ------------


class SulkyLog:
    """The world's log as the pay flow's handler sees it: it refuses the next `n` attempts to
    record a captured payment, raising `error()`, then behaves. (The wallet is debited by then.)"""

    def __init__(self, inner: Any, n: int, error: Callable[[Any], Exception]) -> None:
        self.inner, self.left, self.error = inner, n, error
        self.refused = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def append(self, commit: Any, expected_position: int) -> Any:
        captured = any(type(e).__name__ == "PaymentCaptured" for e in commit.events)
        if captured and self.left > 0:
            self.left -= 1
            self.refused += 1
            raise self.error(commit)
        return await self.inner.append(commit, expected_position)


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(lambda c: StoreUnavailable("the log did not answer"), id="unreachable"),
        # More refusals in a row than the command handler retries: as a burst of writers did
        # to a purchase after the kill -9 restart (test_fault_kill9_burst), which then stayed
        # "paying", its money taken, until the next restart.
        pytest.param(lambda c: ConcurrencyConflict(c.stream, 0), id="too_busy"),
    ],
)
async def test_a_log_that_refuses_the_capture_for_a_while_strands_no_purchase(
    error: Callable[[Any], Exception],
) -> None:
    world = PayWorld(speed=500.0, config=CONFIG)
    await world.seed(3)
    await world.ledger.grant("lobby", "ann", 1000, "admin")
    log = SulkyLog(world.store, 20, error)
    world.start_flow(store=log)  # type: ignore[arg-type]
    try:
        rid, _ = await world.request("ann", Media("yt", "sulky1", "Sulky", 300))
        state = await world.settled(rid, within=30)
    finally:
        await world.stop_flow()
    pay = state.pay_item(rid)
    assert pay is not None and pay.payment == "captured", pay
    assert pay.placement in ("positioned", "playing"), pay
    assert log.refused == 20
    assert await world.money("ann") == {"debited": [(rid, 250)], "refunded": []}
