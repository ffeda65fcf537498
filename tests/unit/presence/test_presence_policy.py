"""The presence refund policy: who loses their pending paid items, and when."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.media import Media
from domain.queue.commands import ObserveItemMoved, ObserveItemQueued, ObserveNowPlaying
from domain.queue.decider import queue_decider
from domain.queue.pay_model import (
    NoteOwnerAway,
    NoteOwnerBack,
    RecordPaymentCaptured,
    RequestPayItem,
    StartPayItemAdd,
)
from domain.queue.presence_policy import (
    CancelForAbsence,
    OwnerGone,
    OwnerHere,
    PresenceRefundConfig,
    decide_presence,
)
from tests.unit.scenario import NOW, Scenario

DEFAULT = PresenceRefundConfig()
GRACE = timedelta(seconds=DEFAULT.grace_seconds)
AFK_ON = PresenceRefundConfig(on_afk=True)
AFK_GRACE = timedelta(seconds=AFK_ON.afk_grace_seconds)
LATER = NOW + timedelta(seconds=1)  # the purchases were made at NOW


@pytest.fixture
def s() -> Scenario:
    """Content A playing; Ann bought P1 and P2 (both in place), Bob bought P3."""
    sc = Scenario(queue_decider).given_commands(
        ObserveItemQueued(1, Media("yt", "a", "A", 600)), ObserveNowPlaying(1)
    )
    for n, user in [(1, "Ann"), (2, "Ann"), (3, "Bob")]:
        media = Media("yt", f"p{n}", f"P{n}", 300)
        sc.given_commands(
            RequestPayItem(f"r{n}", user, media, "queue"),
            RecordPaymentCaptured(f"r{n}", 250),
            StartPayItemAdd(f"r{n}"),
            ObserveItemQueued(10 + n, media, temp=True),
        )
        pay = sc.state.pay_item(f"r{n}")
        anchor = sc.state.by_id(pay.slot_after)  # type: ignore[union-attr, arg-type]
        sc.given_commands(ObserveItemMoved(10 + n, anchor.uid))  # type: ignore[union-attr]
    return sc


def policy(s: Scenario, owners, at=NOW, config=DEFAULT):  # type: ignore[no-untyped-def]
    decisions = decide_presence(s.state, owners, at, config)
    s.given_commands(*[d for d in decisions if not isinstance(d, CancelForAbsence)])
    return decisions


def test_owner_leaves_a_window_opens_and_after_grace_all_their_items_go(s: Scenario) -> None:
    gone = OwnerGone(NOW)
    assert policy(s, {"ann": gone, "bob": OwnerHere(False, NOW)}) == (
        NoteOwnerAway("ann", "owner_left", NOW, NOW + GRACE),
    )
    assert policy(s, {"ann": gone}, NOW + GRACE - timedelta(seconds=1)) == ()
    assert policy(s, {"ann": gone}, NOW + GRACE) == (
        CancelForAbsence("ann", "owner_left", ("r1", "r2")),
    )


def test_afk_then_back_within_grace_keeps_the_items(s: Scenario) -> None:
    policy(s, {"ann": OwnerHere(True, LATER)}, LATER, AFK_ON)
    assert s.state.away_window("ann").reason == "owner_afk"  # type: ignore[union-attr]
    back = policy(
        s,
        {"ann": OwnerHere(False, NOW + timedelta(seconds=30))},
        NOW + timedelta(seconds=30),
        AFK_ON,
    )
    assert back == (NoteOwnerBack("ann"),)
    assert policy(s, {"ann": OwnerHere(False, NOW)}, NOW + 2 * AFK_GRACE, AFK_ON) == ()


def test_by_default_an_afk_owner_keeps_their_items(s: Scenario) -> None:
    """CyTube marks a quiet viewer AFK after 10 minutes without chat: that is no reason."""
    assert not DEFAULT.on_afk
    assert policy(s, {"ann": OwnerHere(True, LATER)}, LATER + 10 * AFK_GRACE) == ()


def test_afk_has_its_own_longer_grace(s: Scenario) -> None:
    assert policy(s, {"ann": OwnerHere(True, LATER)}, LATER, AFK_ON) == (
        NoteOwnerAway("ann", "owner_afk", LATER, LATER + AFK_GRACE),
    )
    assert policy(s, {"ann": OwnerHere(True, LATER)}, LATER + GRACE, AFK_ON) == ()
    assert policy(s, {"ann": OwnerHere(True, LATER)}, LATER + AFK_GRACE, AFK_ON) == (
        CancelForAbsence("ann", "owner_afk", ("r1", "r2")),
    )


def test_a_purchase_made_while_afk_is_not_cancelled_for_that_afk(s: Scenario) -> None:
    """Ann was AFK since before she bought: that AFK is not hers to lose the slot to."""
    afk_before = NOW - timedelta(seconds=5)
    assert policy(s, {"ann": OwnerHere(True, afk_before)}, NOW + 2 * AFK_GRACE, AFK_ON) == ()
    # Back, then AFK again later: this AFK does count.
    again = NOW + timedelta(seconds=700)
    assert policy(s, {"ann": OwnerHere(True, again)}, again, AFK_ON) == (
        NoteOwnerAway("ann", "owner_afk", again, again + AFK_GRACE),
    )


def test_a_leave_still_counts_for_a_purchase_made_while_afk(s: Scenario) -> None:
    assert policy(s, {"ann": OwnerGone(LATER)}, LATER + GRACE, AFK_ON)[-1] == CancelForAbsence(
        "ann", "owner_left", ("r1", "r2")
    )


def test_the_now_playing_item_is_never_cancelled(s: Scenario) -> None:
    s.given_commands(ObserveNowPlaying(13))  # Bob's P3 starts playing
    assert policy(s, {"bob": OwnerGone(NOW)}, NOW + 2 * GRACE) == ()


def test_an_unknown_owner_is_left_alone(s: Scenario) -> None:
    assert policy(s, {"ann": None}, NOW + 2 * GRACE) == ()
    assert policy(s, {}, NOW + 2 * GRACE) == ()


def test_a_flapping_owner_restarts_the_window(s: Scenario) -> None:
    policy(s, {"ann": OwnerGone(NOW)})
    policy(s, {"ann": OwnerHere(False, NOW + timedelta(seconds=10))}, NOW + timedelta(seconds=10))
    again = NOW + timedelta(seconds=20)
    assert policy(s, {"ann": OwnerGone(again)}, again) == (
        NoteOwnerAway("ann", "owner_left", again, again + GRACE),
    )
    assert policy(s, {"ann": OwnerGone(again)}, NOW + GRACE + timedelta(seconds=5)) == ()
    assert policy(s, {"ann": OwnerGone(again)}, again + GRACE)[0] == CancelForAbsence(
        "ann", "owner_left", ("r1", "r2")
    )


def test_on_afk_off_leaves_afk_owners_alone(s: Scenario) -> None:
    config = PresenceRefundConfig(on_afk=False)
    assert policy(s, {"ann": OwnerHere(True, LATER)}, NOW + 2 * AFK_GRACE, config) == ()


def test_disabled_does_nothing(s: Scenario) -> None:
    config = PresenceRefundConfig(enabled=False)
    assert policy(s, {"ann": OwnerGone(NOW)}, NOW + 2 * GRACE, config) == ()


def test_left_long_ago_is_cancelled_at_once(s: Scenario) -> None:
    decisions = policy(s, {"ann": OwnerGone(NOW - 2 * GRACE)})
    assert decisions[-1] == CancelForAbsence("ann", "owner_left", ("r1", "r2"))


def test_a_window_with_nothing_left_at_stake_is_closed(s: Scenario) -> None:
    policy(s, {"ann": OwnerGone(NOW)})
    s.given_commands(ObserveNowPlaying(11), ObserveNowPlaying(12))  # both of Ann's now played
    assert policy(s, {"ann": OwnerGone(NOW)}, NOW + 2 * GRACE) == (NoteOwnerBack("ann"),)
