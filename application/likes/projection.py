"""Likes as rows: one row per like (`likes_log`, what windowed queries read), the total per
medium (`likes_media`) and per queue item (`likes_items`, a play of a medium).

Totals are written as increments of what a batch added, like the stats. The projection also
keeps every queue item's count in memory (warmed from `likes_items`), so the live page can show
the count of what plays without a read: `count(channel, item_id)`.
"""

from __future__ import annotations

from typing import Any

from application.log.ports import StoredCommit
from application.projections.ports import Increment, InsertRows, ProjectionStore, Write
from domain.likes.model import Liked

LOG = "likes_log"
MEDIA = "likes_media"
ITEMS = "likes_items"
MEDIA_KEY = ("channel", "media_type", "media_id")
ITEM_KEY = ("channel", "item_id")


def _added(
    row: dict[str, Any] | None, channel: str, event: Liked, extra: dict[str, Any]
) -> dict[str, Any]:
    """A total's row with one more like: `likes` counts what this batch added."""
    return {
        "channel": channel,
        "media_type": event.media.type,
        "media_id": event.media.id,
        "title": event.media.title,
        "likes": (0 if row is None else int(row["likes"])) + 1,
        "last_liked": event.at if row is None else max(row["last_liked"], event.at),
        **extra,
    }


class LikesProjection:
    name = "likes"
    tables: tuple[str, ...] = (LOG, MEDIA, ITEMS)

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], int] = {}
        self._log: list[dict[str, Any]] = []
        self._media: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._items: dict[tuple[str, str], dict[str, Any]] = {}

    def count(self, channel: str, item_id: str) -> int:
        """Likes of one queue item, as far as this projection has folded."""
        return self._counts.get((channel, item_id), 0)

    async def warm(self, store: ProjectionStore) -> None:
        self.forget()
        for row in await store.fetch(ITEMS):
            self._counts[(row["channel"], row["item_id"])] = int(row["likes"])

    def forget(self) -> None:
        self._counts.clear()
        self._log = []
        self._media = {}
        self._items = {}

    def apply(self, stored: StoredCommit) -> None:
        commit = stored.commit
        if commit.stream.aggregate != "likes":
            return
        channel = commit.stream.channel
        for event in commit.events:
            if isinstance(event, Liked):
                self._liked(channel, stored.position, event)

    def _liked(self, channel: str, position: int, event: Liked) -> None:
        media = event.media
        self._log.append(
            {
                "channel": channel,
                "position": position,
                "user": event.user,
                "item_id": event.item_id,
                "media_type": media.type,
                "media_id": media.id,
                "title": media.title,
                "liked_at": event.at,
            }
        )
        key = (channel, event.item_id)
        self._counts[key] = self._counts.get(key, 0) + 1
        self._media[(channel, media.type, media.id)] = _added(
            self._media.get((channel, media.type, media.id)), channel, event, {}
        )
        self._items[key] = _added(self._items.get(key), channel, event, {"item_id": event.item_id})

    def flush(self) -> tuple[list[Write], set[str]]:
        writes: list[Write] = []
        touched = {row["channel"] for row in self._log}
        if self._log:
            writes.append(InsertRows(LOG, self._log))
        for _, row in sorted(self._media.items()):
            writes.append(
                Increment(MEDIA, MEDIA_KEY, row, add=("likes",), greatest=("last_liked",))
            )
        for _, row in sorted(self._items.items()):
            writes.append(Increment(ITEMS, ITEM_KEY, row, add=("likes",), greatest=("last_liked",)))
        self._log = []
        self._media = {}
        self._items = {}
        return writes, touched
