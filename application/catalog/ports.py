"""What the catalog needs from the outside: a source of items, and a searchable read model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal, Protocol

import msgspec

from domain.catalog.items import CatalogItem

Sort = Literal["relevance", "title", "newest"]
CategoryMode = Literal["any", "all"]


class CatalogSourceError(Exception):
    """The source cannot be read; the message names the host (or file) and the cause."""


class Report(Protocol):
    """How a source says how far it has got (the refresh shows it live)."""

    def listed(self, count: int, total: int | None) -> None: ...

    def detailed(self, done: int, needed: int) -> None: ...

    def warn(self, message: str) -> None: ...


class CatalogSource(Protocol):
    @property
    def description(self) -> str:
        """Where the items come from, for people: `MediaCMS at media.example.org`."""
        ...

    async def read(self, known: Mapping[str, CatalogItem], report: Report) -> list[CatalogItem]:
        """Every item of the library, in the source's order. `known` is the current snapshot's
        items by key: a source may reuse what it would otherwise read again (details of items
        that did not change). Raises CatalogSourceError."""
        ...


class SnapshotInfo(msgspec.Struct):
    snapshot_id: str
    status: str  # running, completed, failed, current
    source: str
    by: str
    started_at: datetime
    finished_at: datetime | None = None
    item_count: int = 0
    available_count: int = 0
    added: int = 0
    removed: int = 0
    changed: int = 0
    reason: str | None = None
    warnings: list[str] = msgspec.field(default_factory=list)
    current: bool = False


class ChangeView(msgspec.Struct):
    key: str
    title: str
    kind: str
    fields: list[str] = msgspec.field(default_factory=list)


class SnapshotDetail(msgspec.Struct):
    snapshot: SnapshotInfo
    changes: list[ChangeView]


class ItemView(msgspec.Struct):
    key: str
    video_id: str
    title: str
    categories: list[str]
    tags: list[str]
    duration_sec: int
    thumbnail_url: str | None
    published_at: datetime | None
    manifest_url: str | None
    available: bool
    unavailable_reason: str | None = None
    hidden: bool = False  # in a promo pool or an immutable playlist (shown to blessed and admin)


class SearchQuery(msgspec.Struct):
    channel: str
    text: str = ""
    categories: list[str] = msgspec.field(default_factory=list)
    category_mode: CategoryMode = "any"
    sort: Sort = "relevance"
    page: int = 1
    per_page: int = 24
    available_only: bool = False
    exclude_manifests: frozenset[str] = frozenset()  # hidden from this reader


class SearchPage(msgspec.Struct):
    snapshot_id: str | None
    total: int
    page: int
    per_page: int
    items: list[ItemView]


class CategoryCount(msgspec.Struct):
    name: str
    count: int


class CatalogIndex(Protocol):
    """The read model of the current snapshot (and the refresh in progress)."""

    async def prepare(self) -> None:
        """Create what the database needs for fast search (full-text or trigram indexes)."""
        ...

    async def close(self) -> None: ...

    async def current(self, channel: str) -> str | None:
        """The snapshot searches read now."""
        ...

    async def search(self, query: SearchQuery) -> SearchPage: ...

    async def item(self, channel: str, key: str) -> ItemView | None: ...

    async def by_manifest(self, channel: str, manifest_url: str) -> ItemView | None: ...

    async def items(self, channel: str, snapshot_id: str) -> dict[str, CatalogItem]: ...

    async def categories(self, channel: str) -> list[CategoryCount]: ...

    async def snapshots(self, channel: str, limit: int) -> list[SnapshotInfo]: ...

    async def snapshot(self, channel: str, snapshot_id: str) -> SnapshotDetail | None: ...


def item_view(item: CatalogItem, hidden: bool = False) -> ItemView:
    return ItemView(
        key=item.key,
        video_id=item.video_id,
        title=item.title,
        categories=list(item.categories),
        tags=list(item.tags),
        duration_sec=item.duration_sec,
        thumbnail_url=item.thumbnail_url,
        published_at=item.published_at,
        manifest_url=item.manifest_url,
        available=item.available,
        unavailable_reason=item.unavailable_reason,
        hidden=hidden,
    )


def changes_of(changes: Sequence[object]) -> list[ChangeView]:
    out = []
    for change in changes:
        key, title, kind = (getattr(change, n) for n in ("key", "title", "kind"))
        out.append(ChangeView(key, title, kind, list(getattr(change, "fields", ()))))
    return out
