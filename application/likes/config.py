"""The settings of likes (`[likes]` in the config file): the rate limit per user, the dedupe
window per user and medium, and whether the stats go to the KV bucket."""

from __future__ import annotations

from collections.abc import Callable

from attrs import Attribute, field, frozen

from domain.likes.model import MAX_RATE_LIMIT, MAX_WINDOW_SEC, LikeRules

Check = Callable[[object, "Attribute[int]", int], None]


def _between(low: int, high: int) -> Check:
    def check(_: object, attribute: Attribute[int], value: int) -> None:
        if not low <= value <= high:
            raise ValueError(f"must be {low} to {high}, got {value}")

    return check


@frozen
class LikesConfig:
    """At most `rate_limit` likes per user in any `rate_window_seconds`; one like per user per
    medium in `dedupe_window_seconds` (0: no dedupe). `kv_mirror`: copy the channel's stats
    (plays and likes) to the `{stream}_STATS` KV bucket (docs/stats-kv.md)."""

    rate_limit: int = field(default=5, validator=_between(1, MAX_RATE_LIMIT))
    rate_window_seconds: int = field(default=60, validator=_between(1, MAX_WINDOW_SEC))
    dedupe_window_seconds: int = field(default=86_400, validator=_between(0, MAX_WINDOW_SEC))
    kv_mirror: bool = True

    def rules(self) -> LikeRules:
        return LikeRules(self.rate_limit, self.rate_window_seconds, self.dedupe_window_seconds)
