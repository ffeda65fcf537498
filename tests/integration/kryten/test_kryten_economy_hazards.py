"""KrytenEconomy against a misbehaving economy: our own fake responder on a real nats-server.

The fake answers on a subject of its own (KrytenEconomy's `subject` parameter) rather than on
`kryten.economy.command`, because the contract suite may have the real kryten-economy listening on
that subject on the same session server: two responders would race to answer.

The fake handles every request in a task of its own, so it never serialises requests by itself
(nats-py runs a subscription's callbacks one at a time): any overlap the client lets through, it
sees.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from adapters.kryten.economy import KrytenEconomy
from application.pay.economy import (
    EconomyUnavailable,
    OutcomeUnknown,
    Quote,
    RefundOutcome,
    SpendOutcome,
)

CHANNEL = "Movie Night"
TIMEOUT = 0.3

Answer = Callable[[dict[str, Any]], bytes | dict[str, Any] | None]


def ok(command: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"service": "economy", "command": command, "success": True, "data": data}


def spent(request: dict[str, Any]) -> dict[str, Any]:
    data = {"success": True, "cost_z": 2450, "tier": request["tier"], "new_balance": 7550}
    return ok("spending.queue", data | {"request_id": request["request_id"]})


def answering(data: dict[str, dict[str, Any]]) -> Answer:
    """Answer each command with its data; a spend not listed succeeds as `spent` says."""

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        command = request["command"]
        if command == "spending.queue" and command not in data:
            return spent(request)
        return ok(command, data[command])

    return answer


class FakeEconomy:
    def __init__(self, nc: Client, subject: str) -> None:
        self._nc = nc
        self.subject = subject
        self.answer: Answer = lambda request: None  # None: stay silent
        self.delay = 0.0
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._per_id: Counter[str] = Counter()
        self.max_per_id: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self._nc.subscribe(self.subject, cb=self._received)

    async def _received(self, msg: Msg) -> None:
        task = asyncio.create_task(self._handle(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, msg: Msg) -> None:
        request = json.loads(msg.data)
        self.requests.append(request)
        rid = str(request.get("request_id", ""))
        self.in_flight += 1
        self._per_id[rid] += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.max_per_id[rid] = max(self.max_per_id[rid], self._per_id[rid])
        try:
            await asyncio.sleep(self.delay)
            body = self.answer(request)
            if body is not None:
                await msg.respond(body if isinstance(body, bytes) else json.dumps(body).encode())
        finally:
            self.in_flight -= 1
            self._per_id[rid] -= 1


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


@pytest.fixture
async def fake(nc: Client) -> FakeEconomy:
    economy = FakeEconomy(nc, f"t{uuid.uuid4().hex[:10]}.economy.command")
    await economy.start()
    return economy


@pytest.fixture
def economy(nc: Client, fake: FakeEconomy) -> KrytenEconomy:
    return KrytenEconomy(nc, timeout=TIMEOUT, subject=fake.subject)


async def test_requests_are_flat_envelopes(fake: FakeEconomy, economy: KrytenEconomy) -> None:
    fake.answer = answering(
        {
            "spending.queue_preview": {"available": True, "cost_z": 3},
            "spending.queue_refund": {"success": True, "refunded": 2450},
            "balance.get": {"found": True, "balance": 5},
        }
    )
    await economy.preview(CHANNEL, "Ann", 600, "playnext")
    await economy.spend(CHANNEL, "Ann", 600, "queue", "r1")
    await economy.refund(CHANNEL, "Ann", "r1", "add_failed")
    await economy.balance(CHANNEL, "Ann")
    common = {"channel": CHANNEL, "username": "Ann"}
    assert fake.requests == [
        {"command": "spending.queue_preview", **common, "duration_sec": 600, "tier": "playnext"},
        {
            "command": "spending.queue",
            **common,
            "duration_sec": 600,
            "tier": "queue",
            "request_id": "r1",
        },
        {"command": "spending.queue_refund", **common, "request_id": "r1", "reason": "add_failed"},
        {"command": "balance.get", **common},
    ]


async def test_replies_are_read_with_the_reported_cost(
    fake: FakeEconomy, economy: KrytenEconomy
) -> None:
    fake.answer = answering(
        {
            "spending.queue_preview": {
                "available": True,
                "cost_z": 2450,
                "base_cost": 2500,
                "error_code": None,
                "extra": [1],
            },
            "spending.queue_refund": {"success": True, "refunded": 2450, "new_balance": 10000},
            "balance.get": {"found": True, "balance": 7550, "rank_name": "Grip"},
        }
    )
    assert await economy.preview(CHANNEL, "ann", 600, "queue") == Quote(True, 2450)
    assert await economy.spend(CHANNEL, "ann", 600, "queue", "r1") == SpendOutcome(True, 2450, 7550)
    assert await economy.refund(CHANNEL, "ann", "r1", "x") == RefundOutcome(True, 2450, 10000)
    assert await economy.balance(CHANNEL, "ann") == 7550


async def test_a_user_the_economy_never_saw_has_nothing(
    fake: FakeEconomy, economy: KrytenEconomy
) -> None:
    fake.answer = lambda r: ok(r["command"], {"found": False})
    assert await economy.balance(CHANNEL, "ann") == 0


async def test_an_outer_failure_is_an_unavailable_economy(
    fake: FakeEconomy, economy: KrytenEconomy
) -> None:
    fake.answer = lambda r: {
        "service": "economy",
        "command": r["command"],
        "success": False,
        "error": "duration_sec must be positive",
    }
    with pytest.raises(EconomyUnavailable, match="duration_sec must be positive"):
        await economy.spend(CHANNEL, "ann", 600, "queue", "r1")
    with pytest.raises(EconomyUnavailable):
        await economy.refund(CHANNEL, "ann", "r1", "x")
    with pytest.raises(EconomyUnavailable):
        await economy.preview(CHANNEL, "ann", 600, "queue")
    with pytest.raises(EconomyUnavailable):
        await economy.balance(CHANNEL, "ann")


@pytest.mark.parametrize(
    "code", ["insufficient_balance", "cooldown_active", "daily_limit_reached", "blackout_active"]
)
async def test_a_business_failure_inside_a_successful_reply_is_a_refusal(
    fake: FakeEconomy, economy: KrytenEconomy, code: str
) -> None:
    fake.answer = answering(
        {
            "spending.queue": {"success": False, "cost_z": 2450, "error_code": code},
            "spending.queue_preview": {
                "available": False,
                "cost_z": 2450,
                "error_code": code,
                "daily_remaining": 0,
            },
        }
    )
    out = await economy.spend(CHANNEL, "ann", 600, "queue", "r1")
    assert (out.ok, out.cost, out.error_code) == (False, 2450, code)
    assert out.message
    quote = await economy.preview(CHANNEL, "ann", 600, "queue")
    assert (quote.available, quote.cost, quote.error_code) == (False, 2450, code)
    assert quote.message


async def test_an_unknown_refund_id_is_a_refusal(fake: FakeEconomy, economy: KrytenEconomy) -> None:
    fake.answer = lambda r: ok(r["command"], {"success": False, "error": "unknown_request_id"})
    out = await economy.refund(CHANNEL, "ann", "r404", "add_failed")
    assert out == RefundOutcome(ok=False, refunded=0, error_code="unknown_request_id")


async def test_silence_leaves_money_moves_unknown_and_reads_unavailable(
    fake: FakeEconomy, economy: KrytenEconomy
) -> None:
    fake.answer = lambda r: None
    with pytest.raises(OutcomeUnknown):
        await economy.spend(CHANNEL, "ann", 600, "queue", "r1")
    with pytest.raises(OutcomeUnknown):
        await economy.refund(CHANNEL, "ann", "r1", "add_failed")
    with pytest.raises(EconomyUnavailable):
        await economy.preview(CHANNEL, "ann", 600, "queue")
    with pytest.raises(EconomyUnavailable):
        await economy.balance(CHANNEL, "ann")
    assert len(fake.requests) == 4  # every one of them did go out
    assert economy.pending_request_ids == frozenset()


async def test_no_responder_is_an_unavailable_economy(nc: Client) -> None:
    economy = KrytenEconomy(nc, timeout=TIMEOUT, subject=f"t{uuid.uuid4().hex}.nobody")
    with pytest.raises(EconomyUnavailable):
        await economy.spend(CHANNEL, "ann", 600, "queue", "r1")
    with pytest.raises(EconomyUnavailable):
        await economy.refund(CHANNEL, "ann", "r1", "x")
    with pytest.raises(EconomyUnavailable):
        await economy.preview(CHANNEL, "ann", 600, "queue")
    with pytest.raises(EconomyUnavailable):
        await economy.balance(CHANNEL, "ann")


GARBAGE: list[bytes | dict[str, Any]] = [
    b"not json at all",
    b"",
    {"error": "Internal error"},  # kryten-py's own answer when a handler blew up
    {"success": "yes", "data": {}},
    {"success": True},
    {"success": True, "data": None},
    {"success": True, "data": []},
    {"success": True, "data": {"success": True, "cost_z": "lots", "available": "maybe"}},
    {"success": True, "data": {"success": True, "cost_z": 1.5, "refunded": 1.5, "balance": 1.5}},
    {"success": True, "data": {"success": True, "balance": True}},
]


@pytest.mark.parametrize("reply", GARBAGE)
async def test_a_garbage_reply_is_unknown_for_money_and_unavailable_for_reads(
    fake: FakeEconomy, economy: KrytenEconomy, reply: bytes | dict[str, Any]
) -> None:
    fake.answer = lambda r: reply
    with pytest.raises(OutcomeUnknown):
        await economy.spend(CHANNEL, "ann", 600, "queue", "r1")
    with pytest.raises(EconomyUnavailable):
        await economy.preview(CHANNEL, "ann", 600, "queue")
    with pytest.raises(EconomyUnavailable):
        await economy.balance(CHANNEL, "ann")


@pytest.mark.parametrize(
    "reply",
    [
        b"{",
        {"success": True, "data": {"success": True, "refunded": "all"}},
        {"success": True, "data": {"refunded": 10}},
    ],
)
async def test_a_garbage_refund_reply_is_unknown(
    fake: FakeEconomy, economy: KrytenEconomy, reply: bytes | dict[str, Any]
) -> None:
    fake.answer = lambda r: reply
    with pytest.raises(OutcomeUnknown):
        await economy.refund(CHANNEL, "ann", "r1", "add_failed")


async def test_a_success_without_a_cost_is_unknown(
    fake: FakeEconomy, economy: KrytenEconomy
) -> None:
    fake.answer = lambda r: ok(r["command"], {"success": True, "new_balance": 5})
    with pytest.raises(OutcomeUnknown):
        await economy.spend(CHANNEL, "ann", 600, "queue", "r1")


async def test_one_request_id_reaches_the_economy_one_call_at_a_time(
    fake: FakeEconomy, economy: KrytenEconomy
) -> None:
    fake.delay = 0.1
    fake.answer = spent
    outcomes = await asyncio.gather(
        economy.spend(CHANNEL, "ann", 600, "queue", "r1"),
        economy.spend(CHANNEL, "ann", 600, "queue", "r1"),
        economy.refund(CHANNEL, "ann", "r1", "add_failed"),
        economy.spend(CHANNEL, "ann", 600, "queue", "r1"),
        return_exceptions=True,
    )
    assert len(fake.requests) == 4
    assert fake.max_per_id["r1"] == 1
    assert outcomes[0] == outcomes[1] == outcomes[3] == SpendOutcome(True, 2450, 7550)
    assert economy.pending_request_ids == frozenset()


async def test_different_request_ids_do_not_wait_for_each_other(
    fake: FakeEconomy, economy: KrytenEconomy
) -> None:
    """The fake can see overlap: so the test above would fail if the client let it through."""
    fake.delay = 0.1
    fake.answer = spent
    await asyncio.gather(*(economy.spend(CHANNEL, "ann", 600, "queue", f"r{i}") for i in range(3)))
    assert fake.max_in_flight == 3
    assert dict(fake.max_per_id) == {"r0": 1, "r1": 1, "r2": 1}


async def test_a_timed_out_spend_does_not_hold_its_request_id(
    fake: FakeEconomy, economy: KrytenEconomy
) -> None:
    answers = iter([None, "reply"])
    fake.answer = lambda r: spent(r) if next(answers) else None
    waiting = asyncio.create_task(economy.spend(CHANNEL, "ann", 600, "queue", "r1"))
    await asyncio.sleep(0)
    retry = asyncio.create_task(economy.spend(CHANNEL, "ann", 600, "queue", "r1"))
    await asyncio.sleep(TIMEOUT / 2)
    assert len(fake.requests) == 1  # the retry waits for the first call's answer or its timeout
    assert economy.pending_request_ids == {"r1"}
    with pytest.raises(OutcomeUnknown):
        await waiting
    assert await retry == SpendOutcome(True, 2450, 7550)
    assert len(fake.requests) == 2
    assert economy.pending_request_ids == frozenset()
