"""The Economy port over NATS request/reply to kryten-economy (`kryten.economy.command`).

Requests are FLAT: `{"command": NAME, "channel": CHANNEL, ...fields}`. Replies have two layers
and both are checked: an outer `success: false` means the economy refused the request itself
(malformed: nothing happened), while business refusals come back as outer `success: true` with
`data.success: false` (or `data.available: false`) and an `error_code`.

What we cannot know, we do not guess. A spend or refund that timed out, or whose reply we could
not read, may have moved money: it raises `OutcomeUnknown`, and the caller resends the *same*
request id. The economy debits before it records the request id, so two concurrent spends with one
id can both debit: this client never has two calls with the same request id in flight at once.
Prices are read from every reply (`cost_z`), never from a table of our own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, Generic, TypeVar

import msgspec
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from application.pay.economy import (
    TOP_UP_UNSUPPORTED,
    EconomyUnavailable,
    OutcomeUnknown,
    Quote,
    RefundOutcome,
    SpendOutcome,
    Tier,
)

log = logging.getLogger(__name__)

DEFAULT_SUBJECT = "kryten.economy.command"
UNKNOWN_REQUEST_ID = "unknown_request_id"

D = TypeVar("D")

MESSAGES = {
    "insufficient_balance": "Not enough balance for this.",
    "daily_limit_reached": "You have used all of today's paid queues.",
    "cooldown_active": "You queued recently: wait a little before queueing again.",
    "blackout_active": "Paid queueing is closed right now.",
}


def _message(code: str | None, cost: int | None = None) -> str | None:
    if code is None:
        return None
    if code == "insufficient_balance" and cost is not None:
        return f"Not enough balance: this costs {cost:,}."
    return MESSAGES.get(code, f"The economy declined ({code}).")


class _Envelope(msgspec.Struct, Generic[D]):
    success: bool
    data: D | None = None
    error: str | None = None


class _PreviewData(msgspec.Struct):
    available: bool
    cost_z: int
    error_code: str | None = None
    cooldown_remaining_sec: int | None = None


class _SpendData(msgspec.Struct):
    success: bool
    cost_z: int | None = None
    new_balance: int | None = None
    error_code: str | None = None
    error: str | None = None
    idempotent_replay: bool = False


class _RefundData(msgspec.Struct):
    success: bool
    refunded: int | None = None  # required on success: a default would read "gave back 0"
    new_balance: int | None = None
    error_code: str | None = None
    error: str | None = None
    idempotent_replay: bool = False


class _BalanceData(msgspec.Struct):
    found: bool | None = None
    balance: int | None = None


class _Garbage(Exception):
    """A reply we could not read."""


class _InFlight:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class KrytenEconomy:
    def __init__(self, nc: Client, *, timeout: float = 5.0, subject: str = DEFAULT_SUBJECT) -> None:
        self._nc = nc
        self._timeout = timeout
        self._subject = subject
        self._encoder = msgspec.json.Encoder()
        self._decoders: dict[type, msgspec.json.Decoder[Any]] = {}
        self._in_flight: dict[str, _InFlight] = {}

    @property
    def pending_request_ids(self) -> frozenset[str]:
        """Request ids with a spend or refund under way (or waiting for one) from this process."""
        return frozenset(self._in_flight)

    # -- the port ------------------------------------------------------------------------------

    async def preview(self, channel: str, user: str, duration_sec: int, tier: Tier) -> Quote:
        fields = {"username": user, "duration_sec": duration_sec, "tier": tier}
        try:
            data = await self._call(channel, "spending.queue_preview", fields, _PreviewData)
        except (_Garbage, OutcomeUnknown) as exc:
            raise EconomyUnavailable(f"spending.queue_preview: {exc}") from exc
        code = None if data.available else (data.error_code or "unavailable")
        return Quote(
            available=data.available,
            cost=data.cost_z,
            error_code=code,
            message=_message(code, data.cost_z),
        )

    async def spend(
        self, channel: str, user: str, duration_sec: int, tier: Tier, request_id: str
    ) -> SpendOutcome:
        fields = {
            "username": user,
            "duration_sec": duration_sec,
            "tier": tier,
            "request_id": request_id,
        }
        async with self._exclusive(request_id):
            try:
                data = await self._call(channel, "spending.queue", fields, _SpendData)
            except _Garbage as exc:
                raise OutcomeUnknown(f"spending.queue {request_id}: {exc}") from exc
        if data.success:
            if data.cost_z is None:
                raise OutcomeUnknown(f"spending.queue {request_id}: success without cost_z")
            return SpendOutcome(ok=True, cost=data.cost_z, balance=data.new_balance)
        code = data.error_code or data.error or "declined"
        cost = data.cost_z or 0
        return SpendOutcome(
            ok=False,
            cost=cost,
            balance=data.new_balance,
            error_code=code,
            message=_message(code, data.cost_z),
        )

    async def refund(self, channel: str, user: str, request_id: str, reason: str) -> RefundOutcome:
        fields = {"username": user, "request_id": request_id, "reason": reason}
        async with self._exclusive(request_id):
            try:
                data = await self._call(channel, "spending.queue_refund", fields, _RefundData)
            except _Garbage as exc:
                raise OutcomeUnknown(f"spending.queue_refund {request_id}: {exc}") from exc
        if data.success:
            if data.refunded is None:
                raise OutcomeUnknown(
                    f"spending.queue_refund {request_id}: success without refunded"
                )
            return RefundOutcome(ok=True, refunded=data.refunded, balance=data.new_balance)
        code = data.error_code or data.error or "declined"
        message = data.error if data.error and data.error != code else None
        return RefundOutcome(
            ok=False, refunded=0, balance=data.new_balance, error_code=code, message=message
        )

    async def top_up(self, channel: str, user: str, amount: int, request_id: str) -> SpendOutcome:
        """kryten-economy has no idempotent debit of an amount (only `spending.queue`, priced by
        duration and bound by its daily limit and cooldown), so a purchase that proves longer
        than it was priced is taken off and refunded in full instead."""
        return SpendOutcome(
            ok=False,
            cost=amount,
            error_code=TOP_UP_UNSUPPORTED,
            message="The economy cannot charge the difference for a longer item.",
        )

    async def balance(self, channel: str, user: str) -> int:
        try:
            data = await self._call(channel, "balance.get", {"username": user}, _BalanceData)
        except (_Garbage, OutcomeUnknown) as exc:
            raise EconomyUnavailable(f"balance.get: {exc}") from exc
        if data.balance is not None:
            return data.balance
        if data.found is False:  # the economy has never seen this user: nothing to spend
            return 0
        raise EconomyUnavailable("balance.get: reply without a balance")

    # -- the wire ------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _exclusive(self, request_id: str) -> AsyncIterator[None]:
        """One call per request id at a time from this process; the entry goes when unused."""
        entry = self._in_flight.get(request_id)
        if entry is None:
            entry = self._in_flight[request_id] = _InFlight()
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._in_flight[request_id]

    def _decoder(self, data_type: type[D]) -> msgspec.json.Decoder[_Envelope[D]]:
        decoder = self._decoders.get(data_type)
        if decoder is None:
            envelope: Any = _Envelope[data_type]  # type: ignore[valid-type]
            decoder = self._decoders[data_type] = msgspec.json.Decoder(envelope)
        return decoder

    async def _call(
        self, channel: str, command: str, fields: dict[str, Any], data_type: type[D]
    ) -> D:
        """Send one command; its reply's `data`, or EconomyUnavailable, OutcomeUnknown, _Garbage.

        Raises OutcomeUnknown on a timeout (the request went out, the answer did not come back),
        EconomyUnavailable when the request provably did nothing (no responder, not sent, or
        refused by the outer layer), and _Garbage when the reply cannot be read.
        """
        payload = self._encoder.encode({"command": command, "channel": channel, **fields})
        try:
            msg = await self._nc.request(self._subject, payload, timeout=self._timeout)
        except NoRespondersError as exc:
            raise EconomyUnavailable(f"{command}: no economy is listening") from exc
        except (TimeoutError, NatsTimeoutError) as exc:
            raise OutcomeUnknown(f"{command}: no reply within {self._timeout:g} s") from exc
        except NatsError as exc:  # raised before the request left: nothing happened
            raise EconomyUnavailable(f"{command}: {exc}") from exc
        try:
            reply = self._decoder(data_type).decode(msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning("unreadable %s reply: %r (%s)", command, msg.data[:200], exc)
            raise _Garbage(f"unreadable reply ({exc})") from exc
        if not reply.success:
            raise EconomyUnavailable(f"{command} refused: {reply.error or 'no reason given'}")
        if reply.data is None:
            raise _Garbage("reply without data")
        return reply.data
