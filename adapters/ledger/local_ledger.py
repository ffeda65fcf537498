"""The local ledger: the Economy port on our own log, for the embedded default.

Each (channel, user) has a wallet aggregate (`domain.wallet.model`) on
`wq.ev.{channel}.wallet.{user}`.
A spend's command id is derived from its request id (the pay flow's key, `wq/{channel}/{request
id}/spend`), so a spend retried after a crash appends once even if two processes send it; the
answer is read back from the wallet's stored outcome for that key, and then written to the key's
own record (`domain.wallet.keys`), which the ledger asks first: a key is answered the same way
for ever and refunded at most once, even after the wallet has forgotten it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from attrs import field, frozen

from adapters.log.subjects import token
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.ports import StreamId
from application.log.streams import ledger_key_stream
from application.pay.economy import (
    EconomyUnavailable,
    Quote,
    RefundOutcome,
    SpendOutcome,
    Tier,
)
from domain.errors import Rejected
from domain.wallet.keys import KeyRecord, RecordKeyOutcome, RecordKeyRefund, key_decider
from domain.wallet.model import (
    INSUFFICIENT_BALANCE,
    DebitForRequest,
    GrantCredit,
    RefundRequest,
    RequestOutcome,
    WalletState,
    wallet_decider,
)

Tiers = tuple[tuple[int, int], ...]


def _to_tiers(tiers: Iterable[tuple[int, int]]) -> Tiers:
    return tuple((int(max_seconds), int(cost)) for max_seconds, cost in tiers)


def _check_tiers(_: object, __: object, tiers: Tiers) -> None:
    limits = [max_seconds for max_seconds, _cost in tiers]
    if any(limit <= 0 for limit in limits) or limits != sorted(set(limits)):
        raise ValueError("Pricing tiers need positive, strictly increasing max_seconds.")
    if any(cost < 0 for _limit, cost in tiers):
        raise ValueError("Pricing tier costs cannot be negative.")


@frozen
class Pricing:
    """Price by duration: the first tier whose `max_seconds` holds the item, else `longer`."""

    tiers: Tiers = field(
        default=((15 * 60, 250), (35 * 60, 500), (65 * 60, 750)),
        converter=_to_tiers,
        validator=_check_tiers,
    )
    longer: int = 1000

    def cost_for(self, duration_sec: int) -> int:
        if duration_sec <= 0:
            raise ValueError("duration_sec must be positive")
        for max_seconds, cost in self.tiers:
            if duration_sec <= max_seconds:
                return max(1, cost)
        return max(1, self.longer)


DEFAULT_PRICING = Pricing()


def _key(user: str) -> str:
    """Wallets are per user name as CyTube compares them: case-insensitively."""
    return user.strip().lower()


INVALID_USER = "invalid_user"


def _wallet_problem(user: str) -> str | None:
    """Why `user` can have no wallet here, or None. A wallet lives on a subject named after the
    lowercased name, so that name must already be a clean subject token (letters, digits, `_`,
    `-`, as CyTube's own user names are): otherwise "a.b" would share the wallet of "ab", and
    "ü" would have none at all (no subject can be made of it)."""
    key = _key(user)
    try:
        clean = token(key)
    except ValueError:
        clean = ""
    if not key or clean != key:
        return f"{user!r} cannot have a wallet: use letters, digits, '_' and '-' only."
    return None


def _declined_message(code: str | None, cost: int, balance: int) -> str:
    if code == INSUFFICIENT_BALANCE:
        return f"Not enough balance: this costs {cost:,} and you have {balance:,}."
    return "The payment was declined."


class LocalLedger:
    def __init__(self, handler: CommandHandler, *, pricing: Pricing = DEFAULT_PRICING) -> None:
        self._handler = handler
        self._pricing = pricing

    @property
    def pricing(self) -> Pricing:
        return self._pricing

    @staticmethod
    def _stream(channel: str, user: str) -> StreamId:
        return StreamId(channel, wallet_decider.aggregate, _key(user))

    async def _wallet(self, channel: str, user: str) -> WalletState:
        state: WalletState = await self._handler.state(wallet_decider, self._stream(channel, user))
        return state

    def _cost(self, duration_sec: int) -> int:
        try:
            return self._pricing.cost_for(duration_sec)
        except ValueError as exc:
            raise EconomyUnavailable(f"malformed request: {exc}") from exc

    async def grant(
        self, channel: str, user: str, amount: int, by: str, reason: str = "grant"
    ) -> int:
        """Credit a wallet; returns the new balance. Raises Rejected for a non-positive amount
        or a name that cannot have a wallet."""
        problem = _wallet_problem(user)
        if problem is not None:
            raise Rejected(INVALID_USER, problem)
        stream = self._stream(channel, user)
        outcome = await self._handler.handle(
            wallet_decider, stream, GrantCredit(amount, by, reason), CommandMeta.new(actor=by)
        )
        if outcome.events:
            return int(outcome.events[-1].balance)
        return (await self._wallet(channel, user)).balance

    async def preview(self, channel: str, user: str, duration_sec: int, tier: Tier) -> Quote:
        cost = self._cost(duration_sec)
        problem = _wallet_problem(user)
        if problem is not None:
            return Quote(available=False, cost=cost, error_code=INVALID_USER, message=problem)
        balance = (await self._wallet(channel, user)).balance
        if balance >= cost:
            return Quote(available=True, cost=cost, balance=balance)
        return Quote(
            available=False,
            cost=cost,
            error_code=INSUFFICIENT_BALANCE,
            message=_declined_message(INSUFFICIENT_BALANCE, cost, balance),
            balance=balance,
        )

    async def _record(self, channel: str, key: str) -> KeyRecord:
        record: KeyRecord = await self._handler.state(key_decider, ledger_key_stream(channel, key))
        return record

    async def _remember(self, channel: str, command: RecordKeyOutcome | RecordKeyRefund) -> None:
        """Write a key's outcome to its own record (once: the record answers the same for ever)."""
        step = "refund" if isinstance(command, RecordKeyRefund) else "outcome"
        meta = CommandMeta(command_id=f"key:{channel}:{command.key}:{step}", actor="ledger")
        stream = ledger_key_stream(channel, command.key)
        await self._handler.handle(key_decider, stream, command, meta)

    async def spend(
        self, channel: str, user: str, duration_sec: int, tier: Tier, request_id: str
    ) -> SpendOutcome:
        return await self._debit(channel, user, self._cost(duration_sec), request_id)

    async def top_up(self, channel: str, user: str, amount: int, request_id: str) -> SpendOutcome:
        """Take `amount` more for a purchase whose media proved longer than it was priced."""
        if amount <= 0:
            raise EconomyUnavailable(f"malformed request: a top-up of {amount}")
        return await self._debit(channel, user, amount, request_id)

    async def _debit(self, channel: str, user: str, cost: int, request_id: str) -> SpendOutcome:
        problem = _wallet_problem(user)
        if problem is not None:  # a refusal, not a failure: nothing taken, nothing to retry
            return SpendOutcome(ok=False, cost=cost, error_code=INVALID_USER, message=problem)
        known = await self._record(channel, request_id)
        if known.status is not None:  # answered before, however long ago: the same answer
            return _recorded_spend(known)
        stream = self._stream(channel, user)
        meta = CommandMeta(command_id=f"spend:{channel}:{_key(user)}:{request_id}", actor=user)
        try:
            await self._handler.handle(
                wallet_decider, stream, DebitForRequest(request_id, cost), meta
            )
        except Rejected as exc:
            raise EconomyUnavailable(f"malformed request: {exc.message}") from exc
        held = (await self._wallet(channel, user)).requests.get(request_id)
        if held is None:  # the commit id was taken by something else: nothing was decided
            raise EconomyUnavailable(f"request {request_id!r} left no outcome in the wallet")
        status: Literal["debited", "declined"] = (
            "declined" if held.status == "declined" else "debited"
        )
        await self._remember(
            channel,
            RecordKeyOutcome(request_id, _key(user), status, held.amount, held.balance, held.code),
        )
        return _spend_outcome(held)

    async def refund(self, channel: str, user: str, request_id: str, reason: str) -> RefundOutcome:
        if _wallet_problem(user) is not None:  # no wallet, so nothing was ever taken
            return RefundOutcome(ok=False, refunded=0, error_code=INVALID_USER)
        known = await self._record(channel, request_id)
        if known.status == "refunded":  # given back before: never twice
            return RefundOutcome(ok=True, refunded=known.amount, balance=known.refund_balance)
        if known.status is not None and known.user != _key(user):
            return RefundOutcome(
                ok=False,
                refunded=0,
                error_code="not_yours",
                message="That payment was made from another wallet.",
            )
        stream = self._stream(channel, user)
        meta = CommandMeta(command_id=f"refund:{channel}:{_key(user)}:{request_id}", actor=user)
        amount = known.amount if known.status == "debited" else None
        try:
            await self._handler.handle(
                wallet_decider, stream, RefundRequest(request_id, reason, amount), meta
            )
        except Rejected as exc:
            if exc.code == "invalid_request_id":
                raise EconomyUnavailable(f"malformed request: {exc.message}") from exc
            balance = (await self._wallet(channel, user)).balance
            return RefundOutcome(
                ok=False, refunded=0, balance=balance, error_code=exc.code, message=exc.message
            )
        held = (await self._wallet(channel, user)).requests.get(request_id)
        if held is None or held.status != "refunded":
            raise EconomyUnavailable(f"refund of {request_id!r} left no outcome in the wallet")
        if known.status is None:  # debited before key records were kept: keep one now
            await self._remember(
                channel,
                RecordKeyOutcome(request_id, _key(user), "debited", held.amount, held.balance),
            )
        await self._remember(
            channel,
            RecordKeyRefund(request_id, held.amount, held.refund_balance or 0, reason),
        )
        return RefundOutcome(ok=True, refunded=held.amount, balance=held.refund_balance)

    async def balance(self, channel: str, user: str) -> int:
        problem = _wallet_problem(user)
        if problem is not None:
            raise Rejected(INVALID_USER, problem)
        return (await self._wallet(channel, user)).balance


def _recorded_spend(known: KeyRecord) -> SpendOutcome:
    if known.status == "declined":
        return SpendOutcome(
            ok=False,
            cost=known.amount,
            balance=known.balance,
            error_code=known.code,
            message=_declined_message(known.code, known.amount, known.balance),
        )
    return SpendOutcome(ok=True, cost=known.amount, balance=known.balance)


def _spend_outcome(held: RequestOutcome) -> SpendOutcome:
    if held.status == "declined":
        return SpendOutcome(
            ok=False,
            cost=held.amount,
            balance=held.balance,
            error_code=held.code,
            message=_declined_message(held.code, held.amount, held.balance),
        )
    # A refunded request still answers its spend as it was: ok, at its cost.
    return SpendOutcome(ok=True, cost=held.amount, balance=held.balance)
