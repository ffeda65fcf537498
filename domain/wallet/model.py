"""The wallet aggregate of the local ledger: one per (channel, user), id = the user lowercased.

The local ledger is the embedded default's economy. Spends and refunds are idempotent by
`request_id`: the outcome of every request (debited, declined, refunded) stays in the state, so a
retry answers with nothing new and the caller reads the stored outcome. A declined spend is a
fact too (`DebitDeclined`), so a retry with the same id answers declined again even if the user
has been credited since: one request id, one answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar, Literal

from attrs import evolve as replace
from attrs import field, frozen

from domain.decider import Context, Decider
from domain.errors import Rejected

MAX_REQUEST_ID = 200
INSUFFICIENT_BALANCE = "insufficient_balance"


@frozen
class GrantCredit:
    amount: int
    by: str
    reason: str


@frozen
class DebitForRequest:
    request_id: str
    amount: int


@frozen
class RefundRequest:
    """`amount`: the debit as the ledger's key record has it, for a wallet that has forgotten
    the request (it keeps only its latest); without it such a refund is refused."""

    request_id: str
    reason: str
    amount: int | None = None


WalletCommand = GrantCredit | DebitForRequest | RefundRequest


@frozen
class CreditGranted:
    VERSION: ClassVar[int] = 1
    amount: int
    by: str
    reason: str
    balance: int


@frozen
class RequestDebited:
    VERSION: ClassVar[int] = 1
    request_id: str
    amount: int
    balance: int


@frozen
class DebitDeclined:
    VERSION: ClassVar[int] = 1
    request_id: str
    amount: int
    balance: int
    code: str


@frozen
class RequestRefunded:
    VERSION: ClassVar[int] = 1
    request_id: str
    amount: int
    reason: str
    balance: int


WalletEvent = CreditGranted | RequestDebited | DebitDeclined | RequestRefunded
WALLET_EVENTS: tuple[type, ...] = (CreditGranted, RequestDebited, DebitDeclined, RequestRefunded)

RequestStatus = Literal["debited", "declined", "refunded"]


@frozen
class RequestOutcome:
    """What became of one request id; `balance` is the balance right after it was decided."""

    status: RequestStatus
    amount: int
    balance: int
    code: str | None = None
    refund_balance: int | None = None
    refund_reason: str | None = None


# How many of its latest requests a wallet remembers (for idempotent retries and refunds). The
# pay flow retries a spend only while that purchase is unsettled and refunds within seconds of a
# cancel, so a thousand later requests by the same user are far beyond any retry; without a bound,
# every purchase copied a map that grew for ever, and a busy wallet's snapshot outgrew NATS's
# 1 MB message limit.
REMEMBERED_REQUESTS = 1000


def _remember(
    requests: Mapping[str, RequestOutcome], request_id: str, outcome: RequestOutcome
) -> dict[str, RequestOutcome]:
    """`requests` with this outcome, the oldest forgotten beyond REMEMBERED_REQUESTS."""
    kept = {**requests, request_id: outcome}
    excess = len(kept) - REMEMBERED_REQUESTS
    if excess > 0:
        for old in list(kept)[:excess]:
            del kept[old]
    return kept


def _frozen_map(value: Mapping[str, RequestOutcome]) -> Mapping[str, RequestOutcome]:
    return MappingProxyType(dict(value))


@frozen
class WalletState:
    user: str
    balance: int = 0
    requests: Mapping[str, RequestOutcome] = field(factory=dict, converter=_frozen_map)


def initial(user: str) -> WalletState:
    return WalletState(user=user)


def _check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise Rejected("invalid_amount", "The amount must be a whole number above zero.")


def _check_request_id(request_id: str) -> None:
    if not request_id or not request_id.strip() or len(request_id) > MAX_REQUEST_ID:
        raise Rejected(
            "invalid_request_id", f"A request id must be 1 to {MAX_REQUEST_ID} characters."
        )


def _debit(state: WalletState, command: DebitForRequest) -> tuple[WalletEvent, ...]:
    _check_request_id(command.request_id)
    _check_amount(command.amount)
    if command.request_id in state.requests:
        return ()
    if command.amount > state.balance:
        return (
            DebitDeclined(command.request_id, command.amount, state.balance, INSUFFICIENT_BALANCE),
        )
    balance = state.balance - command.amount
    return (RequestDebited(command.request_id, command.amount, balance),)


def _refund(state: WalletState, command: RefundRequest) -> tuple[WalletEvent, ...]:
    _check_request_id(command.request_id)
    held = state.requests.get(command.request_id)
    if held is None and command.amount is not None and command.amount > 0:
        balance = state.balance + command.amount
        return (RequestRefunded(command.request_id, command.amount, command.reason, balance),)
    if held is None:
        raise Rejected("unknown_request_id", "There is no payment with that request id.")
    if held.status == "declined":
        raise Rejected("nothing_to_refund", "That payment was declined: nothing was taken.")
    if held.status == "refunded":
        return ()
    balance = state.balance + held.amount
    return (RequestRefunded(command.request_id, held.amount, command.reason, balance),)


def decide(state: WalletState, command: WalletCommand, ctx: Context) -> tuple[WalletEvent, ...]:
    match command:
        case GrantCredit():
            _check_amount(command.amount)
            balance = state.balance + command.amount
            return (CreditGranted(command.amount, command.by, command.reason, balance),)
        case DebitForRequest():
            return _debit(state, command)
        case RefundRequest():
            return _refund(state, command)
    raise Rejected("unknown_command", f"A wallet does not handle {type(command).__name__}.")


def evolve(state: WalletState, event: WalletEvent) -> WalletState:
    match event:
        case CreditGranted():
            return replace(state, balance=event.balance)
        case RequestDebited():
            outcome = RequestOutcome("debited", event.amount, event.balance)
            requests = _remember(state.requests, event.request_id, outcome)
            return replace(state, balance=event.balance, requests=requests)
        case DebitDeclined():
            outcome = RequestOutcome("declined", event.amount, event.balance, code=event.code)
            requests = _remember(state.requests, event.request_id, outcome)
            return replace(state, balance=event.balance, requests=requests)
        case RequestRefunded():
            held = state.requests.get(event.request_id)
            refunded = RequestOutcome(
                "refunded",
                event.amount,
                held.balance if held is not None else event.balance,
                refund_balance=event.balance,
                refund_reason=event.reason,
            )
            requests = _remember(state.requests, event.request_id, refunded)
            return replace(state, balance=event.balance, requests=requests)
    return state


wallet_decider: Decider[WalletState, WalletCommand, WalletEvent] = Decider(
    aggregate="wallet", initial=initial, decide=decide, evolve=evolve
)
