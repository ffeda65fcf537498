"""One user's likes in one channel: what they liked and when, as far as the rules need it.

A `Like` names what the user saw playing (`item_id`, optional) and carries what the queue says
is playing now (`playing`, filled in by the application from the queue aggregate). The decision
refuses, in this order:

- `nothing_playing`: nothing is playing (or CyTube plays something we do not hold);
- `not_playing`: the user liked an item that is no longer (or not yet) the one playing;
- `already_liked`: the same medium (type and id, whatever queue item played it) was liked by
  this user less than `dedupe_window_sec` ago (0 turns the dedupe off);
- `like_rate_limited`: this user's likes in the last `rate_window_sec` reached `rate_limit`.

A refusal appends nothing, so refused likes never count against the rate limit. An accepted
like is `Liked`, which also says from when on the state may forget older likes
(`forget_before`: the longer of the two windows back from the like), so the state stays small.
The time is the decision's `ctx.now`, the rules are `ctx.config["like_rules"]`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import ClassVar, Final

from attrs import evolve as replace
from attrs import field, frozen

from domain.decider import Context, Decider
from domain.errors import Rejected
from domain.media import Media

#: The most likes a rate window may allow: the state keeps that many like times.
MAX_RATE_LIMIT: Final = 1_000
#: The longest window either rule may use (a year).
MAX_WINDOW_SEC: Final = 366 * 24 * 3600
RULES_KEY: Final = "like_rules"


@frozen
class LikeRules:
    """At most `rate_limit` likes per user in any `rate_window_sec`; one like per user per
    medium in `dedupe_window_sec` (0: no dedupe)."""

    rate_limit: int = 5
    rate_window_sec: int = 60
    dedupe_window_sec: int = 86_400

    def problem(self) -> str | None:
        """Why these rules cannot be used, or None."""
        if not 1 <= self.rate_limit <= MAX_RATE_LIMIT:
            return f"rate_limit must be between 1 and {MAX_RATE_LIMIT}"
        if not 1 <= self.rate_window_sec <= MAX_WINDOW_SEC:
            return f"rate_window_seconds must be between 1 and {MAX_WINDOW_SEC}"
        if not 0 <= self.dedupe_window_sec <= MAX_WINDOW_SEC:
            return f"dedupe_window_seconds must be between 0 and {MAX_WINDOW_SEC}"
        return None


@frozen
class Playing:
    """What the queue says is playing: our item id, its medium, and since when."""

    item_id: str
    media: Media
    since: datetime | None = None


@frozen
class Like:
    user: str
    item_id: str | None
    playing: Playing | None


LikeCommand = Like


@frozen
class Liked:
    VERSION: ClassVar[int] = 1
    user: str
    item_id: str
    media: Media
    at: datetime
    forget_before: datetime


LikeEvent = Liked
LIKE_EVENTS: tuple[type, ...] = (Liked,)


class LikeRefused(Rejected):
    """A refusal that clears by itself: `until` is when the same like would be accepted;
    `retry_after_sec`, how long that is from the decision's now."""

    def __init__(self, code: str, message: str, until: datetime, now: datetime) -> None:
        super().__init__(code, message)
        self.until = until
        self.retry_after_sec = max((until - now).total_seconds(), 0.0)


def _frozen_map(value: Mapping[str, datetime]) -> Mapping[str, datetime]:
    return MappingProxyType(dict(value))


@frozen
class LikesState:
    """`recent`: accepted like times, oldest first (at most MAX_RATE_LIMIT); `last_liked`: the
    latest like of each medium the user liked since the last `forget_before`."""

    user_key: str
    recent: tuple[datetime, ...] = ()
    last_liked: Mapping[str, datetime] = field(factory=dict, converter=_frozen_map)
    likes: int = 0


def media_key(media: Media) -> str:
    """`type:id` (CyTube's media types hold no colon, so the first one splits it)."""
    return f"{media.type}:{media.id}"


def initial(user_key: str) -> LikesState:
    return LikesState(user_key=user_key)


def _rules(ctx: Context) -> LikeRules:
    rules = ctx.config.get(RULES_KEY, LikeRules())
    if not isinstance(rules, LikeRules):
        raise TypeError(f"config[{RULES_KEY!r}] must be LikeRules, got {type(rules).__name__}")
    return rules


def _clock(at: datetime, now: datetime) -> str:
    """`20:10:00 UTC` today, `2026-11-21 20:10:00 UTC` on another day."""
    if at.utcoffset() != timedelta(0):
        return at.isoformat()
    return at.strftime("%H:%M:%S UTC" if at.date() == now.date() else "%Y-%m-%d %H:%M:%S UTC")


def _span(seconds: int) -> str:
    """`minute`, `10 minutes`, `day`: a length as in "one like per ..."."""
    for unit, size in (("day", 86_400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return unit if n == 1 else f"{n} {unit}s"
    return "second" if seconds == 1 else f"{seconds} seconds"


def _title(media: Media) -> str:
    return repr(media.title) if media.title else f"{media.type}:{media.id}"


def decide(state: LikesState, cmd: LikeCommand, ctx: Context) -> tuple[LikeEvent, ...]:
    rules = _rules(ctx)
    now = ctx.now
    playing = cmd.playing
    if playing is None:
        raise Rejected(
            "nothing_playing", "Nothing is playing right now, so there is nothing to like."
        )
    if cmd.item_id is not None and cmd.item_id != playing.item_id:
        raise Rejected(
            "not_playing",
            f"Item {cmd.item_id} is not playing; {_title(playing.media)} ({playing.item_id}) "
            "is playing now. Only what is playing can be liked.",
        )
    if rules.dedupe_window_sec:
        last = state.last_liked.get(media_key(playing.media))
        if last is not None:
            until = last + timedelta(seconds=rules.dedupe_window_sec)
            if now < until:
                raise LikeRefused(
                    "already_liked",
                    f"You liked {_title(playing.media)} at {_clock(last, now)}; one like per "
                    f"{_span(rules.dedupe_window_sec)} counts, so it can be liked again from "
                    f"{_clock(until, now)}.",
                    until,
                    now,
                )
    window = timedelta(seconds=rules.rate_window_sec)
    inside = [t for t in state.recent if t > now - window]
    if len(inside) >= rules.rate_limit:
        until = inside[len(inside) - rules.rate_limit] + window
        raise LikeRefused(
            "like_rate_limited",
            f"At most {rules.rate_limit} like{'' if rules.rate_limit == 1 else 's'} every "
            f"{_span(rules.rate_window_sec)}; your next like counts from {_clock(until, now)}.",
            until,
            now,
        )
    keep = max(rules.rate_window_sec, rules.dedupe_window_sec)
    return (
        Liked(
            user=cmd.user,
            item_id=playing.item_id,
            media=playing.media,
            at=now,
            forget_before=now - timedelta(seconds=keep),
        ),
    )


def evolve(state: LikesState, event: LikeEvent) -> LikesState:
    cutoff = event.forget_before
    kept = [t for t in state.recent if t > cutoff][-(MAX_RATE_LIMIT - 1) :]
    recent = (*kept, event.at)
    last = {key: at for key, at in state.last_liked.items() if at > cutoff}
    last[media_key(event.media)] = event.at
    return replace(state, recent=recent, last_liked=last, likes=state.likes + 1)


likes_decider: Decider[LikesState, LikeCommand, LikeEvent] = Decider(
    aggregate="likes", initial=initial, decide=decide, evolve=evolve
)
