"""The local ledger's memory of one debit key, kept for ever on a stream of its own.

A wallet remembers only its latest requests (its state must stay small), so on its own it would
forget a key after enough later ones, and a key sent again after that would be debited again, or
refused a refund it is owed. Each key's outcome is therefore also written once to its own stream
(`ledger_key`), after the wallet decided it: what was taken (or refused) and, later, what was
given back. The ledger asks this record first, so a key it has ever answered is answered the
same way for ever, and is refunded at most once.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from attrs import evolve as replace
from attrs import frozen

from domain.decider import Context, Decider
from domain.errors import Rejected

KeyStatus = Literal["debited", "declined", "refunded"]


@frozen
class RecordKeyOutcome:
    key: str
    user: str
    status: Literal["debited", "declined"]
    amount: int
    balance: int
    code: str | None = None


@frozen
class RecordKeyRefund:
    key: str
    amount: int
    balance: int
    reason: str


KeyCommand = RecordKeyOutcome | RecordKeyRefund


@frozen
class KeyDecided:
    VERSION: ClassVar[int] = 1
    key: str
    user: str
    status: str
    amount: int
    balance: int
    code: str | None = None


@frozen
class KeyRefunded:
    VERSION: ClassVar[int] = 1
    key: str
    amount: int
    balance: int
    reason: str


KeyEvent = KeyDecided | KeyRefunded
KEY_EVENTS: tuple[type, ...] = (KeyDecided, KeyRefunded)


@frozen
class KeyRecord:
    """`status` None: the ledger has never answered this key."""

    digest: str
    key: str = ""
    user: str = ""
    status: KeyStatus | None = None
    amount: int = 0
    balance: int = 0
    code: str | None = None
    refund_balance: int | None = None


def initial(digest: str) -> KeyRecord:
    return KeyRecord(digest=digest)


def decide(state: KeyRecord, cmd: KeyCommand, ctx: Context) -> tuple[KeyEvent, ...]:
    match cmd:
        case RecordKeyOutcome():
            if state.status is not None:
                return ()  # answered once, for ever
            return (KeyDecided(cmd.key, cmd.user, cmd.status, cmd.amount, cmd.balance, cmd.code),)
        case RecordKeyRefund():
            if state.status == "refunded":
                return ()
            if state.status != "debited":
                raise Rejected("not_refundable", f"Key {cmd.key!r} has no debit to refund.")
            return (KeyRefunded(cmd.key, cmd.amount, cmd.balance, cmd.reason),)
    raise Rejected("unknown_command", f"A key record does not handle {type(cmd).__name__}.")


def evolve(state: KeyRecord, event: KeyEvent) -> KeyRecord:
    match event:
        case KeyDecided():
            status: KeyStatus = "debited" if event.status == "debited" else "declined"
            return replace(
                state,
                key=event.key,
                user=event.user,
                status=status,
                amount=event.amount,
                balance=event.balance,
                code=event.code,
            )
        case KeyRefunded():
            return replace(state, status="refunded", refund_balance=event.balance)
    return state


key_decider: Decider[KeyRecord, KeyCommand, KeyEvent] = Decider(
    aggregate="ledger_key", initial=initial, decide=decide, evolve=evolve, snapshots=False
)
