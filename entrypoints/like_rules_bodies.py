"""The like rules' bodies, shared by HTTP (`/likes/rules`) and NATS (`get_like_rules`,
`set_like_rules`): the rules as read (the `[likes]` keys), and a patch naming what it changes."""

from __future__ import annotations

import msgspec

from domain.likes.model import LikeRules


class LikeRulesBody(msgspec.Struct):
    """At most `rate_limit` likes per user in any `rate_window_seconds`; one like per user per
    medium in `dedupe_window_seconds` (0: no dedupe). The `[likes]` keys of the config file."""

    rate_limit: int
    rate_window_seconds: int
    dedupe_window_seconds: int


class LikeRulesPatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """What a PUT may name; what it leaves out stays as it is."""

    rate_limit: int | msgspec.UnsetType = msgspec.UNSET
    rate_window_seconds: int | msgspec.UnsetType = msgspec.UNSET
    dedupe_window_seconds: int | msgspec.UnsetType = msgspec.UNSET


def like_rules_body(rules: LikeRules) -> LikeRulesBody:
    return LikeRulesBody(rules.rate_limit, rules.rate_window_sec, rules.dedupe_window_sec)


def patched(rules: LikeRules, patch: LikeRulesPatch) -> LikeRules:
    def pick(value: int | msgspec.UnsetType, current: int) -> int:
        return current if isinstance(value, msgspec.UnsetType) else value

    return LikeRules(
        pick(patch.rate_limit, rules.rate_limit),
        pick(patch.rate_window_seconds, rules.rate_window_sec),
        pick(patch.dedupe_window_seconds, rules.dedupe_window_sec),
    )
