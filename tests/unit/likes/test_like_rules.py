"""The like rules as an aggregate: the config's until the first change, each change an event,
the same rules again no event, and each setting refused just outside its range, named."""

from __future__ import annotations

import pytest

from domain.decider import Context
from domain.errors import Rejected
from domain.likes.model import MAX_RATE_LIMIT, MAX_WINDOW_SEC, LikeRules
from domain.likes.rules import LikeRulesChanged, SetLikeRules, like_rules_decider
from tests.unit.scenario import NOW

CTX = Context(now=NOW)
CONFIG = LikeRules(5, 60, 86_400)


def test_the_config_applies_until_the_first_change_then_the_change() -> None:
    state = like_rules_decider.initial("lobby")
    assert state.effective(CONFIG) == CONFIG
    tight = LikeRules(1, 10, 0)
    events = like_rules_decider.decide(state, SetLikeRules(tight, "boss"), CTX)
    assert events == (LikeRulesChanged(tight, "boss"),)
    state = like_rules_decider.fold("lobby", list(events))
    assert state.effective(CONFIG) == tight
    assert like_rules_decider.decide(state, SetLikeRules(tight, "boss"), CTX) == ()
    # Setting the config's own values is still a change: the log then says so.
    assert like_rules_decider.decide(state, SetLikeRules(CONFIG, "boss"), CTX) != ()


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        (LikeRules(0, 60, 0), "rate_limit"),
        (LikeRules(MAX_RATE_LIMIT + 1, 60, 0), "rate_limit"),
        (LikeRules(5, 0, 0), "rate_window_seconds"),
        (LikeRules(5, MAX_WINDOW_SEC + 1, 0), "rate_window_seconds"),
        (LikeRules(5, 60, -1), "dedupe_window_seconds"),
        (LikeRules(5, 60, MAX_WINDOW_SEC + 1), "dedupe_window_seconds"),
    ],
)
def test_a_setting_out_of_range_is_refused_by_name(rules: LikeRules, field: str) -> None:
    with pytest.raises(Rejected) as info:
        like_rules_decider.decide(
            like_rules_decider.initial("lobby"), SetLikeRules(rules, "b"), CTX
        )
    assert info.value.code == "invalid_config" and info.value.extra["field"] == field


@pytest.mark.parametrize(
    "rules",
    [LikeRules(1, 1, 0), LikeRules(MAX_RATE_LIMIT, MAX_WINDOW_SEC, MAX_WINDOW_SEC)],
)
def test_the_edges_of_each_range_are_allowed(rules: LikeRules) -> None:
    state = like_rules_decider.initial("lobby")
    assert like_rules_decider.decide(state, SetLikeRules(rules, "b"), CTX)
