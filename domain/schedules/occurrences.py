"""A schedule's occurrences, from its first fire time and an optional RFC 5545 RRULE.

Pure: the time zone is handed in (a `tzinfo`, the channel's configured zone) and so are the
bounds; nothing here reads a clock. The rule is expanded in the zone's wall time, starting at
the first fire time as the zone shows it, so "every Friday at 20:00" stays at 20:00 local across
a DST change (its UTC time moves by the hour): DST is the zone's business, never done by hand.
A wall time that does not exist (the spring-forward gap) is taken as the zone maps it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, tzinfo

from dateutil.rrule import rrule, rrulestr

from domain.errors import Rejected

MAX_RULE = 500
_UNTIL_UTC = re.compile(r"UNTIL=(\d{8}T\d{6})Z", re.IGNORECASE)
#: How many occurrences one expansion may produce at most (a safety bound, not a limit a
#: sensible schedule meets: a year of hourly occurrences is 8760).
MAX_OCCURRENCES = 10_000


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("times in a schedule are aware (UTC)")
    return value.astimezone(UTC)


def parse_rule(text: str, first: datetime, tz: tzinfo) -> rrule:
    """The rule as dateutil reads it, anchored at `first` in wall time of `tz`; refused with
    `invalid_rrule` when it is not a single RRULE (no DTSTART of its own, no EXDATE sets)."""
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[len("RRULE:") :]
    if not body or len(body) > MAX_RULE or "\n" in body or "DTSTART" in body.upper():
        raise Rejected(
            "invalid_rrule", "A recurrence is one RFC 5545 RRULE, like FREQ=WEEKLY;BYDAY=FR."
        )
    start = _utc(first).astimezone(tz).replace(tzinfo=None)
    body = _UNTIL_UTC.sub(lambda m: "UNTIL=" + _wall_until(m.group(1), tz), body)
    try:
        rule = rrulestr(body, dtstart=start)
    except (ValueError, TypeError) as exc:
        raise Rejected("invalid_rrule", f"Not a recurrence rule dateutil can read: {exc}") from exc
    if not isinstance(rule, rrule):  # pragma: no cover - rrulestr without forceset
        raise Rejected("invalid_rrule", "A recurrence is a single RRULE.")
    return rule


def _wall_until(value: str, tz: tzinfo) -> str:
    """An UNTIL given in UTC (`...Z`) as the zone's wall time, the frame the rule runs in."""
    at = datetime.strptime(value, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    return at.astimezone(tz).strftime("%Y%m%dT%H%M%S")


def _aware(wall: datetime, tz: tzinfo) -> datetime:
    return wall.replace(tzinfo=tz).astimezone(UTC)


def iter_occurrences(first: datetime, rule: str | None, tz: tzinfo) -> Iterator[datetime]:
    """Every occurrence in UTC, in order, from `first` (which is the first one even when the
    rule would not pick it, as RFC 5545 has DTSTART count as the first instance)."""
    first = _utc(first)
    yield first
    if rule is None:
        return
    parsed = parse_rule(rule, first, tz)
    produced = 1
    for wall in parsed:
        at = _aware(wall, tz)
        if at <= first:
            continue
        produced += 1
        if produced > MAX_OCCURRENCES:
            return
        yield at


def occurrences(
    first: datetime,
    rule: str | None,
    tz: tzinfo,
    start: datetime,
    end: datetime,
    *,
    limit: int = MAX_OCCURRENCES,
) -> list[datetime]:
    """The occurrences at or after `start` and before `end`, in UTC, at most `limit`."""
    start, end = _utc(start), _utc(end)
    found: list[datetime] = []
    for at in iter_occurrences(first, rule, tz):
        if at >= end or len(found) >= limit:
            break
        if at >= start:
            found.append(at)
    return found


def next_after(first: datetime, rule: str | None, tz: tzinfo, after: datetime) -> datetime | None:
    """The first occurrence strictly after `after`, or None when the rule has ended."""
    after = _utc(after)
    for at in iter_occurrences(first, rule, tz):
        if at > after:
            return at
    return None


def validate_rule(rule: str | None, first: datetime, tz: tzinfo) -> None:
    if rule is not None:
        parse_rule(rule, first, tz)
