"""The pay item lifecycle in the channel queue: ordering, refusals, and what observations imply."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.decider import Context
from domain.media import Media
from domain.queue.commands import (
    ObserveItemDeleted,
    ObserveItemMoved,
    ObserveItemQueued,
    ObserveNowPlaying,
)
from domain.queue.decider import queue_decider
from domain.queue.pay_model import (
    AttachPayItem,
    CancelPayItem,
    FailPayItem,
    LockQueue,
    PayItemAttached,
    PayItemCancelled,
    PayItemPlayed,
    PayItemPlaying,
    PayItemPositioned,
    PayItemRefunded,
    PayItemRefundRefused,
    PayItemRemoved,
    PayItemRequested,
    PayItemSlotChosen,
    PaymentCaptured,
    RecordPaymentCaptured,
    RecordPaymentDeclined,
    RecordRefund,
    RecordRefundRefused,
    RequestPayItem,
    StartPayItemAdd,
    UnlockQueue,
)
from tests.unit.scenario import NOW, Scenario

A = Media("yt", "aaa", "Clip A", 180)
B = Media("yt", "bbb", "Clip B", 240)
P1 = Media("yt", "p1", "Paid one", 300)
P2 = Media("yt", "p2", "Paid two", 300)
P3 = Media("yt", "p3", "Paid three", 300)


@pytest.fixture
def s() -> Scenario:
    """A channel playing A, with B after it."""
    sc = Scenario(queue_decider)
    return sc.given_commands(
        ObserveItemQueued(1, A), ObserveItemQueued(2, B, after=1), ObserveNowPlaying(1)
    )


def buy(s: Scenario, rid: str, media: Media, tier: str = "queue", uid: int = 0) -> None:
    """Request, capture, add in CyTube at the end (temp) and move to the chosen slot."""
    s.given_commands(
        RequestPayItem(rid, "ann", media, tier),  # type: ignore[arg-type]
        RecordPaymentCaptured(rid, 250),
        StartPayItemAdd(rid),
        ObserveItemQueued(uid, media, temp=True, after=None),
    )
    pay = s.state.pay_item(rid)
    assert pay is not None and pay.placement == "attached" and pay.slot_chosen
    anchor = s.state.by_id(pay.slot_after) if pay.slot_after else None
    s.given_commands(ObserveItemMoved(uid, anchor.uid if anchor else "prepend"))
    assert s.state.pay_item(rid).placement == "positioned"  # type: ignore[union-attr]


def order(s: Scenario) -> list[str]:
    return [i.media.id for i in s.state.items]


def test_a_request_is_recorded_with_its_time(s: Scenario) -> None:
    s.then(
        RequestPayItem("r1", "ann", P1, "queue"), [PayItemRequested("r1", "ann", P1, "queue", NOW)]
    )


def test_queue_tier_is_first_come_first_served(s: Scenario) -> None:
    buy(s, "r1", P1, "queue", 11)
    buy(s, "r2", P2, "queue", 12)
    buy(s, "r3", P3, "queue", 13)
    assert order(s) == ["aaa", "p1", "p2", "p3", "bbb"]


def test_playnext_lands_right_after_now_playing_newest_first(s: Scenario) -> None:
    buy(s, "r1", P1, "playnext", 11)
    buy(s, "r2", P2, "playnext", 12)
    assert order(s) == ["aaa", "p2", "p1", "bbb"]


def test_queue_after_playnext_goes_after_the_last_paid_item(s: Scenario) -> None:
    buy(s, "r1", P1, "playnext", 11)
    buy(s, "r2", P2, "queue", 12)
    buy(s, "r3", P3, "playnext", 13)
    assert order(s) == ["aaa", "p3", "p1", "p2", "bbb"]


def test_the_added_item_is_found_by_media_not_by_the_robots_uid(s: Scenario) -> None:
    """The robot takes the uid of the first `queue` it sees; two adds can swap uids."""
    s.given_commands(
        RequestPayItem("r1", "ann", P1, "queue"),
        RecordPaymentCaptured("r1", 250),
        ObserveItemQueued(20, P1, temp=True),
        ObserveItemQueued(21, P2, temp=True),
    )
    events = s.when(AttachPayItem("r1", uid=21))
    assert events[0] == PayItemAttached("r1", "q3", 20)


def test_an_add_observed_while_adding_attaches_in_the_same_decision(s: Scenario) -> None:
    s.given_commands(
        RequestPayItem("r1", "ann", P1, "queue"),
        RecordPaymentCaptured("r1", 250),
        StartPayItemAdd("r1"),
    )
    events = s.when(ObserveItemQueued(11, P1, temp=True))
    assert events[1:] == (PayItemAttached("r1", "q3", 11), PayItemSlotChosen("r1", "q1"))


def test_an_item_already_in_its_slot_is_positioned_without_a_move(s: Scenario) -> None:
    s.given_commands(
        RequestPayItem("r1", "ann", P1, "playnext"),
        RecordPaymentCaptured("r1", 250),
        StartPayItemAdd("r1"),
    )
    events = s.when(ObserveItemQueued(11, P1, temp=True, after=1))
    assert events[-1] == PayItemPositioned("r1")


def test_a_paid_item_plays_then_has_played(s: Scenario) -> None:
    buy(s, "r1", P1, "playnext", 11)
    assert s.when(ObserveNowPlaying(11))[-1] == PayItemPlaying("r1")
    s.given_commands(ObserveNowPlaying(11))
    s.now = NOW + timedelta(seconds=P1.duration_sec + 5)
    events = s.when(ObserveItemDeleted(11))
    assert events[-1] == PayItemPlayed("r1")


def test_a_paid_item_deleted_in_cytube_before_playing_is_cancelled_for_refund(s: Scenario) -> None:
    buy(s, "r1", P1, "queue", 11)
    events = s.when(ObserveItemDeleted(11))
    assert events[1:] == (
        PayItemRemoved("r1", "gone_from_playlist"),
        PayItemCancelled("r1", "removed_in_cytube", "cytube"),
    )
    s.given(*events)
    s.then(RecordRefund("r1", 250), [PayItemRefunded("r1", 250, "removed_in_cytube")])
    s.given_commands(RecordRefund("r1", 250))
    assert s.state.pay_item("r1").finished  # type: ignore[union-attr]
    s.then(RecordRefund("r1", 250), [])


def test_a_refund_the_economy_refuses_is_recorded_as_refused_never_as_refunded(
    s: Scenario,
) -> None:
    buy(s, "r1", P1, "queue", 11)
    s.given(*s.when(ObserveItemDeleted(11)))
    s.then(
        RecordRefundRefused("r1", "not_found", "No such transaction"),
        [PayItemRefundRefused("r1", "removed_in_cytube", "not_found", "No such transaction")],
    )
    s.given_commands(RecordRefundRefused("r1", "not_found", "No such transaction"))
    pay = s.state.pay_item("r1")
    assert pay is not None and pay.finished and pay.status == "refund_refused"
    assert pay.refunded == 0
    s.then(RecordRefundRefused("r1", "not_found", ""), [])  # said once
    s.then_rejected(RecordRefund("r1", 250), "not_refundable")  # nor turned into a refund


@pytest.mark.parametrize(
    ("setup", "command", "code"),
    [
        ([], RequestPayItem("r9", "ann", A, "queue"), "media_on_playlist"),
        ([], RequestPayItem("r9", "ann", Media("yt", "live"), "queue"), "duration_unknown"),
        ([], RequestPayItem("r9", "", P1, "queue"), "invalid_user"),
        (
            [RequestPayItem("r1", "bob", P1, "queue")],
            RequestPayItem("r9", "ann", P1, "queue"),
            "media_already_pending",
        ),
        (
            [RequestPayItem("r1", "bob", P1, "queue")],
            RequestPayItem("r1", "ann", P2, "queue"),
            "duplicate_request",
        ),
        (
            [LockQueue("Movie night", None, "admin")],
            RequestPayItem("r9", "ann", P1, "queue"),
            "queue_locked",
        ),
        (
            [ObserveItemDeleted(1), ObserveItemDeleted(2)],
            RequestPayItem("r9", "ann", P1, "queue"),
            "nothing_playing",
        ),
        ([], CancelPayItem("nope", "admin_remove", "admin"), "unknown_request"),
        ([RequestPayItem("r1", "bob", P1, "queue")], RecordRefund("r1", 5), "not_refundable"),
        ([RequestPayItem("r1", "bob", P1, "queue")], StartPayItemAdd("r1"), "not_addable"),
    ],
)
def test_refusals_have_codes_and_change_nothing(s: Scenario, setup, command, code) -> None:  # type: ignore[no-untyped-def]
    s.given_commands(*setup)
    before = s.state
    s.then_rejected(command, code)
    assert s.state == before


def test_a_lock_says_what_and_until_when(s: Scenario) -> None:
    until = NOW + timedelta(minutes=45)
    s.given_commands(LockQueue("Movie night", until, "admin"))
    rejected = s.then_rejected(RequestPayItem("r9", "ann", P1, "queue"), "queue_locked")
    assert rejected.message == 'Pay-to-play is closed: "Movie night" until 2026-11-20 20:45 UTC.'
    s.now = until
    assert s.when(RequestPayItem("r9", "ann", P1, "queue"))
    s.now = NOW
    s.given_commands(UnlockQueue("admin"))
    assert s.when(RequestPayItem("r9", "ann", P1, "queue"))


def test_media_not_payable_comes_from_configuration(s: Scenario) -> None:
    ctx = Context(now=NOW, config={"non_payable_media": frozenset({P1.key})})
    with pytest.raises(Exception, match="media_not_payable"):
        queue_decider.decide(s.state, RequestPayItem("r9", "ann", P1, "queue"), ctx)


def test_a_playing_item_is_never_cancelled(s: Scenario) -> None:
    buy(s, "r1", P1, "playnext", 11)
    s.given_commands(ObserveNowPlaying(11))
    s.then_rejected(CancelPayItem("r1", "admin_remove", "admin"), "already_playing")
    s.then_rejected(FailPayItem("r1", "move_failed"), "already_playing")


def test_declined_payment_ends_the_purchase(s: Scenario) -> None:
    s.given_commands(
        RequestPayItem("r1", "ann", P1, "queue"),
        RecordPaymentDeclined("r1", "insufficient_balance", "Not enough"),
    )
    pay = s.state.pay_item("r1")
    assert pay is not None and pay.finished and pay.status == "declined"
    s.then_rejected(RecordPaymentCaptured("r1", 250), "payment_conflict")


def test_an_add_landing_after_a_cancel_is_attached_so_it_can_be_removed(s: Scenario) -> None:
    s.given_commands(
        RequestPayItem("r1", "ann", P1, "queue"),
        RecordPaymentCaptured("r1", 250),
        StartPayItemAdd("r1"),
        CancelPayItem("r1", "admin_remove", "admin"),
        ObserveItemQueued(11, P1, temp=True),
    )
    pay = s.state.pay_item("r1")
    assert pay is not None and pay.placement == "attached" and pay.cancelled
    s.given_commands(ObserveItemDeleted(11), RecordRefund("r1", 250))
    assert s.state.pay_item("r1").finished  # type: ignore[union-attr]


def test_capture_is_idempotent(s: Scenario) -> None:
    s.given_commands(RequestPayItem("r1", "ann", P1, "queue"))
    s.then(RecordPaymentCaptured("r1", 250), [PaymentCaptured("r1", 250)])
    s.given_commands(RecordPaymentCaptured("r1", 250))
    s.then(RecordPaymentCaptured("r1", 250), [])


def test_a_cancelled_item_that_started_playing_is_not_refunded(s: Scenario) -> None:
    buy(s, "r1", P1, "playnext", 11)
    s.given_commands(CancelPayItem("r1", "owner_left", "presence"), ObserveNowPlaying(11))
    pay = s.state.pay_item("r1")
    assert pay is not None and pay.placement == "playing" and pay.finished
    s.then_rejected(RecordRefund("r1", 250), "already_played")
