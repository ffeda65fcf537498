"""Saved playlists as rows: one per playlist (kept, marked deleted, after a delete) and one per
item in stored order. Promo pools and immutable playlists are rows like any other; readers
decide who may see them.

Every playlist event says everything its rows need, so the fold only keeps each playlist's
header row in memory (cheap: no items) and writes each touched playlist once per batch.
"""

from __future__ import annotations

from typing import Any

from application.log.ports import StoredCommit
from application.projections.ports import ProjectionStore, ReplaceRows, Upsert, Write
from domain.media import Media
from domain.playlists.model import (
    PlaylistCreated,
    PlaylistDeleted,
    PlaylistFlagsSet,
    PlaylistItemsSet,
    PlaylistRenamed,
)

PLAYLISTS = "saved_playlists"
PLAYLIST_ITEMS = "saved_playlist_items"
PLAYLIST_META = "saved_playlist_meta"
AGGREGATE = "playlist"
APPLY_AGGREGATE = "playlist_apply"

Key = tuple[str, str]


def item_row(channel: str, playlist_id: str, position: int, media: Media) -> dict[str, Any]:
    return {
        "channel": channel,
        "playlist_id": playlist_id,
        "position": position,
        "media_type": media.type,
        "media_id": media.id,
        "title": media.title,
        "duration_sec": media.duration_sec,
    }


def media_of(row: dict[str, Any]) -> Media:
    return Media(row["media_type"], row["media_id"], row["title"], row["duration_sec"])


class PlaylistsProjection:
    name = "playlists"
    tables: tuple[str, ...] = (PLAYLISTS, PLAYLIST_ITEMS, PLAYLIST_META)

    def __init__(self) -> None:
        self._headers: dict[Key, dict[str, Any]] = {}
        self._meta: dict[Key, dict[str, Any]] = {}
        self._dirty: set[Key] = set()
        self._dirty_meta: set[Key] = set()
        self._items: dict[Key, tuple[Media, ...]] = {}

    async def warm(self, store: ProjectionStore) -> None:
        self.forget()
        for row in await store.fetch(PLAYLISTS):
            self._headers[(row["channel"], row["playlist_id"])] = dict(row)
        for row in await store.fetch(PLAYLIST_META):
            self._meta[(row["channel"], row["playlist_id"])] = dict(row)

    def forget(self) -> None:
        self._headers.clear()
        self._meta.clear()
        self._dirty.clear()
        self._dirty_meta.clear()
        self._items.clear()

    def _meta_of(self, key: Key) -> dict[str, Any]:
        meta = self._meta.get(key)
        if meta is None:
            meta = {
                "channel": key[0],
                "playlist_id": key[1],
                "created_by": "",
                "version": 0,
                "apply_count": 0,
                "last_applied_at": None,
                "last_apply_id": None,
                "items_queued": 0,
            }
            self._meta[key] = meta
        return meta

    def _apply_finished(self, stored: StoredCommit) -> None:
        """Per-playlist apply counts (GH-016): an apply counts when it ends, with the items
        it queued; its time is the commit's."""
        commit = stored.commit
        for event in commit.events:
            if type(event).__name__ != "ApplyFinished":
                continue
            key = (commit.stream.channel, event.playlist_id)
            meta = self._meta_of(key)
            meta["apply_count"] += 1
            meta["last_applied_at"] = commit.at
            meta["last_apply_id"] = event.apply_id
            meta["items_queued"] += event.queued
            self._dirty_meta.add(key)

    def apply(self, stored: StoredCommit) -> None:
        commit = stored.commit
        if commit.stream.aggregate == APPLY_AGGREGATE:
            self._apply_finished(stored)
            return
        if commit.stream.aggregate != AGGREGATE:
            return
        key = (commit.stream.channel, commit.stream.id)
        for event in commit.events:
            if isinstance(event, PlaylistCreated) or key in self._headers:
                meta = self._meta_of(key)
                meta["version"] += 1
                if isinstance(event, PlaylistCreated):
                    meta["created_by"] = event.by
                self._dirty_meta.add(key)
            header = self._headers.get(key)
            if isinstance(event, PlaylistCreated):
                header = {
                    "channel": key[0],
                    "playlist_id": key[1],
                    "name": event.name,
                    "is_immutable": event.is_immutable,
                    "promo_type": event.promo_type,
                    "item_count": 0,
                    "total_duration_sec": 0,
                    "created_at": commit.at,
                    "updated_at": commit.at,
                    "deleted": False,
                }
                self._headers[key] = header
                self._items[key] = ()
            elif header is None:
                continue  # an event of a playlist never created: nothing to show
            elif isinstance(event, PlaylistRenamed):
                header["name"] = event.name
            elif isinstance(event, PlaylistItemsSet):
                self._set_items(key, header, tuple(event.items))
            elif isinstance(event, PlaylistFlagsSet):
                header["is_immutable"] = event.is_immutable
                header["promo_type"] = event.promo_type
            elif isinstance(event, PlaylistDeleted):
                header["deleted"] = True
                self._set_items(key, header, ())
            else:
                continue
            header["updated_at"] = commit.at
            self._dirty.add(key)

    def _set_items(self, key: Key, header: dict[str, Any], items: tuple[Media, ...]) -> None:
        header["item_count"] = len(items)
        header["total_duration_sec"] = sum(m.duration_sec for m in items)
        self._items[key] = items

    def flush(self) -> tuple[list[Write], set[str]]:
        writes: list[Write] = []
        for key in sorted(self._dirty):
            channel, playlist_id = key
            writes.append(Upsert(PLAYLISTS, ("channel", "playlist_id"), dict(self._headers[key])))
            if key in self._items:
                rows = [
                    item_row(channel, playlist_id, i, m) for i, m in enumerate(self._items[key])
                ]
                match = {"channel": channel, "playlist_id": playlist_id}
                writes.append(ReplaceRows(PLAYLIST_ITEMS, match, rows))
        for key in sorted(self._dirty_meta):
            writes.append(Upsert(PLAYLIST_META, ("channel", "playlist_id"), dict(self._meta[key])))
        touched = {channel for channel, _ in self._dirty | self._dirty_meta}
        self._dirty = set()
        self._dirty_meta = set()
        self._items.clear()
        return writes, touched
