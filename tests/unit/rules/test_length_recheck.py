"""The length rules judged again on the length CyTube reports (`pay_rules.recheck`, decided by
`RecheckPayRules`): a buyer's short hint for media the catalog does not know cannot carry a
long item past a length or minutes rule."""

from __future__ import annotations

from typing import Any

from attrs import evolve

from domain.media import Media
from domain.queue.commands import ObserveItemQueued, ObserveNowPlaying
from domain.queue.pay_model import (
    LENGTH_RULES,
    PayItemCancelled,
    PayItemRemoved,
    RecheckPayRules,
    RecordPaymentCaptured,
    StartPayItemAdd,
)
from domain.queue.pay_rules import RECHECKED
from domain.rules.config import RulesConfig
from tests.unit.rules.test_rules_decider import Channel

TEN_MIN = RulesConfig(max_pending_per_viewer=None, max_length_sec=600)


def on_cytube(ch: Channel, rid: str, user: str, hint: int, real: int, uid: int) -> None:
    """Bought at `hint` seconds, paid, added; CyTube reports it `real` seconds long."""
    ch.buy(rid, user, Media("yt", f"m{uid}", "", hint))
    ch.run(
        RecordPaymentCaptured(rid, 10),
        StartPayItemAdd(rid),
        ObserveItemQueued(uid, Media("yt", f"m{uid}", "Real", real), temp=True),
    )
    pay = ch.state.pay_item(rid)
    assert pay is not None and pay.item_id is not None and pay.media.duration_sec == real


def recheck(ch: Channel, rid: str) -> list[Any]:
    before = len(ch.history)
    ch.run(RecheckPayRules(rid))
    return ch.history[before:]


def cancel_of(events: list[Any]) -> PayItemCancelled:
    cancels = [e for e in events if isinstance(e, PayItemCancelled)]
    assert len(cancels) == 1, events
    return cancels[0]


def test_the_rechecked_codes_are_the_ones_a_cancel_skips_for() -> None:
    assert frozenset(RECHECKED) == LENGTH_RULES


def test_a_long_item_bought_as_short_is_cancelled_by_the_length_rule() -> None:
    ch = Channel(TEN_MIN)
    on_cytube(ch, "r1", "ann", hint=60, real=1800, uid=2)
    cancel = cancel_of(recheck(ch, "r1"))
    assert (cancel.reason, cancel.by) == ("rule_too_long", "webqueue")
    for said in ("60 s", "30:00", "1800 s", "600 s (10 min)", "refunded in full"):
        assert said in cancel.detail, cancel.detail
    pay = ch.state.pay_item("r1")
    assert pay is not None and pay.cancelled and not pay.pending
    assert recheck(ch, "r1") == []  # decided once


def test_the_limit_itself_passes_and_an_honest_hint_is_never_rechecked() -> None:
    ch = Channel(TEN_MIN)
    on_cytube(ch, "r1", "ann", hint=60, real=600, uid=2)
    assert recheck(ch, "r1") == []
    # Bought at its real length, then the rule tightened: what was bought stands.
    on_cytube(ch, "r2", "bob", hint=500, real=500, uid=3)
    ch.rules = evolve(TEN_MIN, max_length_sec=120)
    assert recheck(ch, "r2") == []


def test_a_shorter_real_length_is_judged_on_the_shortest_only() -> None:
    ch = Channel(RulesConfig(max_pending_per_viewer=None, min_length_sec=120))
    on_cytube(ch, "r1", "ann", hint=300, real=30, uid=2)
    cancel = cancel_of(recheck(ch, "r1"))
    assert cancel.reason == "rule_too_short" and "120 s (2 min)" in cancel.detail


def test_the_queue_minutes_cap_counts_the_others_and_the_real_length() -> None:
    for real, refused in ((600, False), (660, True)):
        ch = Channel(RulesConfig(max_pending_per_viewer=None, max_queue_pending_minutes=30))
        ch.buy("r0", "bob", Media("yt", "b1", "", 1200))  # 20 min waiting besides
        on_cytube(ch, "r1", "ann", hint=60, real=real, uid=2)
        if not refused:
            assert recheck(ch, "r1") == []  # 20 + 10 = 30 min: at the cap
            continue
        cancel = cancel_of(recheck(ch, "r1"))  # 20 + 11 = 31 min
        assert cancel.reason == "rule_queue_minutes", cancel
        assert "31 min" in cancel.detail and "cap of 30 min" in cancel.detail


def test_the_viewer_minutes_cap_spares_exempt_buyers() -> None:
    rules = RulesConfig(
        max_pending_per_viewer=None, max_viewer_pending_minutes=10, exempt_roles=("blessed",)
    )
    ch = Channel(rules)
    ch.buy("r0", "ann", Media("yt", "a0", "", 300))
    on_cytube(ch, "r1", "ann", hint=60, real=400, uid=2)  # 5 + 6:40 > 10 min
    ch.extra = {"buyer_role": "blessed"}
    assert recheck(ch, "r1") == []
    ch.extra = {"buyer_role": "viewer"}
    assert cancel_of(recheck(ch, "r1")).reason == "rule_viewer_minutes"


def test_a_playing_item_that_breaks_a_rule_is_skipped() -> None:
    ch = Channel(TEN_MIN)
    on_cytube(ch, "r1", "ann", hint=60, real=1800, uid=2)
    ch.run(ObserveNowPlaying(2))  # CyTube started it before it was judged
    pay = ch.state.pay_item("r1")
    assert pay is not None and pay.placement == "playing"
    assert cancel_of(recheck(ch, "r1")).reason == "rule_too_long"
    pay = ch.state.pay_item("r1")
    assert pay is not None and pay.skipping and not pay.finished
    ch.run(ObserveNowPlaying(1))  # the delete started the next item; it left the playlist
    removed = [e for e in ch.history if isinstance(e, PayItemRemoved)]
    assert removed and removed[-1].reason in ("skipped_by_rule",), removed


def test_no_rules_no_recheck() -> None:
    ch = Channel(TEN_MIN)
    on_cytube(ch, "r1", "ann", hint=60, real=1800, uid=2)
    ch.extra = {}
    ch.rules = None  # type: ignore[assignment]
    assert recheck(ch, "r1") == []
