"""Likes as people read them: what plays now and its count (everyone), and for privileged users
(blessed, admin) the likes of one queue item or medium, likes per time bucket, and top liked.

Windows are the stats' (`application.stats.queries`): half-open `since <= liked_at < until`,
given as RFC 3339 times or as a length back from now (`window=7d`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import msgspec

from application.clock import Clock
from application.identity.roles import Identity, require
from application.likes.playing import NowPlaying
from application.likes.projection import ITEMS, LOG, MEDIA, LikesProjection
from application.projections.ports import ProjectionStore
from application.stats.queries import DEFAULT_LIMIT, MAX_LIMIT, parse_window

Bucket = Literal["hour", "day"]
#: The most buckets one answer holds (a year of days, two months of hours).
MAX_BUCKETS = 1_500


class NowLiked(msgspec.Struct):
    """What plays now and how many likes this play has; `item_id` None: nothing plays."""

    channel: str
    item_id: str | None
    media_type: str | None
    media_id: str | None
    title: str | None
    likes: int


class LikedMedia(msgspec.Struct):
    media_type: str
    media_id: str
    title: str
    likes: int
    last_liked: datetime


class ItemLikes(msgspec.Struct):
    """One queue item (one play of a medium) and its likes."""

    item_id: str
    media_type: str
    media_id: str
    title: str
    likes: int
    last_liked: datetime | None


class LikesInBucket(msgspec.Struct):
    start: datetime
    likes: int


class LikesOverTime(msgspec.Struct):
    bucket: str
    since: datetime | None
    until: datetime | None
    total: int
    buckets: list[LikesInBucket]


def _ranked(items: list[LikedMedia], limit: int) -> list[LikedMedia]:
    """Most likes first; ties: most recently liked first, then by media."""
    items.sort(key=lambda i: (i.media_type, i.media_id))
    items.sort(key=lambda i: (i.likes, i.last_liked), reverse=True)
    return items[:limit]


def _floor(at: datetime, bucket: Bucket) -> datetime:
    at = at.astimezone(UTC)
    if bucket == "day":
        return at.replace(hour=0, minute=0, second=0, microsecond=0)
    return at.replace(minute=0, second=0, microsecond=0)


class LikesQueries:
    def __init__(
        self,
        store: ProjectionStore,
        clock: Clock,
        projection: LikesProjection,
        now_playing: NowPlaying,
    ) -> None:
        self._store = store
        self._clock = clock
        self._projection = projection
        self._now_playing = now_playing

    def window(
        self, since: str | None, until: str | None, window: str | None
    ) -> tuple[datetime | None, datetime | None]:
        """The query's window against the clock's now; InvalidWindow when it cannot be read."""
        return parse_window(since, until, window, self._clock.now())

    async def now(self, channel: str) -> NowLiked:
        playing = await self._now_playing.playing(channel)
        if playing is None:
            return NowLiked(channel, None, None, None, None, 0)
        media = playing.media
        count = self._projection.count(channel, playing.item_id)
        return NowLiked(channel, playing.item_id, media.type, media.id, media.title, count)

    async def _log(
        self, channel: str, since: datetime | None, until: datetime | None
    ) -> list[dict[str, Any]]:
        # The store reads by equality only, so the window is applied here (as the stats do).
        rows = await self._store.fetch(LOG, {"channel": channel}, ("position",))
        return [
            r
            for r in rows
            if (since is None or r["liked_at"] >= since)
            and (until is None or r["liked_at"] < until)
        ]

    async def item(self, who: Identity, channel: str, item_id: str) -> ItemLikes | None:
        require(who, "blessed")
        rows = await self._store.fetch(ITEMS, {"channel": channel, "item_id": item_id})
        if not rows:
            return None
        r = rows[0]
        return ItemLikes(
            item_id, r["media_type"], r["media_id"], r["title"], int(r["likes"]), r["last_liked"]
        )

    async def media(
        self,
        who: Identity,
        channel: str,
        media_type: str,
        media_id: str,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> LikedMedia | None:
        """A medium's likes over every play of it, all time or in a window; None: never liked."""
        require(who, "blessed")
        if since is None and until is None:
            match = {"channel": channel, "media_type": media_type, "media_id": media_id}
            rows = await self._store.fetch(MEDIA, match)
            if not rows:
                return None
            r = rows[0]
            return LikedMedia(media_type, media_id, r["title"], int(r["likes"]), r["last_liked"])
        found = [
            r
            for r in await self._log(channel, since, until)
            if (r["media_type"], r["media_id"]) == (media_type, media_id)
        ]
        if not found:
            return None
        last = max(found, key=lambda r: r["liked_at"])
        return LikedMedia(media_type, media_id, last["title"], len(found), last["liked_at"])

    async def top_liked(
        self,
        who: Identity,
        channel: str,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> list[LikedMedia]:
        require(who, "blessed")
        limit = max(1, min(limit, MAX_LIMIT))
        if since is None and until is None:
            rows = await self._store.fetch(MEDIA, {"channel": channel})
            return _ranked(
                [
                    LikedMedia(
                        r["media_type"], r["media_id"], r["title"], int(r["likes"]), r["last_liked"]
                    )
                    for r in rows
                ],
                limit,
            )
        found: dict[tuple[str, str], LikedMedia] = {}
        for r in await self._log(channel, since, until):
            key = (r["media_type"], r["media_id"])
            seen = found.get(key)
            if seen is None:
                found[key] = LikedMedia(key[0], key[1], r["title"], 1, r["liked_at"])
                continue
            seen.likes += 1
            if r["liked_at"] >= seen.last_liked:
                seen.last_liked, seen.title = r["liked_at"], r["title"]
        return _ranked(list(found.values()), limit)

    async def over_time(
        self,
        who: Identity,
        channel: str,
        since: datetime | None,
        until: datetime | None,
        bucket: Bucket = "day",
    ) -> LikesOverTime:
        """Likes per hour or per day (UTC) in the window, oldest first; empty buckets between
        the first and the last are listed with 0, at most MAX_BUCKETS (the newest kept)."""
        require(who, "blessed")
        counts: dict[datetime, int] = {}
        rows = await self._log(channel, since, until)
        for r in rows:
            start = _floor(r["liked_at"], bucket)
            counts[start] = counts.get(start, 0) + 1
        buckets: list[LikesInBucket] = []
        if counts:
            step = timedelta(days=1) if bucket == "day" else timedelta(hours=1)
            first = _floor(since, bucket) if since is not None else min(counts)
            last = _floor(until - timedelta(microseconds=1), bucket) if until else max(counts)
            first = max(first, last - step * (MAX_BUCKETS - 1))
            at = first
            while at <= last:
                buckets.append(LikesInBucket(at, counts.get(at, 0)))
                at += step
        return LikesOverTime(bucket, since, until, len(rows), buckets)
