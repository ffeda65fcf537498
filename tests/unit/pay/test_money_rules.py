"""The money rules in the domain: a request id claimed once for ever, no spend after a cancel
that came first, a cancel that loses the race with play ending in a final status, a length
priced again."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.decider import Context
from domain.errors import Rejected
from domain.media import Media
from domain.queue.commands import ObserveItemQueued, ObserveNowPlaying
from domain.queue.decider import queue_decider
from domain.queue.pay_claim import ClaimPurchase, RefuseClaim, RequestIdUsed, claim_decider
from domain.queue.pay_model import (
    CancelPayItem,
    PaymentStarted,
    PaymentVoided,
    RecordPaymentCaptured,
    RecordPriceChecked,
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
