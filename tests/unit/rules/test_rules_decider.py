"""Each request rule at its edges, in the queue's pay decision (domain/queue/pay_rules.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from attrs import evolve

from domain.decider import Context
from domain.errors import Rejected
from domain.media import Media
from domain.promos.config import InvalidSetting
from domain.queue.commands import ObserveItemQueued, ObserveNowPlaying
from domain.queue.decider import queue_decider
from domain.queue.pay_model import (
    CancelPayItem,
    PayItemRequested,
    RecordPaymentCaptured,
    RecordPaymentDeclined,
    RequestPayItem,
    StartPayItemAdd,
)
from domain.queue.pay_rules import refusals
from domain.queue.state import PLAYS_REMEMBERED, QueueState
from domain.rules.config import (
    MAX_NO_REPEAT_HOURS,
    BlockedMedia,
    BlockedUser,
    RulesChanged,
    RulesConfig,
    SetRules,
    rules_decider,
)
from tests.unit.scenario import NOW

A = Media("yt", "aaa", "Clip A", 180)
OFF = RulesConfig(max_pending_per_viewer=None)


def media(n: int, sec: int = 300) -> Media:
    return Media("yt", f"m{n}", "", sec)


class Channel:
    """A channel playing A, with rules handed to every decision as the service hands them."""

    def __init__(self, rules: RulesConfig, **extra: Any) -> None:
        self.rules = rules
        self.extra = extra
        self.history: list[Any] = []
        self.now = NOW
        self.run(ObserveItemQueued(1, A), ObserveNowPlaying(1))

    def ctx(self) -> Context:
        return Context(now=self.now, config={"request_rules": self.rules, **self.extra})

    @property
    def state(self) -> QueueState:
        return queue_decider.fold("lobby", self.history)

    def run(self, *commands: Any) -> None:
        for command in commands:
            self.history.extend(queue_decider.decide(self.state, command, self.ctx()))

    def buy(self, rid: str, user: str, m: Media, tier: str = "queue") -> tuple[Any, ...]:
        events = queue_decider.decide(
            self.state,
            RequestPayItem(rid, user, m, tier),  # type: ignore[arg-type]
            self.ctx(),
        )
        self.history.extend(events)
        return events

    def refused(self, rid: str, user: str, m: Media, code: str) -> Rejected:
        with pytest.raises(Rejected) as info:
            self.buy(rid, user, m)
        assert info.value.code == code, info.value.message
        return info.value


def test_no_rules_means_no_refusals() -> None:
    ch = Channel(OFF)
    ch.extra = {}
    for n in range(5):
        ch.buy(f"r{n}", "ann", media(n))
    assert len(ch.state.pay) == 5


def test_max_pending_per_viewer_at_its_edge_and_when_it_clears() -> None:
    ch = Channel(RulesConfig(max_pending_per_viewer=2))
    ch.buy("r1", "ann", media(1))
    ch.buy("r2", "ann", media(2))  # the second: still allowed
    refused = ch.refused("r3", "ann", media(3), "rule_max_pending")
    assert "2 paid items" in refused.message and "limit is 2" in refused.message
    assert "clears" in refused.message
    assert refused.extra["limit"] == 2
    ch.buy("r3", "bob", media(3))  # another viewer is not affected
    ch.run(CancelPayItem("r1", "admin_cancelled", "admin"))  # one is no longer pending
    ch.buy("r4", "ann", media(4))


def test_a_declined_purchase_does_not_count_as_pending() -> None:
    ch = Channel(RulesConfig(max_pending_per_viewer=1))
    ch.buy("r1", "ann", media(1))
    ch.run(RecordPaymentDeclined("r1", "insufficient_funds", "no"))
    ch.buy("r2", "ann", media(2))


def test_exempt_roles_skip_the_per_viewer_rules_only() -> None:
    rules = RulesConfig(
        max_pending_per_viewer=1, exempt_roles=("admin",), cooldown_minutes=10, max_length_sec=600
    )
    ch = Channel(rules, buyer_role="admin")
    ch.buy("r1", "boss", media(1))
    ch.buy("r2", "boss", media(2))  # neither the count nor the cooldown applies
    ch.refused("r3", "boss", media(3, sec=601), "rule_too_long")  # the media rules do
    ch.extra = {"buyer_role": "viewer"}
    ch.buy("r4", "ann", media(4))
    refused = ch.refused("r5", "ann", media(5), "rule_cooldown")
    assert [r["code"] for r in refused.extra["refusals"]] == ["rule_cooldown", "rule_max_pending"]


def test_a_cytube_rank_at_the_minimum_is_exempt_below_it_is_not() -> None:
    rules = RulesConfig(max_pending_per_viewer=1, exempt_min_rank=2, max_length_sec=600)
    ch = Channel(rules, buyer_role="viewer", buyer_rank=2)  # a moderator, exactly the minimum
    ch.buy("r1", "mod", media(1))
    ch.buy("r2", "mod", media(2))  # the count does not apply
    ch.refused("r3", "mod", media(3, sec=601), "rule_too_long")  # the media rules do
    ch.extra = {"buyer_role": "viewer", "buyer_rank": 1.5}  # a leader: below the minimum
    ch.buy("r4", "lead", media(4))
    ch.refused("r5", "lead", media(5), "rule_max_pending")
    ch.extra = {"buyer_role": "viewer", "buyer_rank": None}  # never seen in the channel
    ch.buy("r6", "anon", media(6))
    ch.refused("r7", "anon", media(7), "rule_max_pending")
    ch.rules = evolve(rules, exempt_min_rank=None)  # ranks exempt nobody
    ch.extra = {"buyer_role": "viewer", "buyer_rank": 5}
    ch.refused("r8", "mod", media(8), "rule_max_pending")


def test_length_limits_are_inclusive() -> None:
    ch = Channel(RulesConfig(max_pending_per_viewer=None, min_length_sec=60, max_length_sec=600))
    too_short = ch.refused("r1", "ann", media(1, sec=59), "rule_too_short")
    assert "59 s" in too_short.message and "60 s" in too_short.message
    ch.buy("r2", "ann", media(2, sec=60))
    ch.buy("r3", "ann", media(3, sec=600))
    too_long = ch.refused("r4", "ann", media(4, sec=601), "rule_too_long")
    assert "601 s" in too_long.message and "600 s" in too_long.message


def test_a_viewers_pending_minutes_are_capped() -> None:
    ch = Channel(RulesConfig(max_pending_per_viewer=None, max_viewer_pending_minutes=10))
    ch.buy("r1", "ann", media(1, sec=300))
    ch.buy("r2", "ann", media(2, sec=300))  # exactly 10 min: allowed
    refused = ch.refused("r3", "ann", media(3, sec=1), "rule_viewer_minutes")
    assert "10 min" in refused.message
    ch.buy("r3", "bob", media(3, sec=600))


def test_the_queues_pending_paid_minutes_are_capped_for_everyone() -> None:
    ch = Channel(RulesConfig(max_pending_per_viewer=None, max_queue_pending_minutes=15))
    ch.buy("r1", "ann", media(1, sec=600))
    ch.buy("r2", "bob", media(2, sec=300))  # 15 min in all: allowed
    refused = ch.refused("r3", "cat", media(3, sec=60), "rule_queue_minutes")
    assert "15 min" in refused.message and "16 min" in refused.message


def test_cooldown_after_a_purchase_says_the_remaining_wait() -> None:
    ch = Channel(RulesConfig(max_pending_per_viewer=None, cooldown_minutes=5))
    ch.buy("r1", "ann", media(1))
    ch.now = NOW + timedelta(minutes=4, seconds=30)
    refused = ch.refused("r2", "ann", media(2), "rule_cooldown")
    assert "30 s" in refused.message and refused.extra["wait_sec"] == 30
    assert refused.extra["retry_at"] == (NOW + timedelta(minutes=5)).isoformat()
    ch.buy("r2", "bob", media(2))  # only ann waits
    ch.now = NOW + timedelta(minutes=5)  # exactly the cooldown later: allowed
    ch.buy("r3", "ann", media(3))


def test_a_declined_purchase_starts_no_cooldown() -> None:
    ch = Channel(RulesConfig(max_pending_per_viewer=None, cooldown_minutes=5))
    ch.buy("r1", "ann", media(1))
    ch.run(RecordPaymentDeclined("r1", "insufficient_funds", "no"))
    ch.buy("r2", "ann", media(2))


def test_no_repeats_within_the_window_says_when_it_can_be() -> None:
    ch = Channel(RulesConfig(max_pending_per_viewer=None, no_repeat_hours=3))
    ch.now = NOW - timedelta(hours=2)
    ch.run(ObserveItemQueued(2, media(1), temp=True), ObserveNowPlaying(2))  # started 18:00
    ch.now = NOW
    ch.run(ObserveNowPlaying(1))  # something else plays now; the temp item is gone
    refused = ch.refused("r1", "ann", media(1), "rule_repeat")
    assert "2026-11-20 21:00 UTC" in refused.message  # played 18:00 + 3 h
    assert refused.extra["retry_at"] == "2026-11-20T21:00:00+00:00"
    ch.now = NOW + timedelta(hours=1, microseconds=-1)  # a moment before it clears
    ch.refused("r1", "ann", media(1), "rule_repeat")
    ch.now = NOW + timedelta(hours=1)  # exactly 3 h after it played
    ch.buy("r1", "ann", media(1))


def test_no_repeats_refuses_what_started_a_moment_ago() -> None:
    """The decision reads the start from the queue itself: no read model to wait for. The
    start is CyTube's (now less how far into it playback is)."""
    ch = Channel(RulesConfig(max_pending_per_viewer=None, no_repeat_hours=1))
    ch.run(ObserveItemQueued(2, media(1), temp=True), ObserveNowPlaying(2, elapsed_sec=30))
    ch.run(ObserveNowPlaying(1))  # skipped at once, in the same instant: off the playlist
    assert ch.state.by_uid(2) is None
    refused = ch.refused("r1", "ann", media(1), "rule_repeat")
    assert (
        refused.extra["retry_at"] == (NOW - timedelta(seconds=30) + timedelta(hours=1)).isoformat()
    )
    ch.buy("r2", "ann", media(3))  # another medium is not held back


def test_the_queue_forgets_starts_older_than_the_longest_window() -> None:
    ch = Channel(RulesConfig(max_pending_per_viewer=None, no_repeat_hours=MAX_NO_REPEAT_HOURS))
    ch.now = NOW - PLAYS_REMEMBERED
    ch.run(ObserveItemQueued(2, media(1)), ObserveItemQueued(3, media(2)), ObserveNowPlaying(2))
    ch.now = NOW - PLAYS_REMEMBERED + timedelta(seconds=1)
    ch.run(ObserveNowPlaying(3))
    ch.now = NOW
    ch.run(ObserveNowPlaying(1))  # A starts now: media(1) is exactly the window old, kept
    assert ch.state.started_at("yt", "m1") == NOW - PLAYS_REMEMBERED
    ch.now = NOW + timedelta(seconds=1)
    ch.run(ObserveNowPlaying(3))  # one second on: media(1) falls out, media(2) stays
    assert ch.state.started_at("yt", "m1") is None
    assert ch.state.started_at("yt", "m2") is not None
    assert set(ch.state.last_started) == {"yt:m2", "yt:aaa"} | {"yt:aaa"}


def test_no_repeats_counts_a_pending_one() -> None:
    rules = RulesConfig(max_pending_per_viewer=None, no_repeat_hours=3)
    found = refusals(
        _with_pending(rules, media(1)),
        RequestPayItem("r2", "bob", media(1), "queue"),
        Context(now=NOW, config={"request_rules": rules}),
    )
    assert [r.code for r in found] == ["rule_repeat"]
    assert "already queued" in found[0].message


def _with_pending(rules: RulesConfig, m: Media) -> QueueState:
    ch = Channel(rules)
    ch.buy("r1", "ann", m)
    return ch.state


def test_blocked_media_and_users_give_their_reasons() -> None:
    rules = RulesConfig(
        max_pending_per_viewer=None,
        blocked_media=(BlockedMedia("yt", "m1", "earrape"),),
        blocked_users=(BlockedUser("Troll", "spam buying"),),
    )
    ch = Channel(rules)
    assert "earrape" in ch.refused("r1", "ann", media(1), "rule_media_blocked").message
    assert "spam buying" in ch.refused("r2", "troll", media(2), "rule_user_blocked").message
    ch.buy("r3", "ann", media(2))


def test_every_broken_rule_is_listed_and_nothing_is_recorded() -> None:
    rules = RulesConfig(max_pending_per_viewer=1, max_length_sec=100, cooldown_minutes=5)
    ch = Channel(rules)
    ch.buy("r1", "ann", media(1, sec=100))
    before = list(ch.history)
    refused = ch.refused("r2", "ann", media(2, sec=101), "rule_too_long")
    codes = [r["code"] for r in refused.extra["refusals"]]
    assert codes == ["rule_too_long", "rule_cooldown", "rule_max_pending"]
    assert ch.history == before
    assert not any(isinstance(e, PayItemRequested) and e.request_id == "r2" for e in ch.history)


def test_a_rule_change_takes_effect_on_the_next_decision() -> None:
    ch = Channel(RulesConfig(max_pending_per_viewer=1))
    ch.buy("r1", "ann", media(1))
    ch.refused("r2", "ann", media(2), "rule_max_pending")
    ch.rules = evolve(ch.rules, max_pending_per_viewer=2)
    ch.buy("r2", "ann", media(2))


def test_rules_settings_are_an_aggregate_with_validation() -> None:
    state = rules_decider.initial("lobby")
    assert state.effective(OFF) == OFF
    rules = RulesConfig(max_pending_per_viewer=3)
    events = rules_decider.decide(state, SetRules(rules, "admin"), Context(now=NOW))
    assert events == (RulesChanged(rules, "admin"),)
    state = rules_decider.fold("lobby", list(events))
    assert state.effective(OFF) == rules
    assert rules_decider.decide(state, SetRules(rules, "admin"), Context(now=NOW)) == ()
    for bad, name in [
        (RulesConfig(max_pending_per_viewer=0), "max_pending_per_viewer"),
        (RulesConfig(min_length_sec=100, max_length_sec=99), "max_length_sec"),
        (RulesConfig(exempt_roles=("owner",)), "exempt_roles"),
        (RulesConfig(cooldown_minutes=-1), "cooldown_minutes"),
        (RulesConfig(exempt_min_rank=-0.5), "exempt_min_rank"),
        (RulesConfig(exempt_min_rank=256), "exempt_min_rank"),
        (RulesConfig(blocked_users=(BlockedUser(" "),)), "blocked_users[0]"),
        (
            RulesConfig(blocked_media=(BlockedMedia("yt", "x"), BlockedMedia("yt", "x"))),
            "blocked_media[1]",
        ),
    ]:
        with pytest.raises(InvalidSetting) as info:
            rules_decider.decide(state, SetRules(bad, "admin"), Context(now=NOW))
        assert info.value.field == name


def test_the_captured_money_is_unaffected_by_a_later_rule() -> None:
    """A rule judges a new purchase only: tightening it never touches what was bought."""
    ch = Channel(RulesConfig(max_pending_per_viewer=None))
    ch.buy("r1", "ann", media(1, sec=600))
    ch.run(RecordPaymentCaptured("r1", 100))
    ch.rules = RulesConfig(max_length_sec=60)
    ch.run(RecordPaymentCaptured("r1", 100))
    pay = ch.state.pay_item("r1")
    assert pay is not None and pay.pending and pay.cost == 100


def on_playlist(ch: Channel, rid: str, user: str, m: Media, uid: int) -> None:
    """Bought, paid, added: in its place on the playlist, waiting to play."""
    ch.buy(rid, user, m)
    ch.run(
        RecordPaymentCaptured(rid, 10),
        StartPayItemAdd(rid),
        ObserveItemQueued(uid, m, temp=True),
    )


def test_the_caps_say_about_when_they_clear_from_what_plays_ahead() -> None:
    rules = RulesConfig(
        max_pending_per_viewer=1, max_viewer_pending_minutes=30, max_queue_pending_minutes=9
    )
    ch = Channel(rules)
    started = ch.state.playing_since
    assert started is not None
    ch.now = started + timedelta(seconds=60)  # A (180 s) has 120 s left
    on_playlist(ch, "r1", "ann", media(1, sec=300), uid=2)
    on_playlist(ch, "r2", "bob", media(2, sec=240), uid=3)
    first_plays = started + timedelta(seconds=180)
    refused = ch.refused("r3", "ann", media(3, sec=60), "rule_max_pending")
    assert refused.extra["clears_at"] == first_plays.isoformat()
    assert f"about {first_plays:%H:%M} UTC, in 2 min 0 s" in refused.message, refused.message
    # 9 + 2 = 11 min: over the queue's 9 by 2; r1's start frees 5.
    queue = ch.refused("r3", "cy", media(3, sec=120), "rule_queue_minutes")
    assert queue.extra["clears_at"] == first_plays.isoformat(), queue.message
    # 9 + 6 = 15 min: over by 6, so r1 (5) and r2 (4) must start: after r1 has played.
    later = ch.refused("r3", "cy", media(3, sec=360), "rule_queue_minutes")
    assert later.extra["clears_at"] == (first_plays + timedelta(seconds=300)).isoformat()
    # Longer than the cap itself: it never clears by playing, so no time is given.
    never = ch.refused("r3", "cy", media(3, sec=600), "rule_queue_minutes")
    assert "clears_at" not in never.extra and "about" not in never.message
