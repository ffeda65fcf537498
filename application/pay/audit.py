"""The money audit: the queue's facts joined to the wallet's, per purchase and per user.

Read from the log alone (every commit of a channel, oldest first), so it can be run over any
log: by `webqueue audit`, by `GET /api/v1/admin/audit`, and by the money tests. It holds when:

- for every purchase, what was captured is what was refunded plus what was kept, and the wallet
  debited and refunded exactly what the queue says it captured and refunded (local ledger);
- no purchase was captured twice, refunded twice, or requested twice under one id;
- none both played and was refunded (but one a scheduled event cut off while it played, which
  is refunded as `schedule_displaced`); none kept money without playing (unless its refund was
  refused: then it waits for a person, and is listed);
- none played for less than the price of the length CyTube reported: one that started playing
  before that length was priced and could not pay the difference is skipped (`underpaid`), and
  is a finding unless it was refunded in full (`skipped_not_refunded`, or `underpaid` for one
  that played to its end owing);
- none is stuck in a status that should have moved on (`paying`, `cancelling`, placing)
  for longer than `stuck_after`;
- every wallet debit names a purchase, and every wallet's balance is its grants less its debits
  plus its refunds.

With kryten-economy the wallet's facts are not in our log: the wallet half is then left out
(`wallet_in_log` false) and only the queue half is checked.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from datetime import datetime, timedelta
from typing import Any

import attrs
from attrs import define, field, frozen

from application.log.ports import StoredCommit
from domain.queue.decider import queue_decider
from domain.queue.pay_model import (
    SKIP_REASONS,
    PayItem,
    PayItemCancelled,
    PayItemPlaying,
    PayItemPriceChecked,
    PayItemRefunded,
    PayItemRequested,
    PayItems,
    PayItemUnderpaid,
    PaymentCaptured,
    PaymentToppedUp,
)
from domain.queue.state import QueueState
from domain.wallet.model import CreditGranted, DebitDeclined, RequestDebited, RequestRefunded

#: Statuses a purchase may rest in for as long as it takes: final ones, and waiting to play.
AT_REST = frozenset(
    {
        "played",
        "declined",
        "refunded",
        "refund_refused",
        "cancelled",
        "positioned",
        "playing",
    }
)
FINAL = frozenset({"played", "declined", "refunded", "refund_refused", "cancelled"})
DEFAULT_STUCK_AFTER = timedelta(minutes=10)


@frozen
class Finding:
    """One broken rule: `kind` for machines, `detail` for people."""

    kind: str
    detail: str
    request_id: str | None = None
    user: str | None = None


@define
class PurchaseAudit:
    request_id: str
    user: str = ""
    media: str = ""
    status: str = "unknown"
    requested_at: datetime | None = None
    updated_at: datetime | None = None
    requested: int = 0
    captures: int = 0
    captured: int = 0
    refunds: int = 0
    refunded: int = 0
    played: bool = False
    #: Cut off while playing by a scheduled event (so refunded although it began to play).
    cut_off: bool = False
    cancel_reason: str | None = None
    price: int | None = None
    owed: int = 0
    wallet_debited: int = 0
    wallet_debits: dict[str, int] = field(factory=dict)
    wallet_refunded: int = 0
    wallet_refunds: dict[str, int] = field(factory=dict)

    @property
    def kept(self) -> int:
        return self.captured - self.refunded

    @property
    def skipped(self) -> bool:
        """Started playing though it could not pay its price or broke a length rule on CyTube's
        length (`PayItem.skipping`): it is taken off, and owed a full refund."""
        return self.played and self.cancel_reason in SKIP_REASONS


@define
class UserAudit:
    user: str
    purchases: int = 0
    captured: int = 0
    refunded: int = 0
    granted: int = 0
    wallet_debited: int = 0
    wallet_refunded: int = 0
    balance: int | None = None

    @property
    def kept(self) -> int:
        return self.captured - self.refunded


@define
class AuditReport:
    channel: str
    at: datetime
    wallet_in_log: bool
    purchases: dict[str, PurchaseAudit]
    users: dict[str, UserAudit]
    findings: list[Finding]
    commits: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings

    def totals(self) -> dict[str, int]:
        p = self.purchases.values()
        return {
            "purchases": len(self.purchases),
            "captured": sum(x.captured for x in p),
            "refunded": sum(x.refunded for x in p),
            "kept": sum(x.kept for x in p),
            "played": sum(1 for x in p if x.played and not x.skipped),
            "findings": len(self.findings),
        }

    def to_builtins(self) -> dict[str, Any]:
        """The report as plain data (JSON for HTTP and `webqueue audit --format json`)."""
        return {
            "channel": self.channel,
            "at": self.at.isoformat(),
            "ok": self.ok,
            "wallet_in_log": self.wallet_in_log,
            "commits": self.commits,
            "totals": self.totals(),
            "findings": [
                {"kind": f.kind, "detail": f.detail, "request_id": f.request_id, "user": f.user}
                for f in self.findings
            ],
            "users": [
                {
                    "user": u.user,
                    "purchases": u.purchases,
                    "captured": u.captured,
                    "refunded": u.refunded,
                    "kept": u.kept,
                    "granted": u.granted,
                    "wallet_debited": u.wallet_debited,
                    "wallet_refunded": u.wallet_refunded,
                    "balance": u.balance,
                }
                for u in sorted(self.users.values(), key=lambda u: u.user)
            ],
            "purchases": [
                {
                    "request_id": p.request_id,
                    "user": p.user,
                    "media": p.media,
                    "status": p.status,
                    "captured": p.captured,
                    "refunded": p.refunded,
                    "kept": p.kept,
                    "played": p.played,
                    "skipped": p.skipped,
                    "price": p.price,
                    "owed": p.owed,
                    "wallet_debited": p.wallet_debited,
                    "wallet_refunded": p.wallet_refunded,
                    "updated_at": p.updated_at.isoformat() if p.updated_at else None,
                }
                for p in sorted(
                    self.purchases.values(),
                    key=lambda p: (p.requested_at is None, p.requested_at, p.request_id),
                )
            ],
        }


def parse_key(channel: str, key: str) -> tuple[str, str] | None:
    """`(request id, step)` of a key `payment_key` made for `channel`, else None."""
    prefix = f"wq/{channel}/"
    if not key.startswith(prefix):
        return None
    rid, _, step = key[len(prefix) :].rpartition("/")
    return (rid, step) if rid and step else None


class _Builder:
    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.queue: QueueState = queue_decider.initial(channel)
        self.purchases: dict[str, PurchaseAudit] = {}
        self.users: dict[str, UserAudit] = {}
        self.wallet_in_log = False
        self.commits = 0
        self.known: dict[str, PayItem] = {}
        self.wallet_keys: dict[str, tuple[str, int]] = {}  # key -> (wallet, debits)
        self.orphans: list[tuple[str, str, int]] = []  # (key, wallet, amount)
        self.wallet_balance: dict[str, int] = {}
        self.wallet_sum: dict[str, int] = defaultdict(int)

    def purchase(self, rid: str) -> PurchaseAudit:
        held = self.purchases.get(rid)
        if held is None:
            held = self.purchases[rid] = PurchaseAudit(rid)
        return held

    def user(self, name: str) -> UserAudit:
        key = name.strip().lower()
        held = self.users.get(key)
        if held is None:
            held = self.users[key] = UserAudit(key)
        return held

    def add(self, stored: StoredCommit) -> None:
        commit = stored.commit
        if commit.stream.channel != self.channel:
            return
        self.commits += 1
        if commit.stream.aggregate == "queue":
            self._queue(stored)
        elif commit.stream.aggregate == "wallet":
            self._wallet(stored)

    def _queue(self, stored: StoredCommit) -> None:
        touched: set[str] = set()
        for event in stored.commit.events:
            before = self.queue
            self.queue = queue_decider.evolve(self.queue, event)
            rid = getattr(event, "request_id", None)
            if rid is None:
                continue
            touched.add(rid)
            self._follow(rid, before, event)
            p = self.purchase(rid)
            match event:
                case PayItemRequested():
                    p.requested += 1
                    p.user, p.media, p.requested_at = event.user, event.media.id, event.at
                case PaymentCaptured():
                    p.captures += 1
                    p.captured += event.cost
                case PaymentToppedUp():
                    p.captured += event.amount
                case PayItemRefunded():
                    p.refunds += 1
                    p.refunded += event.amount
                case PayItemPlaying():
                    p.played = True
                case PayItemPriceChecked():
                    p.price = event.price
                case PayItemUnderpaid():
                    p.owed = event.owed
                case PayItemCancelled():
                    p.cancel_reason = event.reason
                    p.cut_off = p.cut_off or event.cut_off
        for rid in touched:
            p = self.purchases[rid]
            p.updated_at = stored.commit.at
            pay = self.known.get(rid)
            if pay is not None:
                p.status = pay.status

    def _follow(self, rid: str, before: QueueState, event: object) -> None:
        """The purchase as it is after `event`, even when the queue dropped it at once (a
        finished one beyond the few the aggregate keeps): folded on its own then."""
        after = self.queue.pay_item(rid)
        if after is None:
            held = before.pay_item(rid) or self.known.get(rid)
            if held is None:
                return
            alone = attrs.evolve(before, pay=PayItems.of((held,)))
            after = queue_decider.evolve(alone, event).pay_item(rid)  # type: ignore[arg-type]
        if after is not None:
            self.known[rid] = after

    def _wallet(self, stored: StoredCommit) -> None:
        self.wallet_in_log = True
        wallet = stored.commit.stream.id
        u = self.user(wallet)
        for event in stored.commit.events:
            match event:
                case CreditGranted():
                    u.granted += event.amount
                    self.wallet_sum[wallet] += event.amount
                case RequestDebited():
                    u.wallet_debited += event.amount
                    self.wallet_sum[wallet] -= event.amount
                    self._debit(wallet, event.request_id, event.amount)
                case RequestRefunded():
                    u.wallet_refunded += event.amount
                    self.wallet_sum[wallet] += event.amount
                    p = self._owner(event.request_id)
                    if p is not None:
                        p.wallet_refunded += event.amount
                        p.wallet_refunds[event.request_id] = (
                            p.wallet_refunds.get(event.request_id, 0) + 1
                        )
                case DebitDeclined():
                    pass
            balance = getattr(event, "balance", None)
            if balance is not None:
                u.balance = int(balance)
                self.wallet_balance[wallet] = int(balance)

    def _owner(self, key: str) -> PurchaseAudit | None:
        parsed = parse_key(self.channel, key)
        rid = parsed[0] if parsed else key  # a key from before keys were derived: the id
        return self.purchases.get(rid)

    def _debit(self, wallet: str, key: str, amount: int) -> None:
        p = self._owner(key)
        if p is None:
            self.orphans.append((key, wallet, amount))
            return
        p.wallet_debited += amount
        p.wallet_debits[key] = p.wallet_debits.get(key, 0) + 1

    def report(self, now: datetime, stuck_after: timedelta) -> AuditReport:
        findings: list[Finding] = []
        for p in self.purchases.values():
            findings.extend(_purchase_findings(p, self.wallet_in_log, now, stuck_after))
            if p.user:
                u = self.user(p.user)
                u.purchases += 1
                u.captured += p.captured
                u.refunded += p.refunded
        for key, wallet, amount in self.orphans:
            if self._owner(key) is not None:  # the purchase came later in the log
                self._debit(wallet, key, amount)
                continue
            findings.append(
                Finding(
                    "debit_without_purchase",
                    f"wallet {wallet} was debited {amount} under {key!r}, which no purchase "
                    "in the log names",
                    None,
                    wallet,
                )
            )
        if self.wallet_in_log:
            for name, u in self.users.items():
                if u.balance is not None and u.balance != self.wallet_sum[name]:
                    findings.append(
                        Finding(
                            "balance_mismatch",
                            f"balance {u.balance} is not grants {u.granted} - debits "
                            f"{u.wallet_debited} + refunds {u.wallet_refunded}",
                            None,
                            name,
                        )
                    )
                if u.wallet_debited - u.wallet_refunded != u.kept:
                    findings.append(
                        Finding(
                            "user_mismatch",
                            f"the wallet kept {u.wallet_debited - u.wallet_refunded}, the queue "
                            f"says {u.kept} was kept",
                            None,
                            name,
                        )
                    )
        return AuditReport(
            self.channel,
            now,
            self.wallet_in_log,
            self.purchases,
            self.users,
            findings,
            self.commits,
        )


def _purchase_findings(
    p: PurchaseAudit, wallet_in_log: bool, now: datetime, stuck_after: timedelta
) -> list[Finding]:
    out: list[Finding] = []

    def found(kind: str, detail: str) -> None:
        out.append(Finding(kind, detail, p.request_id, p.user or None))

    if p.requested != 1:
        found("requested_twice", f"requested {p.requested} times under one id")
    if p.captures > 1:
        found("captured_twice", f"captured {p.captures} times")
    if p.refunds > 1:
        found("refunded_twice", f"refunded {p.refunds} times")
    if p.refunded > p.captured:
        found("refund_exceeds_capture", f"refunded {p.refunded} of {p.captured}")
    if p.played and p.refunded and not (p.cut_off or p.skipped):
        found("played_and_refunded", f"played, and {p.refunded} was refunded")
    if p.status in FINAL and p.status not in ("played", "refund_refused") and p.kept:
        found("kept_without_play", f"{p.status}, yet {p.kept} of {p.captured} was kept")
    if p.status == "refund_refused":
        found("refund_refused", f"the economy refused to give back {p.kept}: settle by hand")
    if p.skipped:
        # Skipped as underpaid: clean once refunded in full; while the refund is on its way
        # (`cancelling`) the stuck rule watches it.
        if p.status != "cancelling" and (p.status != "refunded" or p.refunded != p.captured):
            found(
                "skipped_not_refunded",
                f"taken off as underpaid, {p.status}: {p.refunded} of {p.captured} refunded",
            )
    elif p.owed:
        found("underpaid", f"played owing {p.owed} (it proved longer than it was priced)")
    if p.price is not None and p.status != "refunded" and p.captured < p.price:
        found("underpaid", f"costs {p.price}, {p.captured} was taken")
    if p.status not in AT_REST and p.updated_at is not None and now - p.updated_at > stuck_after:
        found("stuck", f"{p.status} since {p.updated_at.isoformat()}")
    if wallet_in_log:
        if any(n > 1 for n in p.wallet_debits.values()):
            found("debited_twice", f"the wallet debited one key twice: {p.wallet_debits}")
        if any(n > 1 for n in p.wallet_refunds.values()):
            found("wallet_refunded_twice", f"the wallet refunded one key twice: {p.wallet_refunds}")
        in_flight = p.status in ("paying", "cancelling")
        if p.wallet_debited != p.captured and not in_flight:
            found(
                "capture_mismatch",
                f"the queue captured {p.captured}, the wallet debited {p.wallet_debited}",
            )
        if p.wallet_refunded != p.refunded and not in_flight:
            found(
                "refund_mismatch",
                f"the queue refunded {p.refunded}, the wallet gave back {p.wallet_refunded}",
            )
    return out


def audit_commits(
    channel: str,
    commits: Iterable[StoredCommit],
    now: datetime,
    stuck_after: timedelta = DEFAULT_STUCK_AFTER,
) -> AuditReport:
    builder = _Builder(channel)
    for stored in commits:
        builder.add(stored)
    return builder.report(now, stuck_after)


async def audit_log(
    channel: str,
    commits: AsyncIterator[StoredCommit],
    now: datetime,
    stuck_after: timedelta = DEFAULT_STUCK_AFTER,
) -> AuditReport:
    """The audit of every commit `commits` yields (a store's `read_all(channel=...)`)."""
    builder = _Builder(channel)
    async for stored in commits:
        builder.add(stored)
    return builder.report(now, stuck_after)
