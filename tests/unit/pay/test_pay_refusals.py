"""The pay decisions that refuse: each has its code and changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.media import Media
from domain.queue.commands import ObserveItemQueued, ObserveNowPlaying
from domain.queue.decider import queue_decider
from domain.queue.pay_model import (
    CancelPayItem,
    CutOffPayItem,
    FailPayItem,
    LockQueue,
    PayItemCancelled,
    PayItemRefunded,
    PaymentCaptured,
    RecordPaymentCaptured,
    RecordPaymentDeclined,
    RecordRefund,
    RequestPayItem,
    UnlockQueue,
)
from tests.unit.pay.test_pay_decider import buy
from tests.unit.scenario import NOW, Scenario

A = Media("yt", "aaa", "Clip A", 180)
B = Media("yt", "bbb", "Clip B", 240)
P1 = Media("yt", "p1", "Paid one", 300)


@pytest.fixture
def s() -> Scenario:
    """A channel playing A, with B after it."""
    sc = Scenario(queue_decider)
    return sc.given_commands(
        ObserveItemQueued(1, A), ObserveItemQueued(2, B, after=1), ObserveNowPlaying(1)
    )


def refused(s: Scenario, command: object, code: str) -> None:
    before = s.state
    s.then_rejected(command, code)
    assert s.state == before


def test_a_decline_after_the_capture_is_a_conflict_and_the_capture_stands(s: Scenario) -> None:
    s.given_commands(RequestPayItem("r1", "ann", P1, "queue"), RecordPaymentCaptured("r1", 250))
    refused(
        s, RecordPaymentDeclined("r1", "insufficient_balance", "Not enough"), "payment_conflict"
    )
    pay = s.state.pay_item("r1")
    assert pay is not None and (pay.payment, pay.cost) == ("captured", 250)


def test_a_decline_repeated_is_the_same_decline(s: Scenario) -> None:
    s.given_commands(
        RequestPayItem("r1", "ann", P1, "queue"),
        RecordPaymentDeclined("r1", "insufficient_balance", "Not enough"),
    )
    s.then(RecordPaymentDeclined("r1", "insufficient_balance", "Not enough"), [])


def test_a_negative_cost_is_never_captured(s: Scenario) -> None:
    s.given_commands(RequestPayItem("r1", "ann", P1, "queue"))
    refused(s, RecordPaymentCaptured("r1", -250), "invalid_cost")
    s.then(RecordPaymentCaptured("r1", 0), [PaymentCaptured("r1", 0)])  # free is a price


@pytest.mark.parametrize(
    ("label", "until"),
    [
        ("", None),
        ("   ", NOW + timedelta(hours=1)),
        ("Movie night", NOW),
        ("Movie night", NOW - timedelta(seconds=1)),
    ],
)
def test_a_lock_needs_a_label_and_an_end_in_the_future(
    s: Scenario, label: str, until: object
) -> None:
    refused(s, LockQueue(label, until, "admin"), "invalid_lock")  # type: ignore[arg-type]
    assert s.state.lock is None


def test_unlocking_an_open_queue_records_nothing(s: Scenario) -> None:
    s.then(UnlockQueue("admin"), [])


def test_a_played_purchase_is_neither_cancelled_nor_failed_nor_refunded(s: Scenario) -> None:
    buy(s, "r1", P1, "playnext", 11)
    s.given_commands(ObserveNowPlaying(11), ObserveNowPlaying(2))
    pay = s.state.pay_item("r1")
    assert pay is not None and pay.placement == "played" and pay.finished
    refused(s, CancelPayItem("r1", "admin_remove", "admin"), "already_played")
    refused(s, CancelPayItem("r1", "buyer_cancelled", "ann"), "already_played")
    refused(s, FailPayItem("r1", "move_failed"), "already_played")
    refused(s, RecordRefund("r1", 250), "already_played")


def test_only_a_scheduled_event_cuts_off_a_playing_purchase_and_then_it_is_refunded(
    s: Scenario,
) -> None:
    buy(s, "r1", P1, "playnext", uid=11)
    s.given_commands(ObserveNowPlaying(11))
    assert s.state.pay_item("r1").placement == "playing"  # type: ignore[union-attr]
    refused(s, CancelPayItem("r1", "admin_remove", "admin"), "already_playing")
    refused(s, CutOffPayItem("r1", "admin_remove", "admin"), "not_cut_off")
    refused(s, CutOffPayItem("r1", "replaced_by_playlist", "boss"), "not_cut_off")
    refused(s, RecordRefund("r1", 250), "already_played")
    s.then(
        CutOffPayItem("r1", "schedule_displaced", "scheduler"),
        [PayItemCancelled("r1", "schedule_displaced", "scheduler", cut_off=True)],
    )
    s.given_commands(CutOffPayItem("r1", "schedule_displaced", "scheduler"))
    s.then(CutOffPayItem("r1", "schedule_displaced", "scheduler"), [])  # once
    pay = s.state.pay_item("r1")
    assert pay is not None and pay.status == "cancelling" and not pay.finished
    s.given_commands(ObserveNowPlaying(2))  # the event took it off the air
    s.then(RecordRefund("r1", 250), [PayItemRefunded("r1", 250, "schedule_displaced")])
    s.given_commands(RecordRefund("r1", 250))
    pay = s.state.pay_item("r1")
    assert pay is not None and pay.status == "refunded" and pay.finished


def test_a_purchase_not_playing_is_not_cut_off(s: Scenario) -> None:
    buy(s, "r1", P1, uid=11)
    refused(s, CutOffPayItem("r1", "schedule_displaced", "scheduler"), "not_playing")
    s.given_commands(RequestPayItem("r2", "ann", Media("yt", "p2", "Paid two", 200), "queue"))
    refused(s, CutOffPayItem("r2", "schedule_displaced", "scheduler"), "not_playing")
