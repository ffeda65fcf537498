"""Channel stats as people read them: totals, money, and what played most in a window.

Windows are half-open, `since <= played_at < until`, on the commit time of each play. A window
is given either as two RFC 3339 times (`since`, `until`, each optional) or as a length back from
the clock's now (`window=7d`; units m, h, d, w). Anything else is an `InvalidWindow`, which the
HTTP layer answers with a 400.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import msgspec

from application.clock import Clock
from application.projections.ports import ProjectionStore
from application.projections.reads import at_one_checkpoint
from application.stats.projection import (
    CANCELLATIONS_BY_REASON,
    CAPTURED,
    CHANNELS,
    COUNTERS,
    ITEMS_PLAYED,
    ITEMS_QUEUED,
    MEDIA,
    PAID_BY_TIER,
    PLAYED_DURATION,
    PLAYED_DURATION_BY_KIND,
    PLAYS,
    PLAYS_BY_KIND,
    PROMO_PLAYS_BY_TYPE,
    QUEUED_DURATION,
    REFUNDED_BY_REASON,
    REFUNDED_TOTAL,
    REFUSALS_BY_RULE,
    VIEWERS,
    StatsProjection,
)

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
#: The longest `window=` accepted; a longer one is surely a typo (and would overflow dates).
MAX_WINDOW = timedelta(days=10 * 366)

_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_WINDOW = re.compile(r"^(\d{1,7})([mhdw])$")
# RFC 3339 date-time. A "+" in an offset arrives as a space when the query string was not
# percent-encoded, so a space is read as "+" there.
_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?)([Zz]|[+\- ]\d{2}:\d{2})$"
)


class InvalidWindow(ValueError):
    """A time window that cannot be read; `field` names the query parameter at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def parse_time(field: str, value: str) -> datetime:
    """An RFC 3339 date-time with its offset (`2026-11-20T21:00:00Z`, `...+01:00`)."""
    match = _RFC3339.match(value.strip())
    if match is None:
        raise InvalidWindow(
            field,
            f"{field}={value!r} is not an RFC 3339 time with an offset, "
            "like 2026-11-20T21:00:00Z or 2026-11-20T22:00:00+01:00.",
        )
    date, time, offset = match.groups()
    offset = "+00:00" if offset in ("Z", "z") else "+" + offset[1:] if offset[0] == " " else offset
    fraction = ""
    if "." in time:  # Python keeps microseconds: cut nanoseconds, pad shorter fractions
        time, digits = time.split(".")
        fraction = "." + digits[:6].ljust(6, "0")
    try:
        return datetime.fromisoformat(f"{date}T{time}{fraction}{offset}")
    except ValueError as exc:
        raise InvalidWindow(field, f"{field}={value!r} is not a valid time: {exc}.") from exc


def parse_length(value: str) -> timedelta:
    """`30m`, `12h`, `7d`, `2w`: a positive whole number and one unit."""
    match = _WINDOW.match(value.strip())
    if match is None:
        raise InvalidWindow(
            "window",
            f"window={value!r} is not a length like 30m, 12h, 7d or 2w "
            "(a whole number, then m, h, d or w).",
        )
    amount, unit = int(match.group(1)), match.group(2)
    if amount == 0:
        raise InvalidWindow("window", "window must be longer than zero.")
    length = timedelta(**{_UNITS[unit]: amount})
    if length > MAX_WINDOW:
        raise InvalidWindow("window", f"window={value!r} is longer than ten years.")
    return length


def parse_window(
    since: str | None, until: str | None, window: str | None, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """(since, until) from the query; None is open-ended. Empty values count as absent."""
    since, until, window = since or None, until or None, window or None
    if window is not None:
        if since is not None or until is not None:
            raise InvalidWindow("window", "Give either window, or since and/or until, not both.")
        return now - parse_length(window), now
    start = None if since is None else parse_time("since", since)
    end = None if until is None else parse_time("until", until)
    if start is not None and end is not None and start >= end:
        raise InvalidWindow("until", "until must be later than since.")
    return start, end


class ChannelStats(msgspec.Struct):
    """Totals since the channel's first event. Durations are in seconds, money in the channel's
    currency. `position`: the log position the stats reflect; `channel_position`: the last
    commit of this channel folded in (0: none yet)."""

    channel: str
    position: int
    channel_position: int
    generated_at: datetime
    items_queued: int
    queued_duration_sec: int
    items_played: int
    played_duration_sec: int
    plays_by_kind: dict[str, int]
    played_duration_by_kind: dict[str, int]
    paid_by_tier: dict[str, int]
    captured: int
    refunded_total: int
    refunded_by_reason: dict[str, int]
    net: int
    promo_plays_by_type: dict[str, int]
    cancellations_by_reason: dict[str, int]
    #: Purchases a request rule refused before any money moved, by rule (`rule_*` code).
    refusals_by_rule: dict[str, int] = msgspec.field(default_factory=dict)


class TopItem(msgspec.Struct):
    media_type: str
    media_id: str
    title: str
    plays: int
    last_played: datetime


class ViewerSpend(msgspec.Struct):
    """One viewer's purchases in a channel since its first event. `purchases`: made (declined
    ones too); `declined`: the economy said no; `played`: started playing; `refunded`: given
    back (`refunded_coins` in all); `spent` = `captured` - `refunded_coins`."""

    user: str
    purchases: int
    declined: int
    played: int
    refunded: int
    captured: int
    refunded_coins: int
    spent: int


class ViewersSpend(msgspec.Struct):
    """Purchases and spend per viewer (admins), most spent first (ties: most purchases, then by
    name). `position`: the log position the stats reflect."""

    channel: str
    position: int
    generated_at: datetime
    viewers: list[ViewerSpend]


def _ranked(items: list[TopItem], limit: int) -> list[TopItem]:
    """Most plays first; ties: most recently played first, then by media."""
    items.sort(key=lambda i: (i.media_type, i.media_id))
    items.sort(key=lambda i: (i.plays, i.last_played), reverse=True)
    return items[:limit]


class StatsQueries:
    def __init__(self, read_models: ProjectionStore, clock: Clock) -> None:
        self._store = read_models
        self._clock = clock

    def window(
        self, since: str | None, until: str | None, window: str | None
    ) -> tuple[datetime | None, datetime | None]:
        """The query's window against the clock's now; InvalidWindow when it cannot be read."""
        return parse_window(since, until, window, self._clock.now())

    async def summary(self, channel: str) -> ChannelStats:
        async def read() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            return (
                await self._store.fetch(CHANNELS, {"channel": channel}),
                await self._store.fetch(COUNTERS, {"channel": channel}, ("metric", "key")),
            )

        position, (channel_rows, counter_rows) = await at_one_checkpoint(
            self._store, StatsProjection.name, read
        )
        counters: dict[str, dict[str, int]] = {}
        for row in counter_rows:
            counters.setdefault(row["metric"], {})[row["key"]] = int(row["value"])

        def total(metric: str) -> int:
            return counters.get(metric, {}).get("", 0)

        def keyed(metric: str) -> dict[str, int]:
            return dict(counters.get(metric, {}))

        captured, refunded = total(CAPTURED), total(REFUNDED_TOTAL)
        return ChannelStats(
            channel=channel,
            position=position,
            channel_position=channel_rows[0]["position"] if channel_rows else 0,
            generated_at=self._clock.now(),
            items_queued=total(ITEMS_QUEUED),
            queued_duration_sec=total(QUEUED_DURATION),
            items_played=total(ITEMS_PLAYED),
            played_duration_sec=total(PLAYED_DURATION),
            plays_by_kind=keyed(PLAYS_BY_KIND),
            played_duration_by_kind=keyed(PLAYED_DURATION_BY_KIND),
            paid_by_tier=keyed(PAID_BY_TIER),
            captured=captured,
            refunded_total=refunded,
            refunded_by_reason=keyed(REFUNDED_BY_REASON),
            net=captured - refunded,
            promo_plays_by_type=keyed(PROMO_PLAYS_BY_TYPE),
            cancellations_by_reason=keyed(CANCELLATIONS_BY_REASON),
            refusals_by_rule=keyed(REFUSALS_BY_RULE),
        )

    async def top_played(
        self,
        channel: str,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> list[TopItem]:
        """The most played media in `[since, until)`; without bounds, of all time."""
        limit = max(1, min(limit, MAX_LIMIT))
        if since is None and until is None:
            rows = await self._store.fetch(MEDIA, {"channel": channel})
            return _ranked(
                [
                    TopItem(
                        r["media_type"], r["media_id"], r["title"], r["plays"], r["last_played"]
                    )
                    for r in rows
                ],
                limit,
            )
        # The store reads by equality only, so the window is applied here: one pass over the
        # channel's play log. A range read in the ProjectionStore port would push this to SQL.
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for row in await self._store.fetch(PLAYS, {"channel": channel}, ("position", "seq")):
            at = row["played_at"]
            if (since is not None and at < since) or (until is not None and at >= until):
                continue
            key = (row["media_type"], row["media_id"])
            seen = found.get(key)
            if seen is None:
                found[key] = {"title": row["title"], "plays": 1, "last_played": at}
                continue
            seen["plays"] += 1
            if at >= seen["last_played"]:
                seen["last_played"], seen["title"] = at, row["title"]
        return _ranked(
            [
                TopItem(type_, id_, s["title"], s["plays"], s["last_played"])
                for (type_, id_), s in found.items()
            ],
            limit,
        )

    async def viewers(self, channel: str) -> ViewersSpend:
        """Every viewer who ever bought in `channel`, with what they bought and spent."""
        position, rows = await at_one_checkpoint(
            self._store,
            StatsProjection.name,
            lambda: self._store.fetch(VIEWERS, {"channel": channel}, ("user",)),
        )
        found = [
            ViewerSpend(
                user=r["user"],
                purchases=int(r["purchases"]),
                declined=int(r["declined"]),
                played=int(r["played"]),
                refunded=int(r["refunded"]),
                captured=int(r["captured"]),
                refunded_coins=int(r["refunded_coins"]),
                spent=int(r["captured"]) - int(r["refunded_coins"]),
            )
            for r in rows
        ]
        found.sort(key=lambda v: (-v.spent, -v.purchases, v.user))
        return ViewersSpend(channel, position, self._clock.now(), found)
