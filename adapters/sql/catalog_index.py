"""Search over the current catalog snapshot, on what each database does best.

SQLite: an FTS5 table with the trigram tokenizer over the folded titles (`catalog_fts`, its
rowids those of `catalog_items`, kept in step by triggers), so a substring of three characters
or more is an index lookup. PostgreSQL: a GIN `pg_trgm` index on the folded title, which
serves `LIKE '%word%'`. Titles and queries are folded the same way in Python
(`domain.catalog.text.fold`), which makes both case- and accent-insensitive whatever the
database's collation. Each word of a query must occur (as a substring) in the title.

The rows themselves are written by the catalog projection through the ordinary projection store;
this adapter adds the search structures (`prepare`) and reads.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, and_, case, exists, func, literal_column, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sql.tables import (
    catalog_current,
    catalog_item_categories,
    catalog_items,
    catalog_snapshots,
)
from application.catalog.ports import (
    CategoryCount,
    ItemView,
    SearchPage,
    SearchQuery,
    SnapshotDetail,
    SnapshotInfo,
    changes_of,
    item_view,
)
from application.catalog.projection import item_of
from domain.catalog.items import CatalogItem
from domain.catalog.text import fold

log = logging.getLogger(__name__)

_SQLITE_SETUP = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS catalog_fts USING fts5(title_norm, tokenize='trigram')",
    "CREATE TRIGGER IF NOT EXISTS catalog_items_fts_insert AFTER INSERT ON catalog_items BEGIN "
    "INSERT INTO catalog_fts(rowid, title_norm) VALUES (new.rowid, new.title_norm); END",
    "CREATE TRIGGER IF NOT EXISTS catalog_items_fts_delete AFTER DELETE ON catalog_items BEGIN "
    "DELETE FROM catalog_fts WHERE rowid = old.rowid; END",
    "CREATE TRIGGER IF NOT EXISTS catalog_items_fts_update AFTER UPDATE OF title_norm "
    "ON catalog_items BEGIN "
    "UPDATE catalog_fts SET title_norm = new.title_norm WHERE rowid = old.rowid; END",
)
_POSTGRES_INDEX = (
    "CREATE INDEX IF NOT EXISTS catalog_items_title_trgm "
    "ON catalog_items USING gin (title_norm gin_trgm_ops)"
)
TRIGRAM = 3  # shorter words cannot use a trigram index: they are scanned for


def _utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _like(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _view(row: Any) -> ItemView:
    data = dict(row._mapping)
    data["published_at"] = _utc(data["published_at"])
    return item_view(item_of(data))


class SqlCatalogIndex:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self.trigram_index = False  # PostgreSQL: whether pg_trgm could be used

    async def prepare(self) -> None:
        async with self._engine.begin() as conn:
            if self._dialect == "sqlite":
                for statement in _SQLITE_SETUP:
                    await conn.exec_driver_sql(statement)
                await self._fill_fts(conn)
        if self._dialect == "postgresql":
            await self._prepare_postgres()

    async def _fill_fts(self, conn: AsyncConnection) -> None:
        """Items written before the FTS table existed (an older build) get indexed once."""
        fts = (await conn.exec_driver_sql("SELECT count(*) FROM catalog_fts")).scalar()
        if fts == 0:
            await conn.exec_driver_sql(
                "INSERT INTO catalog_fts(rowid, title_norm) "
                "SELECT rowid, title_norm FROM catalog_items"
            )

    async def _prepare_postgres(self) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except Exception as exc:
            log.warning("pg_trgm is not available (%s); title search scans the catalog", exc)
        try:
            async with self._engine.begin() as conn:
                await conn.exec_driver_sql(_POSTGRES_INDEX)
            self.trigram_index = True
        except Exception as exc:
            log.warning("no trigram index on catalog titles (%s); search scans instead", exc)

    async def current(self, channel: str) -> str | None:
        async with self._engine.connect() as conn:
            return await self._current(conn, channel)

    async def _current(self, conn: AsyncConnection, channel: str) -> str | None:
        found = (
            await conn.execute(
                select(catalog_current.c.snapshot_id).where(catalog_current.c.channel == channel)
            )
        ).scalar()
        return None if found is None else str(found)

    # ---- search -------------------------------------------------------------------------------

    def _words(self, query_text: str) -> list[str]:
        return fold(query_text).split()[:10]

    def _text_filter(self, words: list[str]) -> list[ColumnElement[bool]]:
        items = catalog_items.c
        conditions: list[ColumnElement[bool]] = []
        long_words = [w for w in words if len(w) >= TRIGRAM]
        if self._dialect == "sqlite" and long_words:
            match = " AND ".join('"' + w.replace('"', '""') + '"' for w in long_words)
            conditions.append(
                literal_column("catalog_items.rowid").in_(
                    text("SELECT rowid FROM catalog_fts WHERE catalog_fts MATCH :fts").bindparams(
                        fts=match
                    )
                )
            )
            words = [w for w in words if len(w) < TRIGRAM]
        for word in words:
            conditions.append(items.title_norm.like(_like(word), escape="\\"))
        return conditions

    def _where(self, query: SearchQuery, snapshot_id: str) -> list[ColumnElement[bool]]:
        items = catalog_items.c
        where: list[ColumnElement[bool]] = [
            items.channel == query.channel,
            items.snapshot_id == snapshot_id,
            *self._text_filter(self._words(query.text)),
        ]
        names = sorted({fold(c)[:200] for c in query.categories if fold(c)})
        cats = catalog_item_categories.c
        own = and_(
            cats.channel == items.channel,
            cats.snapshot_id == items.snapshot_id,
            cats.key == items.key,
        )
        if names and query.category_mode == "all":
            where.extend(exists().where(own, cats.category_norm == name) for name in names)
        elif names:
            where.append(exists().where(own, cats.category_norm.in_(names)))
        if query.available_only:
            where.append(items.available.is_(True))
        if query.exclude_manifests:
            where.append(
                or_(
                    items.manifest_url.is_(None),
                    items.manifest_url.not_in(sorted(query.exclude_manifests)),
                )
            )
        return where

    def _order(self, query: SearchQuery) -> list[Any]:
        items = catalog_items.c
        if query.sort == "newest":
            return [items.published_at.desc().nulls_last(), items.title_norm, items.key]
        if query.sort == "relevance":
            phrase = fold(query.text)
            if phrase:
                rank = case(
                    (items.title_norm == phrase, 0),
                    (items.title_norm.like(_like(phrase)[1:], escape="\\"), 1),
                    (items.title_norm.like("% " + _like(phrase)[1:], escape="\\"), 2),
                    (items.title_norm.like(_like(phrase), escape="\\"), 3),
                    else_=4,
                )
                return [rank, func.length(items.title_norm), items.title_norm, items.key]
        return [items.title_norm, items.key]

    async def search(self, query: SearchQuery) -> SearchPage:
        async with self._engine.connect() as conn:
            snapshot_id = await self._current(conn, query.channel)
            if snapshot_id is None:
                return SearchPage(None, 0, query.page, query.per_page, [])
            where = self._where(query, snapshot_id)
            total = (
                await conn.execute(select(func.count()).select_from(catalog_items).where(*where))
            ).scalar_one()
            rows = (
                await conn.execute(
                    select(catalog_items)
                    .where(*where)
                    .order_by(*self._order(query))
                    .limit(query.per_page)
                    .offset((query.page - 1) * query.per_page)
                )
            ).all()
        return SearchPage(snapshot_id, total, query.page, query.per_page, [_view(r) for r in rows])

    # ---- lookups ------------------------------------------------------------------------------

    async def _one(self, channel: str, condition: ColumnElement[bool]) -> ItemView | None:
        async with self._engine.connect() as conn:
            snapshot_id = await self._current(conn, channel)
            if snapshot_id is None:
                return None
            row = (
                await conn.execute(
                    select(catalog_items).where(
                        catalog_items.c.channel == channel,
                        catalog_items.c.snapshot_id == snapshot_id,
                        condition,
                    )
                )
            ).first()
        return None if row is None else _view(row)

    async def item(self, channel: str, key: str) -> ItemView | None:
        return await self._one(channel, catalog_items.c.key == key)

    async def by_manifest(self, channel: str, manifest_url: str) -> ItemView | None:
        return await self._one(channel, catalog_items.c.manifest_url == manifest_url)

    async def items(self, channel: str, snapshot_id: str) -> dict[str, CatalogItem]:
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(catalog_items)
                    .where(
                        catalog_items.c.channel == channel,
                        catalog_items.c.snapshot_id == snapshot_id,
                    )
                    .order_by(catalog_items.c.position)
                )
            ).all()
        found = {}
        for row in rows:
            data = dict(row._mapping)
            data["published_at"] = _utc(data["published_at"])
            found[data["key"]] = item_of(data)
        return found

    async def categories(self, channel: str) -> list[CategoryCount]:
        cats = catalog_item_categories.c
        async with self._engine.connect() as conn:
            snapshot_id = await self._current(conn, channel)
            if snapshot_id is None:
                return []
            rows = (
                await conn.execute(
                    select(func.min(cats.category), func.count())
                    .where(cats.channel == channel, cats.snapshot_id == snapshot_id)
                    .group_by(cats.category_norm)
                    .order_by(cats.category_norm)
                )
            ).all()
        return [CategoryCount(str(name), int(count)) for name, count in rows]

    # ---- snapshots ----------------------------------------------------------------------------

    def _info(self, row: Any, current: str | None) -> SnapshotInfo:
        data = row._mapping
        return SnapshotInfo(
            snapshot_id=data["snapshot_id"],
            status=data["status"],
            source=data["source"],
            by=data["by"],
            started_at=_utc(data["started_at"]),
            finished_at=_utc(data["finished_at"]),
            item_count=data["item_count"],
            available_count=data["available_count"],
            added=data["added"],
            removed=data["removed"],
            changed=data["changed"],
            reason=data["reason"],
            warnings=msgspec.json.decode(data["warnings"]),
            current=data["snapshot_id"] == current,
        )

    async def snapshots(self, channel: str, limit: int) -> list[SnapshotInfo]:
        snaps = catalog_snapshots.c
        async with self._engine.connect() as conn:
            current = await self._current(conn, channel)
            rows = (
                await conn.execute(
                    select(catalog_snapshots)
                    .where(snaps.channel == channel)
                    .order_by(snaps.started_at.desc())
                    .limit(limit)
                )
            ).all()
        return [self._info(r, current) for r in rows]

    async def snapshot(self, channel: str, snapshot_id: str) -> SnapshotDetail | None:
        snaps = catalog_snapshots.c
        async with self._engine.connect() as conn:
            current = await self._current(conn, channel)
            row = (
                await conn.execute(
                    select(catalog_snapshots).where(
                        snaps.channel == channel, snaps.snapshot_id == snapshot_id
                    )
                )
            ).first()
        if row is None:
            return None
        changes = msgspec.json.decode(row._mapping["changes"], type=list[dict[str, Any]])
        return SnapshotDetail(
            self._info(row, current),
            changes_of([msgspec.convert(c, _Change) for c in changes]),
        )


class _Change(msgspec.Struct):
    key: str
    title: str
    kind: str
    fields: list[str] = msgspec.field(default_factory=list)
