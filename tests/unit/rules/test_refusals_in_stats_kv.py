"""Refusals by rule in the stats bucket's fold: a `refusals` key once there is one, by rule,
this channel's only, and the same whether folded live (dirty keys) or rebuilt (values)."""

from __future__ import annotations

import json

from application.stats.mirror import StatsFold
from domain.rules.config import RequestRefusedByRule
from tests.unit.likes.test_stats_fold import commit


def test_refusals_by_rule_are_a_key_of_their_own() -> None:
    live = StatsFold("lobby")
    assert "refusals" not in live.values()  # absent until the first refusal
    history = [
        commit(1, "rule_refusals", RequestRefusedByRule("ann", "yt", "a", "rule_cooldown")),
        commit(2, "rule_refusals", RequestRefusedByRule("bob", "yt", "b", "rule_max_pending")),
        commit(3, "rule_refusals", RequestRefusedByRule("ann", "yt", "c", "rule_cooldown")),
        commit(
            4,
            "rule_refusals",
            RequestRefusedByRule("eve", "yt", "d", "rule_too_long"),
            channel="other",
        ),
    ]
    written: dict[str, bytes | None] = {}
    for stored in history:
        live.apply(stored)
        written.update(live.take_dirty())
    expected = {"channel": "lobby", "by_rule": {"rule_cooldown": 2, "rule_max_pending": 1}}
    assert json.loads(written["refusals"] or b"") == expected
    rebuilt = StatsFold("lobby")
    for stored in history:
        rebuilt.apply(stored)
    assert json.loads(rebuilt.values()["refusals"]) == expected
    assert rebuilt.values()["refusals"] == written["refusals"]
