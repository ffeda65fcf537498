"""The economy port: what pay-to-play needs from whoever holds the viewers' currency.

Every call that moves money is idempotent by `request_id` (a key from `payment_key`): sending it
again returns the stored outcome and moves nothing. A call whose outcome we could not learn (a
timeout) raises `OutcomeUnknown`; the caller resolves it by sending the *same* request again,
never a new one, and never two at once (the real economy can debit twice for concurrent repeats).
"""

from __future__ import annotations

from typing import Literal, Protocol

from attrs import frozen

Tier = Literal["queue", "playnext"]
Step = Literal["spend", "topup"]
TOP_UP_UNSUPPORTED = "top_up_unsupported"


def payment_key(channel: str, request_id: str, step: Step) -> str:
    """The economy's idempotency key for one money step of one purchase: the channel, the
    purchase id (unique for ever on its channel: domain.queue.pay_claim) and the step, so one
    purchase is debited at most once per step and refunded at most once per debit, and two
    channels (or another client of the same economy) can never share a key."""
    return f"wq/{channel}/{request_id}/{step}"


@frozen
class Quote:
    available: bool
    cost: int
    error_code: str | None = None
    message: str | None = None
    balance: int | None = None


@frozen
class SpendOutcome:
    """`ok` False is a business refusal (insufficient_balance, cooldown_active…): nothing taken."""

    ok: bool
    cost: int
    balance: int | None = None
    error_code: str | None = None
    message: str | None = None


@frozen
class RefundOutcome:
    ok: bool
    refunded: int
    balance: int | None = None
    error_code: str | None = None
    message: str | None = None


class OutcomeUnknown(Exception):
    """The economy did not answer in time: the call may or may not have happened."""


class EconomyUnavailable(Exception):
    """The economy refused to talk (malformed reply, no responder): nothing happened."""


class Economy(Protocol):
    async def preview(self, channel: str, user: str, duration_sec: int, tier: Tier) -> Quote: ...

    async def spend(
        self, channel: str, user: str, duration_sec: int, tier: Tier, request_id: str
    ) -> SpendOutcome: ...

    async def refund(
        self, channel: str, user: str, request_id: str, reason: str
    ) -> RefundOutcome: ...

    async def top_up(self, channel: str, user: str, amount: int, request_id: str) -> SpendOutcome:
        """Take `amount` more, once per `request_id` (refundable like a spend); an economy that
        cannot answers `ok` False with `top_up_unsupported`, and the purchase is undone."""
        ...

    async def balance(self, channel: str, user: str) -> int: ...
