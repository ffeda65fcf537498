"""The money rules in the domain: a request id claimed once for ever, no spend after a cancel
that came first, a cancel that loses the race with play ending in a final status, a length
priced again."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.decider import Context
from domain.errors import Rejected
from domain.media import Media
from domain.queue.commands import ObserveItemDeleted, ObserveItemQueued, ObserveNowPlaying
from domain.queue.decider import queue_decider
from domain.queue.pay_claim import ClaimPurchase, RefuseClaim, RequestIdUsed, claim_decider
from domain.queue.pay_model import (
    CancelPayItem,
    FailPayItem,
    PayItemCancelled,
    PayItemPlayed,
    PayItemRefunded,
    PayItemRemoved,
    PayItemUnderpaid,
    PaymentStarted,
    PaymentVoided,
    RecordPaymentCaptured,
    RecordPriceChecked,
    RecordRefund,
    RecordTopUp,
    RecordUnderpaid,
    RequestPayItem,
    StartPayItemAdd,
    StartPayment,
    VoidPayment,
)
from domain.wallet.keys import KeyDecided, RecordKeyOutcome, RecordKeyRefund, key_decider
from tests.unit.scenario import NOW, Scenario

A = Media("yt", "aaa", "Clip A", 180)
B = Media("yt", "bbb", "Clip B", 240)
P1 = Media("yt", "p1", "", 60)  # the buyer says a minute


@pytest.fixture
def s() -> Scenario:
    sc = Scenario(queue_decider)
    return sc.given_commands(
        ObserveItemQueued(1, A), ObserveItemQueued(2, B, after=1), ObserveNowPlaying(1)
    )


def test_a_claim_is_once_for_ever_whatever_it_is_for() -> None:
    ctx = Context(now=NOW)
    claim = ClaimPurchase("rid-1", "ann", "yt", "p1", "queue")
    state = claim_decider.fold("x", claim_decider.decide(claim_decider.initial("x"), claim, ctx))
    for again in (claim, ClaimPurchase("rid-1", "bob", "yt", "feature", "playnext")):
        with pytest.raises(RequestIdUsed) as used:
            claim_decider.decide(state, again, Context(now=NOW + timedelta(days=400)))
        assert used.value.code == "request_id_used" and used.value.claim.user == "ann"
    refused = claim_decider.decide(state, RefuseClaim("rid-1", "media_on_playlist"), ctx)
    state = claim_decider.evolve(state, refused[0])
    assert state.refused_code == "media_on_playlist"
    with pytest.raises(RequestIdUsed):  # refused by the queue, still used
        claim_decider.decide(state, claim, ctx)


def test_a_cancel_before_the_spend_started_voids_it_and_no_spend_may_start(s: Scenario) -> None:
    s.given_commands(
        RequestPayItem("r1", "ann", P1, "queue"), CancelPayItem("r1", "owner_left", "presence")
    )
    with pytest.raises(Rejected) as refused:
        queue_decider.decide(s.state, StartPayment("r1"), Context(now=NOW))
    assert refused.value.code == "cancelled"
    s.then(VoidPayment("r1"), [PaymentVoided("r1")])
    s.given_commands(VoidPayment("r1"))
    pay = s.state.pay_item("r1")
    assert pay is not None and pay.finished and pay.status == "cancelled"


def test_a_cancel_after_the_spend_started_is_not_voided_but_refunded(s: Scenario) -> None:
    s.given_commands(RequestPayItem("r1", "ann", P1, "queue"))
    s.then(StartPayment("r1"), [PaymentStarted("r1")])
    s.given_commands(StartPayment("r1"))
    s.given_commands(CancelPayItem("r1", "owner_left", "presence"))
    with pytest.raises(Rejected):
        queue_decider.decide(s.state, VoidPayment("r1"), Context(now=NOW))
    s.given_commands(RecordPaymentCaptured("r1", 250))
    assert s.state.pay_item("r1").status == "cancelling"  # type: ignore[union-attr]


def test_a_cancel_that_loses_the_race_with_play_ends_played_not_cancelling(s: Scenario) -> None:
    s.given_commands(
        RequestPayItem("r1", "ann", P1, "playnext"),
        RecordPaymentCaptured("r1", 250),
        StartPayItemAdd("r1"),
        ObserveItemQueued(3, P1, temp=True, after=1),
    )
    assert s.state.pay_item("r1").placement == "positioned"  # type: ignore[union-attr]
    s.given_commands(CancelPayItem("r1", "buyer_cancelled", "ann"))  # the delete is on its way
    s.given_commands(ObserveNowPlaying(3))  # ...but CyTube started it first
    pay = s.state.pay_item("r1")
    assert pay is not None and pay.finished and pay.status == "playing", pay
    s.given_commands(ObserveNowPlaying(2))
    pay = s.state.pay_item("r1")
    assert pay is not None and pay.status == "played", pay


def test_cytubes_length_replaces_the_buyers_and_is_priced_again(s: Scenario) -> None:
    real = Media("yt", "p1", "The real one", 1800)
    s.given_commands(
        RequestPayItem("r1", "ann", P1, "queue"),
        RecordPaymentCaptured("r1", 250),
        StartPayItemAdd("r1"),
        ObserveItemQueued(3, real, temp=True, after=2),
    )
    pay = s.state.pay_item("r1")
    assert pay is not None and pay.media == real and pay.priced_sec == 60
    with pytest.raises(Rejected) as short:
        queue_decider.decide(s.state, RecordPriceChecked("r1", 1800, 500), Context(now=NOW))
    assert short.value.code == "underpaid"
    with pytest.raises(Rejected):  # a top-up that leaves it short
        queue_decider.decide(s.state, RecordTopUp("r1", 100, 1800, 500), Context(now=NOW))
    with pytest.raises(Rejected):  # not playing: it is taken off instead
        queue_decider.decide(s.state, RecordUnderpaid("r1", 250, 1800), Context(now=NOW))
    s.given_commands(RecordTopUp("r1", 250, 1800, 500))
    pay = s.state.pay_item("r1")
    assert pay is not None and pay.cost == 500 and pay.top_up == 250 and pay.price_checked


def test_a_ledger_key_answers_once_and_refunds_once() -> None:
    ctx = Context(now=NOW)
    state = key_decider.initial("d")
    first = RecordKeyOutcome("wq/lobby/r1/spend", "ann", "debited", 250, 750)
    events = key_decider.decide(state, first, ctx)
    assert events == (KeyDecided("wq/lobby/r1/spend", "ann", "debited", 250, 750),)
    state = key_decider.evolve(state, events[0])
    again = RecordKeyOutcome("wq/lobby/r1/spend", "ann", "debited", 250, 500)
    assert key_decider.decide(state, again, ctx) == ()
    refund = RecordKeyRefund("wq/lobby/r1/spend", 250, 1000, "owner_left")
    state = key_decider.evolve(state, key_decider.decide(state, refund, ctx)[0])
    assert state.status == "refunded" and key_decider.decide(state, refund, ctx) == ()


REAL = Media("yt", "p1", "The real one", 1800)


def _playing_unpriced(s: Scenario, tier: str = "queue") -> Scenario:
    """r1 paid 250 for a minute, landed on an empty playlist (CyTube plays it at once) before
    its real length (30 min, 500) was priced."""
    s.given_commands(
        RequestPayItem("r1", "ann", P1, tier),  # type: ignore[arg-type]
        RecordPaymentCaptured("r1", 250),
        StartPayItemAdd("r1"),
        ObserveItemDeleted(1),  # what played ended meanwhile: the playlist is empty
    )
    return s.given_commands(ObserveItemQueued(3, REAL, temp=True), ObserveNowPlaying(3))


@pytest.fixture
def quiet() -> Scenario:
    return Scenario(queue_decider).given_commands(ObserveItemQueued(1, A), ObserveNowPlaying(1))


def test_a_playing_item_that_cannot_pay_its_price_is_skipped_and_refunded_in_full(
    quiet: Scenario,
) -> None:
    s = _playing_unpriced(quiet)
    pay = s.state.pay_item("r1")
    assert pay is not None and pay.placement == "playing" and not pay.price_checked
    events = s.when(RecordUnderpaid("r1", 250, 1800))
    assert events[0] == PayItemUnderpaid("r1", 250, 1800)
    assert isinstance(events[1], PayItemCancelled) and events[1].reason == "underpaid"
    s.given_commands(RecordUnderpaid("r1", 250, 1800))
    pay = s.state.pay_item("r1")
    assert pay is not None and pay.skipping and not pay.finished and pay.status == "cancelling"
    # Refundable while it still plays (the skip is decided), in full, once.
    s.then(RecordRefund("r1", 250), [PayItemRefunded("r1", 250, "underpaid")])
    s.given_commands(RecordRefund("r1", 250))
    assert s.when(RecordRefund("r1", 250)) == ()
    assert not s.state.pay_item("r1").finished  # type: ignore[union-attr]  # still on the playlist
    # CyTube moving on is not "played": it was taken off.
    events = s.when(ObserveItemDeleted(3))
    assert PayItemRemoved("r1", "skipped_underpaid") in events
    assert not any(isinstance(e, PayItemPlayed) for e in events)
    s.given_commands(ObserveItemDeleted(3))
    pay = s.state.pay_item("r1")
    assert pay is not None and pay.finished and pay.status == "refunded", pay


def test_a_skipped_item_cytube_moved_on_from_is_removed_not_played(quiet: Scenario) -> None:
    s = _playing_unpriced(quiet)
    s.given_commands(RecordUnderpaid("r1", 250, 1800), ObserveItemQueued(4, B))
    events = s.when(ObserveNowPlaying(4))  # the next one started: the temp item goes
    assert PayItemRemoved("r1", "skipped_underpaid") in events, events
    assert not any(isinstance(e, PayItemPlayed) for e in events)
    s.given_commands(ObserveNowPlaying(4))
    pay = s.state.pay_item("r1")
    assert pay is not None and pay.status == "cancelling" and not pay.finished  # refund owed
    s.then(RecordRefund("r1", 250), [PayItemRefunded("r1", 250, "underpaid")])


def test_every_other_playing_item_keeps_its_price(quiet: Scenario) -> None:
    # Priced in full, then playing: never refunded, never cancelled.
    s = _playing_unpriced(Scenario(queue_decider).given_commands(*_QUIET))
    s.given_commands(RecordTopUp("r1", 250, 1800, 500))
    s.then_rejected(RecordRefund("r1", 500), "already_played")
    s.then_rejected(CancelPayItem("r1", "admin_remove", "admin"), "already_playing")
    # Cancelled for any other reason, then it started: it keeps its price.
    t = _playing_unpriced(Scenario(queue_decider).given_commands(*_QUIET))
    t.given_commands(ObserveItemQueued(4, B), ObserveNowPlaying(4))  # played already
    t.then_rejected(RecordRefund("r1", 250), "already_played")
    u = Scenario(queue_decider).given_commands(*_QUIET)
    u.given_commands(
        RequestPayItem("r1", "ann", P1, "queue"),
        RecordPaymentCaptured("r1", 250),
        StartPayItemAdd("r1"),
        ObserveItemDeleted(1),
        ObserveItemQueued(3, REAL, temp=True),
    )
    u.given_commands(CancelPayItem("r1", "buyer_cancelled", "ann"), ObserveNowPlaying(3))
    u.given_commands(RecordUnderpaid("r1", 250, 1800))  # recorded, no second cancel
    pay = u.state.pay_item("r1")
    assert pay is not None and not pay.skipping and pay.finished and pay.status == "playing"
    u.then_rejected(RecordRefund("r1", 250), "already_played")


def test_an_underpaid_item_that_already_played_is_only_recorded_as_owing(
    quiet: Scenario,
) -> None:
    s = _playing_unpriced(quiet)
    s.given_commands(ObserveItemQueued(4, B), ObserveNowPlaying(4))
    assert s.state.pay_item("r1").placement == "played"  # type: ignore[union-attr]
    s.then(RecordUnderpaid("r1", 250, 1800), [PayItemUnderpaid("r1", 250, 1800)])
    s.given_commands(RecordUnderpaid("r1", 250, 1800))
    s.then_rejected(RecordRefund("r1", 250), "already_played")
    s.then_rejected(RecordUnderpaid("r9", 250, 1800), "unknown_request")


_QUIET = (ObserveItemQueued(1, A), ObserveNowPlaying(1))


def test_an_underpaid_item_that_starts_while_its_delete_is_on_the_way_is_skipped_too(
    s: Scenario,
) -> None:
    s.given_commands(
        RequestPayItem("r1", "ann", P1, "queue"),
        RecordPaymentCaptured("r1", 250),
        StartPayItemAdd("r1"),
        ObserveItemQueued(3, REAL, temp=True, after=1),  # next after what plays
    )
    s.given_commands(FailPayItem("r1", "underpaid", "30:00 costs 500"))  # the delete goes out
    s.given_commands(ObserveNowPlaying(3))  # ...and CyTube started it first
    pay = s.state.pay_item("r1")
    assert pay is not None and pay.skipping and not pay.finished and pay.status == "cancelling"
    s.then(RecordRefund("r1", 250), [PayItemRefunded("r1", 250, "underpaid")])
    assert PayItemRemoved("r1", "skipped_underpaid") in s.when(ObserveItemDeleted(3))
