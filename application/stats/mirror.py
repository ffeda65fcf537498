"""The channel's stats copied to a key-value bucket other Kryten services can read.

The log is the truth: the mirror folds it from the start (`StatsFold`, plays from the queue
aggregate and likes from the likes aggregates), so a bucket that missed writes, was wiped or
was never there is rebuilt from the log alone. After the fold reaches the log's head it
compares the whole bucket with what it holds (puts what differs, deletes what it does not
hold), then writes each changed key as commits arrive. Values hold nothing but what the log
says (no time of writing), so a bucket rebuilt from the log equals the one kept live.

What counts as a play is what the stats projection counts: a `NowPlayingChanged` to an item we
hold, at its commit's time; a like is a `Liked`. Layout (keys and values): docs/stats-kv.md.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

import msgspec

from application.health import PartHealth
from application.log.ports import EventStore, StoredCommit
from domain.likes.model import Liked
from domain.media import Media
from domain.queue.events import ItemAdded, ItemRemoved, NowPlayingChanged
from domain.rules.config import RequestRefusedByRule

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode
#: How many media the `top.played` and `top.liked` keys list.
TOP = 20
_PLAIN = re.compile(r"[A-Za-z0-9_-]{1,200}")


class StatsBucket(Protocol):
    """A KV bucket seen through one channel's keys (`{channel}.` is the adapter's prefix)."""

    async def put(self, key: str, value: bytes) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def keys(self) -> set[str]: ...


def key_token(value: str) -> str:
    """A media type or id as one key token: itself when it is plain letters, digits, `_` and
    `-`; otherwise `=` and its unpadded URL-safe base64 (a KV key allows no `:` or `/`)."""
    if _PLAIN.fullmatch(value):
        return value
    return "=" + base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def media_key(media_type: str, media_id: str) -> str:
    return f"media.{key_token(media_type)}.{key_token(media_id)}"


def day_key(at: datetime) -> str:
    return f"day.{at.date().isoformat()}"


class _MediaTotals:
    __slots__ = ("duration_sec", "last_liked", "last_played", "likes", "plays", "title")

    def __init__(self, media: Media) -> None:
        self.title = media.title
        self.duration_sec = media.duration_sec
        self.plays = 0
        self.likes = 0
        self.last_played: datetime | None = None
        self.last_liked: datetime | None = None


class StatsFold:
    """One channel's stats as the bucket holds them, folded commit by commit from the log.
    `dirty` names the keys changed since it was last emptied."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.position = 0
        self.dirty: set[str] = set()
        self._items: dict[str, Media] = {}
        self._media: dict[tuple[str, str], _MediaTotals] = {}
        self._media_keys: dict[str, tuple[str, str]] = {}  # bucket key -> (type, id)
        self._days: dict[str, dict[str, Any]] = {}
        self._totals = {
            "items_queued": 0,
            "queued_duration_sec": 0,
            "items_played": 0,
            "played_duration_sec": 0,
            "likes": 0,
        }
        self._item_likes: dict[str, int] = {}
        self._refusals: dict[str, int] = {}  # purchases refused by a request rule, by rule
        self._now: tuple[str, Media, datetime] | None = None

    # ---- folding -----------------------------------------------------------------------------

    def apply(self, stored: StoredCommit) -> None:
        commit = stored.commit
        self.position = stored.position  # every commit moves it, whatever it holds
        if commit.stream.channel != self.channel or commit.stream.aggregate not in (
            "queue",
            "likes",
            "rule_refusals",
        ):
            return
        for event in commit.events:
            match event:
                case ItemAdded():
                    self._items[event.item_id] = event.media
                    self._totals["items_queued"] += 1
                    self._totals["queued_duration_sec"] += event.media.duration_sec
                    self._day(commit.at)["items_queued"] += 1
                    self.dirty.update(("totals", day_key(commit.at)))
                case ItemRemoved():
                    self._items.pop(event.item_id, None)
                case NowPlayingChanged():
                    self._played(event.item_id, commit.at)
                case Liked():
                    self._liked(event)
                case RequestRefusedByRule():
                    self._refusals[event.code] = self._refusals.get(event.code, 0) + 1
                    self.dirty.add("refusals")

    def _day(self, at: datetime) -> dict[str, Any]:
        key = at.date().isoformat()
        day = self._days.get(key)
        if day is None:
            day = {"date": key, "items_queued": 0, "plays": 0, "played_duration_sec": 0, "likes": 0}
            self._days[key] = day
        return day

    def _totals_of(self, media: Media) -> _MediaTotals:
        totals = self._media.get(media.key)
        if totals is None:
            totals = self._media[media.key] = _MediaTotals(media)
            self._media_keys[media_key(media.type, media.id)] = media.key
        return totals

    def _played(self, item_id: str | None, at: datetime) -> None:
        media = None if item_id is None else self._items.get(item_id)
        if media is None or item_id is None:
            if self._now is not None:
                self._now = None
                self.dirty.add("now")
            return
        totals = self._totals_of(media)
        totals.plays += 1
        totals.title, totals.duration_sec = media.title, media.duration_sec
        totals.last_played = at if totals.last_played is None else max(totals.last_played, at)
        self._totals["items_played"] += 1
        self._totals["played_duration_sec"] += media.duration_sec
        day = self._day(at)
        day["plays"] += 1
        day["played_duration_sec"] += media.duration_sec
        self._now = (item_id, media, at)
        self.dirty.update(
            ("totals", "now", "top.played", day_key(at), media_key(media.type, media.id))
        )

    def _liked(self, event: Liked) -> None:
        media, at = event.media, event.at
        totals = self._totals_of(media)
        totals.likes += 1
        totals.last_liked = at if totals.last_liked is None else max(totals.last_liked, at)
        self._totals["likes"] += 1
        self._day(at)["likes"] += 1
        self._item_likes[event.item_id] = self._item_likes.get(event.item_id, 0) + 1
        self.dirty.update(("totals", "top.liked", day_key(at), media_key(media.type, media.id)))
        if self._now is not None and self._now[0] == event.item_id:
            self.dirty.add("now")

    # ---- the bucket's values -----------------------------------------------------------------

    def _media_value(self, key: tuple[str, str], t: _MediaTotals) -> dict[str, Any]:
        return {
            "media_type": key[0],
            "media_id": key[1],
            "title": t.title,
            "duration_sec": t.duration_sec,
            "plays": t.plays,
            "last_played": t.last_played,
            "likes": t.likes,
            "last_liked": t.last_liked,
        }

    def _top(self, by: str) -> list[dict[str, Any]]:
        ranked = [(k, t) for k, t in self._media.items() if getattr(t, by) > 0]
        ranked.sort(key=lambda kt: kt[0])
        last = "last_played" if by == "plays" else "last_liked"
        ranked.sort(key=lambda kt: (getattr(kt[1], by), getattr(kt[1], last)), reverse=True)
        return [
            {
                "media_type": k[0],
                "media_id": k[1],
                "title": t.title,
                by: getattr(t, by),
                last: getattr(t, last),
            }
            for k, t in ranked[:TOP]
        ]

    def value(self, key: str) -> dict[str, Any] | list[Any] | None:
        """What the bucket holds at `key`, or None when it holds nothing there."""
        if key == "totals":
            return {"channel": self.channel, **self._totals}
        if key == "now":
            if self._now is None:
                return {"item_id": None}
            item_id, media, since = self._now
            return {
                "item_id": item_id,
                "media_type": media.type,
                "media_id": media.id,
                "title": media.title,
                "duration_sec": media.duration_sec,
                "started_at": since,
                "likes": self._item_likes.get(item_id, 0),
            }
        if key == "refusals":
            if not self._refusals:
                return None
            return {"channel": self.channel, "by_rule": dict(sorted(self._refusals.items()))}
        if key == "top.played":
            return self._top("plays")
        if key == "top.liked":
            return self._top("likes")
        if key.startswith("day."):
            return self._days.get(key[4:])
        found = self._media_keys.get(key)
        return None if found is None else self._media_value(found, self._media[found])

    def values(self) -> Mapping[str, bytes]:
        """Every key the bucket should hold, encoded."""
        found: dict[str, Any] = {
            "totals": self.value("totals"),
            "now": self.value("now"),
            "top.played": self._top("plays"),
            "top.liked": self._top("likes"),
        }
        if self._refusals:
            found["refusals"] = self.value("refusals")
        for day in self._days.values():
            found[f"day.{day['date']}"] = day
        for media, totals in self._media.items():
            found[media_key(*media)] = self._media_value(media, totals)
        return {k: _encode(v) for k, v in found.items()}

    def take_dirty(self) -> dict[str, bytes | None]:
        """The changed keys and their values now (None: delete), emptying `dirty`."""
        keys, self.dirty = self.dirty, set()
        out: dict[str, bytes | None] = {}
        for key in keys:
            value = self.value(key)
            out[key] = None if value is None else _encode(value)
        return out


class StatsMirrorRunner:
    """Follows the log from the start and keeps the bucket equal to the fold."""

    def __init__(self, events: EventStore, bucket: StatsBucket, channel: str) -> None:
        self._events = events
        self._bucket = bucket
        self.fold = StatsFold(channel)
        self._dirty = asyncio.Event()
        self._caught_up = asyncio.Event()
        self._synced_to = 0
        self._written: dict[str, bytes] = {}
        self._synced = asyncio.Event()
        self.health = PartHealth("degraded", "not synchronised yet")

    @property
    def synced_to(self) -> int:
        """The log position the bucket reflects (0 before the first full comparison)."""
        return self._synced_to

    async def wait_synced(self, position: int) -> None:
        """Until the bucket reflects the log up to at least `position` (for tests)."""
        while self._synced_to < position:
            self._synced.clear()
            await self._synced.wait()

    async def run(self) -> None:
        writer = asyncio.create_task(self._write())
        try:
            head = await self._head()
            if head == 0:
                self._caught_up.set()
            async for stored in self._events.subscribe(0):
                self.fold.apply(stored)
                if stored.position >= head:
                    self._caught_up.set()
                self._dirty.set()
        finally:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)

    async def _head(self) -> int:
        while True:
            try:
                return await self._events.head()
            except Exception:
                log.warning("stats mirror: the log's head is not readable yet; retrying")
                await asyncio.sleep(1.0)

    async def _write(self) -> None:
        await self._caught_up.wait()
        full = True
        while True:
            self._dirty.clear()
            position = self.fold.position
            try:
                if full:
                    await self.sync()
                    full = False
                else:
                    for key, value in self.fold.take_dirty().items():
                        await self._put(key, value)
                self.health = PartHealth("ok")
            except Exception as exc:
                self.health = PartHealth("degraded", f"the KV copy failed: {exc!r}; retrying")
                log.warning("stats mirror: %r; retrying", exc)
                full = True
                await asyncio.sleep(2.0)
                continue
            self._synced_to = position
            self._synced.set()
            await self._dirty.wait()

    async def _put(self, key: str, value: bytes | None) -> None:
        if value is None:
            await self._bucket.delete(key)
            self._written.pop(key, None)
        elif self._written.get(key) != value:
            await self._bucket.put(key, value)
            self._written[key] = value

    async def sync(self) -> None:
        """Make the bucket hold exactly what the fold holds."""
        self.fold.dirty.clear()
        wanted = self.fold.values()
        held = await self._bucket.keys()
        self._written = {}
        for key, value in wanted.items():
            await self._bucket.put(key, value)
            self._written[key] = value
        for key in held - set(wanted):
            await self._bucket.delete(key)
