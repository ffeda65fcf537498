"""A channel's like rules as admins change them: an aggregate per channel (`like_rules`), so a
change is an event and is in effect on the next like, with no restart.

Until the first change the configuration's `[likes]` applies (`LikeRulesState.effective`). A
change names the whole rules; the same rules again change nothing. Rules out of range are
refused (`invalid_config`, with the field as the `[likes]` key names it).

What a change does to likes already made: a like is judged by the rules in effect when it is
made. A user's likes state forgets likes older than the longer window in effect at their last
like, so a window made longer applies in full to likes from then on; likes the state had
already forgotten under the shorter window are not brought back.
"""

from __future__ import annotations

from typing import ClassVar

from attrs import evolve as replace
from attrs import field, frozen

from domain.decider import Context, Decider
from domain.errors import Rejected
from domain.likes.model import MAX_RATE_LIMIT, MAX_WINDOW_SEC, LikeRules


@frozen
class SetLikeRules:
    rules: LikeRules
    by: str


@frozen
class LikeRulesChanged:
    VERSION: ClassVar[int] = 1
    rules: LikeRules
    by: str


LIKE_RULES_EVENTS: tuple[type, ...] = (LikeRulesChanged,)


@frozen
class LikeRulesState:
    channel: str
    rules: LikeRules = field(factory=LikeRules)
    changed: bool = False

    def effective(self, defaults: LikeRules) -> LikeRules:
        return self.rules if self.changed else defaults


def check(rules: LikeRules) -> None:
    """Raise `invalid_config` naming the first setting out of range (`extra["field"]`)."""
    for name, value, low, high in (
        ("rate_limit", rules.rate_limit, 1, MAX_RATE_LIMIT),
        ("rate_window_seconds", rules.rate_window_sec, 1, MAX_WINDOW_SEC),
        ("dedupe_window_seconds", rules.dedupe_window_sec, 0, MAX_WINDOW_SEC),
    ):
        if not low <= value <= high:
            raise Rejected(
                "invalid_config", f"{name}: must be {low} to {high}, not {value}", {"field": name}
            )


def _decide(
    state: LikeRulesState, command: SetLikeRules, ctx: Context
) -> tuple[LikeRulesChanged, ...]:
    check(command.rules)
    if state.changed and command.rules == state.rules:
        return ()
    return (LikeRulesChanged(command.rules, command.by),)


def _evolve(state: LikeRulesState, event: LikeRulesChanged) -> LikeRulesState:
    return replace(state, rules=event.rules, changed=True)


like_rules_decider: Decider[LikeRulesState, SetLikeRules, LikeRulesChanged] = Decider(
    aggregate="like_rules",
    initial=lambda channel: LikeRulesState(channel),
    decide=_decide,
    evolve=_evolve,
)
