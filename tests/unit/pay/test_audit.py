"""The money audit finds what broke: it is shown logs with each fault, and a clean one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from application.log.ports import Commit, StoredCommit, StreamId
from application.pay.audit import audit_commits
from domain.media import Media
from domain.queue.pay_model import (
    PayItemCancelled,
    PayItemPlayed,
    PayItemPlaying,
    PayItemRefunded,
    PayItemRefundRefused,
    PayItemRemoved,
    PayItemRequested,
    PayItemUnderpaid,
    PaymentCaptured,
)
from domain.wallet.model import CreditGranted, RequestDebited, RequestRefunded
from tests.unit.scenario import NOW

QUEUE = StreamId("lobby", "queue", "lobby")
ANN = StreamId("lobby", "wallet", "ann")


class Log:
    def __init__(self) -> None:
        self.commits: list[StoredCommit] = []

    def add(self, stream: StreamId, *events: Any, minutes: int = 0) -> None:
        n = len(self.commits) + 1
        at = NOW + timedelta(minutes=minutes)
        commit = Commit(f"c{n}", stream, n, at, "test", tuple(events))
        self.commits.append(StoredCommit(n, commit))

    def buy(self, rid: str, cost: int = 250, balance: int = 750) -> None:
        self.add(QUEUE, PayItemRequested(rid, "ann", Media("yt", rid, "", 300), "queue", NOW))
        self.add(ANN, RequestDebited(f"wq/lobby/{rid}/spend", cost, balance))
        self.add(QUEUE, PaymentCaptured(rid, cost))


def kinds(log: Log, minutes: int = 1) -> set[str]:
    report = audit_commits("lobby", log.commits, NOW + timedelta(minutes=minutes))
    return {f.kind for f in report.findings}


def test_a_clean_log_passes_and_adds_up() -> None:
    log = Log()
    log.add(ANN, CreditGranted(1000, "boss", "grant", 1000))
    log.buy("r1")
    log.add(QUEUE, PayItemPlaying("r1"))
    log.buy("r2", balance=500)
    log.add(QUEUE, PayItemCancelled("r2", "owner_left", "presence"))
    log.add(ANN, RequestRefunded("wq/lobby/r2/spend", 250, "owner_left", 750))
    log.add(QUEUE, PayItemRefunded("r2", 250, "owner_left"))
    report = audit_commits("lobby", log.commits, NOW + timedelta(hours=1))
    assert report.ok, report.findings
    assert report.totals() | {} == {
        "purchases": 2,
        "captured": 500,
        "refunded": 250,
        "kept": 250,
        "played": 1,
        "findings": 0,
    }
    ann = report.users["ann"]
    assert (ann.captured, ann.refunded, ann.kept, ann.balance) == (500, 250, 250, 750)


def test_a_purchase_paid_for_free_with_an_old_id_is_found() -> None:
    log = Log()
    log.add(ANN, CreditGranted(1000, "boss", "grant", 1000))
    log.buy("r1")
    log.add(QUEUE, PayItemCancelled("r1", "admin_remove", "boss"))
    log.add(ANN, RequestRefunded("wq/lobby/r1/spend", 250, "admin_remove", 1000))
    log.add(QUEUE, PayItemRefunded("r1", 250, "admin_remove"))
    # The queue forgot r1; the id came again; the wallet answered its stored outcome.
    log.add(QUEUE, PayItemRequested("r1", "ann", Media("yt", "feature", "", 5800), "queue", NOW))
    log.add(QUEUE, PaymentCaptured("r1", 1000))
    log.add(QUEUE, PayItemPlaying("r1"))
    found = kinds(log)
    assert {"requested_twice", "captured_twice", "played_and_refunded", "capture_mismatch"} <= found


def test_money_made_from_a_played_purchase_refunded_again_is_found() -> None:
    log = Log()
    log.add(ANN, CreditGranted(1000, "boss", "grant", 1000))
    log.buy("r1")
    log.add(QUEUE, PayItemPlaying("r1"))
    log.add(ANN, RequestRefunded("wq/lobby/r1/spend", 250, "owner_left", 1000))
    log.add(ANN, RequestRefunded("wq/lobby/r1/spend", 250, "owner_left", 1250))
    found = kinds(log)
    assert {"wallet_refunded_twice", "refund_mismatch", "user_mismatch"} <= found


def test_a_purchase_stuck_cancelling_and_a_stray_debit_are_found() -> None:
    log = Log()
    log.add(ANN, CreditGranted(1000, "boss", "grant", 1000))
    log.buy("r1")
    log.add(QUEUE, PayItemCancelled("r1", "buyer_cancelled", "ann"))
    log.add(ANN, RequestDebited("wq/lobby/nobody/spend", 250, 500))
    assert "stuck" not in kinds(log, minutes=5)
    found = kinds(log, minutes=60)
    assert {"stuck", "debit_without_purchase"} <= found


def _skipped(log: Log, rid: str = "r1") -> None:
    """Started playing before its length was priced; the difference could not be taken."""
    log.buy(rid)
    log.add(QUEUE, PayItemPlaying(rid))
    log.add(
        QUEUE,
        PayItemUnderpaid(rid, 250, 1800),
        PayItemCancelled(rid, "underpaid", "webqueue"),
    )


def test_a_skipped_underpaid_purchase_refunded_in_full_is_clean() -> None:
    log = Log()
    log.add(ANN, CreditGranted(1000, "boss", "grant", 1000))
    _skipped(log)
    log.add(ANN, RequestRefunded("wq/lobby/r1/spend", 250, "underpaid", 1000))
    log.add(QUEUE, PayItemRefunded("r1", 250, "underpaid"))
    log.add(QUEUE, PayItemRemoved("r1", "skipped_underpaid"))
    report = audit_commits("lobby", log.commits, NOW + timedelta(hours=1))
    assert report.ok, report.findings
    p = report.purchases["r1"]
    assert (p.skipped, p.status, p.kept, report.totals()["played"]) == (True, "refunded", 0, 0)


def test_a_skipped_underpaid_purchase_not_refunded_in_full_is_found() -> None:
    partly = Log()
    _skipped(partly)
    partly.add(ANN, RequestRefunded("wq/lobby/r1/spend", 100, "underpaid", 850))
    partly.add(QUEUE, PayItemRefunded("r1", 100, "underpaid"))
    partly.add(QUEUE, PayItemRemoved("r1", "skipped_underpaid"))
    assert "skipped_not_refunded" in kinds(partly)
    refused = Log()
    _skipped(refused)
    refused.add(QUEUE, PayItemRefundRefused("r1", "underpaid", "refused", "no"))
    assert {"skipped_not_refunded", "refund_refused"} <= kinds(refused)
    waiting = Log()  # taken off, the refund never came
    _skipped(waiting)
    waiting.add(QUEUE, PayItemRemoved("r1", "skipped_underpaid"))
    assert "stuck" not in kinds(waiting, minutes=5)
    assert "stuck" in kinds(waiting, minutes=60)


def test_an_underpaid_purchase_that_played_is_found() -> None:
    log = Log()
    log.add(ANN, CreditGranted(1000, "boss", "grant", 1000))
    log.buy("r1")
    log.add(QUEUE, PayItemPlaying("r1"))
    log.add(QUEUE, PayItemUnderpaid("r1", 250, 1800))  # never cancelled: it played owing
    assert kinds(log) == {"underpaid"}
    # A refund of a played one (not skipped) is still a finding.
    log.add(ANN, RequestRefunded("wq/lobby/r1/spend", 250, "underpaid", 1000))
    log.add(QUEUE, PayItemRefunded("r1", 250, "underpaid"))
    assert "played_and_refunded" in kinds(log)


def test_an_underpaid_purchase_that_played_to_its_end_unrefunded_is_found() -> None:
    log = Log()
    log.buy("r1")
    log.add(QUEUE, PayItemCancelled("r1", "underpaid", "webqueue"))  # the delete on its way
    log.add(QUEUE, PayItemPlaying("r1"))  # CyTube started it first
    log.add(QUEUE, PayItemPlayed("r1"))  # and nothing took it off
    report = audit_commits("lobby", log.commits, NOW + timedelta(minutes=1))
    assert report.purchases["r1"].skipped
    assert "skipped_not_refunded" in {f.kind for f in report.findings}
