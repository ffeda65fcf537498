"""The likes decider at its edges: what is playing, the dedupe window and the rate limit, on a
driven clock (each decision gets its time from the context, as the command handler gives it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.decider import Context
from domain.errors import Rejected
from domain.likes.model import (
    RULES_KEY,
    Like,
    Liked,
    LikeRefused,
    LikeRules,
    LikesState,
    Playing,
    likes_decider,
)
from domain.media import Media

T0 = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)
SONG = Media("yt", "abc", "A song", 240)
OTHER = Media("yt", "xyz", "Another", 180)


def playing(media: Media = SONG, item_id: str = "q1") -> Playing:
    return Playing(item_id, media, T0)


class User:
    """One user's likes stream, driven by a clock we move by hand."""

    def __init__(self, rules: LikeRules | None = None) -> None:
        self.rules = rules or LikeRules(rate_limit=3, rate_window_sec=60, dedupe_window_sec=600)
        self.state: LikesState = likes_decider.initial("alice")
        self.now = T0

    def like(self, now_playing: Playing | None, item_id: str | None = None) -> Liked:
        ctx = Context(now=self.now, config={RULES_KEY: self.rules})
        (event,) = likes_decider.decide(self.state, Like("alice", item_id, now_playing), ctx)
        self.state = likes_decider.evolve(self.state, event)
        return event

    def refused(self, now_playing: Playing | None, item_id: str | None = None) -> Rejected:
        with pytest.raises(Rejected) as caught:
            self.like(now_playing, item_id)
        return caught.value

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_a_like_of_what_plays_is_recorded_with_the_decisions_time() -> None:
    user = User()
    user.advance(5)
    event = user.like(playing(), "q1")
    assert event == Liked(
        "alice", "q1", SONG, T0 + timedelta(seconds=5), T0 + timedelta(seconds=5 - 600)
    )
    assert user.state.likes == 1


def test_nothing_playing_is_refused_with_a_reason() -> None:
    refusal = User().refused(None)
    assert refusal.code == "nothing_playing"
    assert "Nothing is playing" in refusal.message


def test_a_like_of_an_item_that_is_not_playing_is_refused() -> None:
    refusal = User().refused(playing(OTHER, "q2"), item_id="q1")
    assert refusal.code == "not_playing"
    assert "q1 is not playing" in refusal.message and "'Another' (q2)" in refusal.message


def test_without_an_item_id_the_like_goes_to_what_plays() -> None:
    assert User().like(playing(OTHER, "q2")).item_id == "q2"


def test_the_dedupe_window_refuses_a_second_like_until_it_ends() -> None:
    user = User()
    user.like(playing())
    user.advance(599)
    refusal = user.refused(playing())
    assert isinstance(refusal, LikeRefused)
    assert refusal.code == "already_liked"
    assert refusal.until == T0 + timedelta(seconds=600)
    assert "20:10:00 UTC" in refusal.message and "one like per 10 minutes" in refusal.message
    user.advance(1)  # the window is half-open: at its end the like counts again
    assert user.like(playing()).at == T0 + timedelta(seconds=600)
    assert user.state.likes == 2


def test_dedupe_is_per_medium_whatever_queue_item_plays_it() -> None:
    user = User()
    user.like(playing(SONG, "q1"))
    user.advance(120)
    assert user.refused(playing(SONG, "q7")).code == "already_liked"
    assert user.like(playing(OTHER, "q8")).media == OTHER


def test_a_dedupe_window_of_zero_turns_dedupe_off() -> None:
    user = User(LikeRules(rate_limit=2, rate_window_sec=60, dedupe_window_sec=0))
    user.like(playing())
    user.like(playing())
    assert user.refused(playing()).code == "like_rate_limited"


def test_the_rate_limit_counts_likes_in_a_sliding_window() -> None:
    user = User(LikeRules(rate_limit=3, rate_window_sec=60, dedupe_window_sec=0))
    for step in (0, 10, 20):
        user.advance(step and 10)
        user.like(playing())
    user.advance(39)  # T0+59: three likes in the last minute
    refusal = user.refused(playing())
    assert isinstance(refusal, LikeRefused)
    assert refusal.code == "like_rate_limited"
    assert refusal.until == T0 + timedelta(seconds=60)  # when the first one leaves the window
    assert "At most 3 likes every minute;" in refusal.message
    user.advance(1)  # T0+60: the first like is out
    user.like(playing())
    refusal = user.refused(playing())
    assert isinstance(refusal, LikeRefused)
    assert refusal.until == T0 + timedelta(seconds=70)


def test_refused_likes_do_not_use_up_the_rate_limit() -> None:
    user = User(LikeRules(rate_limit=2, rate_window_sec=60, dedupe_window_sec=3600))
    user.like(playing(SONG, "q1"))
    for _ in range(20):  # a flood of the same like: deduplicated, nothing recorded
        assert user.refused(playing(SONG, "q1")).code == "already_liked"
    assert user.state.likes == 1
    assert user.like(playing(OTHER, "q2")).item_id == "q2"


def test_the_state_forgets_what_no_rule_needs_any_more() -> None:
    user = User(LikeRules(rate_limit=3, rate_window_sec=60, dedupe_window_sec=600))
    user.like(playing(SONG, "q1"))
    user.advance(601)
    user.like(playing(OTHER, "q2"))
    assert set(user.state.last_liked) == {"yt:xyz"}
    assert user.state.recent == (T0 + timedelta(seconds=601),)


@pytest.mark.parametrize(
    ("rules", "problem"),
    [
        (LikeRules(rate_limit=0), "rate_limit"),
        (LikeRules(rate_window_sec=0), "rate_window_seconds"),
        (LikeRules(dedupe_window_sec=-1), "dedupe_window_seconds"),
    ],
)
def test_rules_out_of_range_are_named(rules: LikeRules, problem: str) -> None:
    found = rules.problem()
    assert found is not None and problem in found


def test_the_default_rules_are_usable() -> None:
    assert LikeRules().problem() is None


def test_a_refusal_that_clears_on_another_day_names_the_date() -> None:
    user = User(LikeRules(dedupe_window_sec=86_400))
    user.like(playing())
    refusal = user.refused(playing())
    assert "one like per day" in refusal.message
    assert "from 2026-11-21 20:00:00 UTC" in refusal.message
