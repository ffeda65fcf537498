"""The queue as a viewer sees it: now playing, then items in play order with ETAs.

ETAs are computed when asked, from now-playing's start time in the projection and the clock,
so they are never stale however long ago the last event was. Between two items CyTube spends
`TRANSITION_SEC`: it moves on 2 s after an item's end and starts the next one at -3 s, paused
(calzoneman/sync playlist.js `_leadLoop`, `startPlayback`); an ETA counts that for every item
before it, or it would drift 5 s per item.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec

from application.clock import Clock
from application.projections.ports import ProjectionStore
from application.projections.reads import at_one_checkpoint
from application.queue.shadow import CHANNELS, ITEMS, QueueShadowProjection
from domain.queue.commands import CYTUBE_LEAD_IN_SEC, CYTUBE_TAIL_SEC

TRANSITION_SEC = CYTUBE_TAIL_SEC + CYTUBE_LEAD_IN_SEC


class MediaView(msgspec.Struct):
    type: str
    id: str


class PayView(msgspec.Struct):
    """`owner_away_*` and `cancels_at` are set while the buyer is gone or AFK."""

    request_id: str
    paid_by: str
    tier: str
    cost: int
    status: str
    owner_away_reason: str | None = None
    owner_away_since: datetime | None = None
    cancels_at: datetime | None = None


class ItemView(msgspec.Struct):
    item_id: str
    uid: int
    title: str
    media: MediaView
    duration_sec: int
    kind: str
    temp: bool
    queued_by: str
    playlist_index: int
    eta_sec: float | None
    pay: PayView | None = None
    promo_type: str | None = None
    lead_in_for: str | None = None


class NowPlayingView(msgspec.Struct):
    """`likes`: this play's likes (the likes capability's count), None when nothing we hold
    plays or no count is wired."""

    item: ItemView | None
    uid: int | None
    started_at: datetime | None
    elapsed_sec: float | None
    remaining_sec: float | None
    likes: int | None = None


class LockView(msgspec.Struct):
    label: str
    until: datetime | None
    by: str


class QueueView(msgspec.Struct):
    channel: str
    position: int
    channel_position: int
    generated_at: datetime
    now_playing: NowPlayingView | None
    items: list[ItemView]
    lock: LockView | None = None


def _item(row: dict[str, Any], eta: float | None) -> ItemView:
    return ItemView(
        item_id=row["item_id"],
        uid=row["uid"],
        title=row["title"],
        media=MediaView(row["media_type"], row["media_id"]),
        duration_sec=row["duration_sec"],
        kind=row["kind"],
        temp=row["temp"],
        queued_by=row["queued_by"],
        playlist_index=row["position"],
        eta_sec=eta,
        pay=(
            PayView(
                row["request_id"],
                row["paid_by"],
                row["tier"],
                row["cost"],
                row["pay_status"],
                row.get("owner_away_reason"),
                row.get("owner_away_since"),
                row.get("cancels_at"),
            )
            if row.get("request_id") and row.get("paid_by") is not None
            else None
        ),
        promo_type=row.get("promo_type"),
        lead_in_for=row.get("lead_in_for"),
    )


class UnknownChannel(LookupError):
    pass


def build_view(
    channel: str,
    channel_row: dict[str, Any] | None,
    item_rows: list[dict[str, Any]],
    position: int,
    now: datetime,
) -> QueueView:
    if channel_row is None:
        return QueueView(channel, position, 0, now, None, [])
    current_id = channel_row["now_playing_item_id"]
    index = next((i for i, r in enumerate(item_rows) if r["item_id"] == current_id), None)
    clock: float | None
    if index is None:
        upcoming = item_rows
        now_playing = None
        if channel_row["now_playing_uid"] is not None:
            now_playing = NowPlayingView(None, channel_row["now_playing_uid"], None, None, None)
        clock = None
    else:
        current = item_rows[index]
        upcoming = item_rows[index + 1 :] + item_rows[:index]
        since = channel_row["playing_since"]
        # Before `since` (CyTube's 3 s lead-in) nothing has played yet.
        elapsed = max((now - since).total_seconds(), 0.0) if since else None
        remaining = None
        if since is not None and current["duration_sec"] > 0:
            left = max(current["duration_sec"] - (now - since).total_seconds(), 0.0)
            remaining = min(left, float(current["duration_sec"]))
            clock = left + TRANSITION_SEC
        now_playing = NowPlayingView(_item(current, 0.0), current["uid"], since, elapsed, remaining)
    items = []
    for row in upcoming:
        items.append(_item(row, clock))
        if clock is not None:
            clock = (
                clock + row["duration_sec"] + TRANSITION_SEC if row["duration_sec"] > 0 else None
            )
    lock = None
    if channel_row.get("lock_label") is not None and (
        channel_row["lock_until"] is None or channel_row["lock_until"] > now
    ):
        lock = LockView(
            channel_row["lock_label"], channel_row["lock_until"], channel_row["lock_by"]
        )
    return QueueView(channel, position, channel_row["position"], now, now_playing, items, lock)


#: How many likes a queue item has: (channel, item_id) -> count. Supplied by the likes
#: capability (`count_likes_with`); the queue knows nothing else of likes.
LikeCount = Callable[[str, str], int]


class QueueQueries:
    def __init__(self, store: ProjectionStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._likes: LikeCount | None = None

    def count_likes_with(self, count: LikeCount) -> None:
        """Show now-playing's likes in every view from here on."""
        self._likes = count

    async def queue(self, channel: str) -> QueueView:
        async def read() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            return (
                await self._store.fetch(CHANNELS, {"channel": channel}),
                await self._store.fetch(ITEMS, {"channel": channel}, order_by=("position",)),
            )

        # One checkpoint for both reads: a commit between them would show a channel row and
        # items of two different moments.
        position, (rows, items) = await at_one_checkpoint(
            self._store, QueueShadowProjection.name, read
        )
        return self.build(channel, rows[0] if rows else None, items, position)

    def build(
        self,
        channel: str,
        channel_row: dict[str, Any] | None,
        item_rows: list[dict[str, Any]],
        position: int,
    ) -> QueueView:
        """The view of a channel's rows (`rows_for`'s shape) with ETAs from the clock now: what
        `queue` returns once these rows are the ones in the store at checkpoint `position`."""
        view = build_view(channel, channel_row, item_rows, position, self._clock.now())
        playing = view.now_playing
        if self._likes is not None and playing is not None and playing.item is not None:
            playing.likes = self._likes(channel, playing.item.item_id)
        return view

    async def channels(self) -> list[str]:
        return [r["channel"] for r in await self._store.fetch(CHANNELS, order_by=("channel",))]
