"""Event replay: the log as one row per event, filtered, for analysts (CLI and HTTP alike).

A row is one event with the commit it came in: `position, at, channel, aggregate, aggregate_id,
commit_id, version, actor, type, v, data`, in log order, each event once. Filters: the channel,
a range of commit times (`since` inclusive, `until` exclusive), a range of positions (after one,
up to and including one), and event type names.

The application does not know the wire format, so whoever builds rows hands in the codec's
`encode_event` (anything giving a `{type, v, data}` with `data` as raw JSON).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import AsyncGenerator, Callable, Iterable
from contextlib import aclosing
from datetime import datetime
from typing import Protocol

import msgspec
from attrs import frozen

from application.log.ports import EventStore, StoredCommit, release
from domain.registry import EVENT_TYPES

DEFAULT_PAGE = 1_000
MAX_PAGE = 10_000

_POSITION = re.compile(r"[0-9]{1,19}")


class BadReplayQuery(ValueError):
    """An argument that selects nothing sensible; the message says why (HTTP 400, CLI exit 2),
    `field` names the argument."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class WireEvent(Protocol):
    """An event as the log stores it (the codec's `EventWire`)."""

    @property
    def type(self) -> str: ...

    @property
    def v(self) -> int: ...

    @property
    def data(self) -> msgspec.Raw: ...


EncodeEvent = Callable[[object], WireEvent]
"""The codec's `encode_event`."""


class EventRow(msgspec.Struct, frozen=True):
    """One event and the commit it came in; `data` is the event's JSON as stored."""

    position: int
    at: datetime
    channel: str
    aggregate: str
    aggregate_id: str
    commit_id: str
    version: int
    actor: str
    type: str
    v: int
    data: msgspec.Raw


COLUMNS: tuple[str, ...] = EventRow.__struct_fields__


def parse_log_point(text: str, what: str = "value") -> int | datetime:
    """A log position (a whole number) or an RFC 3339 time with its UTC offset."""
    value = text.strip()
    if _POSITION.fullmatch(value):
        return int(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadReplayQuery(
            f"{what} must be an RFC 3339 time such as 2026-11-20T21:03:04Z or a log position "
            f"(a whole number), not {text!r}",
            what,
        ) from None
    if moment.tzinfo is None:
        raise BadReplayQuery(
            f"{what} {text!r} has no UTC offset; end it with Z or an offset such as +01:00 "
            "(in a URL, write + as %2B)",
            what,
        )
    return moment


def check_types(names: Iterable[str]) -> frozenset[str]:
    """Event type names (each may be a comma-separated list), every one known to the registry."""
    wanted = {n.strip() for name in names for n in name.split(",") if n.strip()}
    for name in sorted(wanted):
        if name not in EVENT_TYPES:
            close = difflib.get_close_matches(name, EVENT_TYPES, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise BadReplayQuery(
                f"unknown event type {name!r}{hint}; known types: {', '.join(sorted(EVENT_TYPES))}",
                "type",
            )
    return frozenset(wanted)


@frozen
class ReplayQuery:
    """Which rows: `after < position <= upto`, `since <= at < until`, of these channel and types."""

    channel: str | None = None
    after: int = 0
    upto: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    types: frozenset[str] | None = None

    def keeps(self, at: datetime) -> bool:
        return (self.since is None or at >= self.since) and (self.until is None or at < self.until)


def replay_query(
    *,
    channel: str | None = None,
    since: str | None = None,
    until: str | None = None,
    types: Iterable[str] | None = None,
    after: int = 0,
) -> ReplayQuery:
    """Parse the filters as both entrypoints take them.

    `since`: a time (commits at or after it) or a position (commits after it). `until`: a time
    (commits before it) or a position (commits up to and including it).
    """
    if after < 0:
        raise BadReplayQuery(f"after_position must be 0 or more, not {after}", "after_position")
    start = parse_log_point(since, "since") if since is not None else None
    end = parse_log_point(until, "until") if until is not None else None
    query = ReplayQuery(
        channel=channel or None,
        after=max(after, start) if isinstance(start, int) else after,
        upto=end if isinstance(end, int) else None,
        since=start if isinstance(start, datetime) else None,
        until=end if isinstance(end, datetime) else None,
        types=check_types(types) if types else None,
    )
    if query.since is not None and query.until is not None and query.since >= query.until:
        raise BadReplayQuery(f"since ({since}) must be earlier than until ({until})", "until")
    return query


def rows_of(stored: StoredCommit, encode: EncodeEvent, query: ReplayQuery) -> list[EventRow]:
    """The rows of one commit that pass the query's time and type filters."""
    commit = stored.commit
    if not query.keeps(commit.at):
        return []
    rows = []
    for event in commit.events:
        wire = encode(event)
        if query.types is not None and wire.type not in query.types:
            continue
        rows.append(
            EventRow(
                position=stored.position,
                at=commit.at,
                channel=commit.stream.channel,
                aggregate=commit.stream.aggregate,
                aggregate_id=commit.stream.id,
                commit_id=commit.commit_id,
                version=commit.version,
                actor=commit.actor,
                type=wire.type,
                v=wire.v,
                data=wire.data,
            )
        )
    return rows


@frozen
class Scanned:
    """One commit read, with those of its rows the query keeps (maybe none)."""

    position: int
    rows: list[EventRow]


def last_position(query: ReplayQuery, head: int) -> int:
    """Where a scan up to `head` ends."""
    return head if query.upto is None else min(head, query.upto)


async def scan(
    store: EventStore, encode: EncodeEvent, query: ReplayQuery, head: int
) -> AsyncGenerator[Scanned, None]:
    """Every commit of the query's channel after `query.after` up to `head`, in log order.

    Leave early with `contextlib.aclosing` so the log's reader is let go at once.
    """
    last = last_position(query, head)
    if last <= query.after:
        return
    commits = store.read_all(after=query.after, channel=query.channel)
    try:
        async for stored in commits:
            if stored.position > last:
                break
            yield Scanned(stored.position, rows_of(stored, encode, query))
            if stored.position >= last:
                break
    finally:
        await release(commits)


async def rows(
    store: EventStore, encode: EncodeEvent, query: ReplayQuery, head: int | None = None
) -> AsyncGenerator[EventRow, None]:
    """Every row the query selects, up to the log head (as it is now, unless given)."""
    if head is None:
        head = await store.head()
    async with aclosing(scan(store, encode, query, head)) as commits:
        async for scanned in commits:
            for row in scanned.rows:
                yield row


@frozen
class Page:
    """Rows of whole commits; `next_after` is the position to pass as `after` to go on (every
    selected row up to it has been sent), `head` the log head the page was read against."""

    rows: list[EventRow]
    next_after: int
    head: int


async def page(
    store: EventStore, encode: EncodeEvent, query: ReplayQuery, limit: int = DEFAULT_PAGE
) -> Page:
    """At most `limit` rows after `query.after`. A commit is never split between pages, so a
    page stops before a commit that would overflow it (or, when that commit alone holds more
    than `limit` rows, is that whole commit). A page ending at the head has `next_after == head`
    (less when `upto` stops it earlier); a page with no rows means there is nothing more now."""
    if not 1 <= limit <= MAX_PAGE:
        raise BadReplayQuery(f"limit must be 1 to {MAX_PAGE}, not {limit}", "limit")
    head = await store.head()
    selected: list[EventRow] = []
    cursor = query.after
    async with aclosing(scan(store, encode, query, head)) as commits:
        async for scanned in commits:
            if selected and len(selected) + len(scanned.rows) > limit:
                break
            selected.extend(scanned.rows)
            cursor = scanned.position
            if len(selected) >= limit:
                break
        else:
            cursor = max(cursor, last_position(query, head))
    return Page(selected, cursor, head)
