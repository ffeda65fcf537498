"""Catalog snapshots as rows: every item of the current snapshot (and of the refresh under way),
one row per snapshot with its counts, diff and errors, and which snapshot is current.

Items of a refresh are written as its batches arrive, under its own snapshot id; searches read
only the current one, which changes in the transaction of `RefreshCompleted`, where the rows of
the snapshot it replaces are deleted too. A failed refresh's rows go with its failure.
"""

from __future__ import annotations

from typing import Any

import msgspec

from application.log.ports import StoredCommit
from application.projections.ports import InsertRows, ProjectionStore, ReplaceRows, Upsert, Write
from domain.catalog.items import CatalogItem
from domain.catalog.model import ItemsIndexed, RefreshCompleted, RefreshFailed, RefreshStarted
from domain.catalog.text import fold

CATALOG_ITEMS = "catalog_items"
CATALOG_ITEM_CATEGORIES = "catalog_item_categories"
CATALOG_SNAPSHOTS = "catalog_snapshots"
CATALOG_CURRENT = "catalog_current"
AGGREGATE = "catalog"

_json = msgspec.json.Encoder()

Key = tuple[str, str]


def item_row(channel: str, snapshot_id: str, position: int, item: CatalogItem) -> dict[str, Any]:
    return {
        "channel": channel,
        "snapshot_id": snapshot_id,
        "key": item.key,
        "position": position,
        "video_id": item.video_id,
        "title": item.title,
        "title_norm": fold(item.title),
        "categories": _json.encode(list(item.categories)).decode(),
        "tags": _json.encode(list(item.tags)).decode(),
        "duration_sec": item.duration_sec,
        "thumbnail_url": item.thumbnail_url,
        "published_at": item.published_at,
        "manifest_url": item.manifest_url,
        "available": item.available,
        "unavailable_reason": item.unavailable_reason,
    }


def item_of(row: dict[str, Any]) -> CatalogItem:
    return CatalogItem(
        key=row["key"],
        video_id=row["video_id"],
        title=row["title"],
        categories=tuple(msgspec.json.decode(row["categories"])),
        tags=tuple(msgspec.json.decode(row["tags"])),
        duration_sec=row["duration_sec"],
        thumbnail_url=row["thumbnail_url"],
        published_at=row["published_at"],
        manifest_url=row["manifest_url"],
        available=bool(row["available"]),
        unavailable_reason=row["unavailable_reason"],
    )


class CatalogProjection:
    name = "catalog"
    tables: tuple[str, ...] = (
        CATALOG_ITEMS,
        CATALOG_ITEM_CATEGORIES,
        CATALOG_SNAPSHOTS,
        CATALOG_CURRENT,
    )

    def __init__(self) -> None:
        self._snapshots: dict[Key, dict[str, Any]] = {}
        self._current: dict[str, str] = {}
        self._writes: list[Write] = []
        self._touched: set[str] = set()
        # The keys each running refresh has written: its rows are inserted, never rewritten,
        # and a key a writer sends twice is skipped rather than breaking the batch.
        self._keys: dict[Key, set[str]] = {}

    async def warm(self, store: ProjectionStore) -> None:
        self.forget()
        for row in await store.fetch(CATALOG_SNAPSHOTS):
            key = (row["channel"], row["snapshot_id"])
            self._snapshots[key] = dict(row)
            if row["status"] == "running":
                match = {"channel": key[0], "snapshot_id": key[1]}
                self._keys[key] = {r["key"] for r in await store.fetch(CATALOG_ITEMS, match)}
        for row in await store.fetch(CATALOG_CURRENT):
            self._current[row["channel"]] = row["snapshot_id"]

    def forget(self) -> None:
        self._snapshots.clear()
        self._current.clear()
        self._writes = []
        self._touched = set()
        self._keys.clear()

    def _drop_items(self, channel: str, snapshot_id: str) -> None:
        match = {"channel": channel, "snapshot_id": snapshot_id}
        self._writes.append(ReplaceRows(CATALOG_ITEM_CATEGORIES, match, []))
        self._writes.append(ReplaceRows(CATALOG_ITEMS, match, []))

    def _header(self, key: Key) -> None:
        self._writes.append(
            Upsert(CATALOG_SNAPSHOTS, ("channel", "snapshot_id"), dict(self._snapshots[key]))
        )

    def apply(self, stored: StoredCommit) -> None:
        commit = stored.commit
        if commit.stream.aggregate != AGGREGATE:
            return
        channel = commit.stream.channel
        for event in commit.events:
            if isinstance(event, RefreshStarted):
                key = (channel, event.refresh_id)
                self._snapshots[key] = {
                    "channel": channel,
                    "snapshot_id": event.refresh_id,
                    "status": "running",
                    "source": event.source,
                    "owner": event.owner,
                    "by": event.by,
                    "started_at": event.at,
                    "finished_at": None,
                    "item_count": 0,
                    "available_count": 0,
                    "added": 0,
                    "removed": 0,
                    "changed": 0,
                    "reason": None,
                    "warnings": "[]",
                    "changes": "[]",
                }
                self._keys[key] = set()
                self._header(key)
            elif isinstance(event, ItemsIndexed):
                key = (channel, event.refresh_id)
                header = self._snapshots.get(key)
                if header is None or header["status"] != "running":
                    continue
                start = header["item_count"]
                seen = self._keys.setdefault(key, set())
                fresh = []
                for item in event.items:
                    if item.key not in seen:
                        seen.add(item.key)
                        fresh.append(item)
                rows = [
                    item_row(channel, event.refresh_id, start + n, item)
                    for n, item in enumerate(fresh)
                ]
                categories = [
                    {
                        "channel": channel,
                        "snapshot_id": event.refresh_id,
                        "key": item.key,
                        "category_norm": norm,
                        "category": name,
                    }
                    for item in fresh
                    for norm, name in _categories(item)
                ]
                self._writes.append(InsertRows(CATALOG_ITEMS, rows))
                if categories:
                    self._writes.append(InsertRows(CATALOG_ITEM_CATEGORIES, categories))
                header["item_count"] = start + len(fresh)
                header["available_count"] += sum(1 for i in fresh if i.available)
                self._header(key)
            elif isinstance(event, RefreshCompleted):
                key = (channel, event.refresh_id)
                header = self._snapshots.get(key)
                if header is None:
                    continue
                diff = event.diff
                header.update(
                    status="completed",
                    finished_at=event.at,
                    item_count=event.item_count,
                    available_count=event.available_count,
                    added=diff.added,
                    removed=diff.removed,
                    changed=diff.changed,
                    warnings=_json.encode(list(event.warnings)).decode(),
                    changes=_json.encode([_change(c) for c in diff.changes]).decode(),
                )
                self._header(key)
                old = self._current.get(channel)
                if old is not None and old != event.refresh_id:
                    self._drop_items(channel, old)
                self._current[channel] = event.refresh_id
                self._keys.pop(key, None)
                self._writes.append(
                    Upsert(
                        CATALOG_CURRENT,
                        ("channel",),
                        {
                            "channel": channel,
                            "snapshot_id": event.refresh_id,
                            "switched_at": event.at,
                        },
                    )
                )
            elif isinstance(event, RefreshFailed):
                key = (channel, event.refresh_id)
                header = self._snapshots.get(key)
                if header is None:
                    continue
                header.update(status="failed", finished_at=event.at, reason=event.reason)
                self._keys.pop(key, None)
                self._header(key)
                self._drop_items(channel, event.refresh_id)
            else:
                continue
            self._touched.add(channel)

    def flush(self) -> tuple[list[Write], set[str]]:
        writes, touched = self._writes, self._touched
        self._writes, self._touched = [], set()
        return writes, touched


def _categories(item: CatalogItem) -> list[tuple[str, str]]:
    """(folded, as named) once per folded name: the rows' key."""
    seen: dict[str, str] = {}
    for name in item.categories:
        seen.setdefault(fold(name)[:200], name[:200])
    return [(norm, name) for norm, name in seen.items() if norm]


def _change(change: Any) -> dict[str, Any]:
    return {
        "key": change.key,
        "title": change.title,
        "kind": change.kind,
        "fields": list(change.fields),
    }
