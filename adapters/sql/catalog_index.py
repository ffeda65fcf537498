"""Search over the current catalog snapshot, on what each database does best.

SQLite: an FTS5 table with the trigram tokenizer over the folded titles (`catalog_fts`, its
rowids those of `catalog_items`, kept in step by triggers), so a substring of three characters
or more is an index lookup. PostgreSQL: a GIN `pg_trgm` index on the folded title, which
serves `LIKE '%word%'`. Titles and queries are folded the same way in Python
(`domain.catalog.text.fold`), which makes both case- and accent-insensitive whatever the
database's collation. Each word of a query must occur (as a substring) in the title.

The rows themselves are written by the catalog projection through the ordinary projection store;
this adapter adds the search structures (`prepare`) and reads. Searches are driver SQL built by
hand (composing SQLAlchemy constructs cost more than the search), and on SQLite every read runs
whole in one worker thread on a synchronous engine of its own (through aiosqlite each statement,
fetch and cursor close is a thread hop). bench/bench_catalog_search.py measures it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec
from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    event,
    func,
    literal_column,
    select,
)
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
_rowid = literal_column("catalog_items.rowid")


T = TypeVar("T")
_COLUMNS = (
    "i.key, i.snapshot_id, i.video_id, i.title, i.categories, i.tags, i.duration_sec, "
    "i.thumbnail_url, i.published_at, i.manifest_url, i.available, i.unavailable_reason"
)
_decode_names = msgspec.json.Decoder(list[str])


def _row(r: Any) -> ItemView:
    """A row of `_COLUMNS` (SQLite hands back times as text, and flags as 0 and 1)."""
    published = r[8]
    if isinstance(published, str):
        published = datetime.fromisoformat(published)
    return ItemView(
        key=r[0],
        video_id=r[2],
        title=r[3],
        categories=_decode_names.decode(r[4]),
        tags=_decode_names.decode(r[5]),
        duration_sec=r[6],
        thumbnail_url=r[7],
        published_at=_utc(published),
        manifest_url=r[9],
        available=bool(r[10]),
        unavailable_reason=r[11],
    )


def _reader_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """A reader waits for a writer's transaction rather than failing (the file is in WAL)."""
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


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
        self._paramstyle = engine.dialect.paramstyle  # qmark (SQLite) or numeric_dollar
        # Reads outside a transaction: no BEGIN and ROLLBACK round trips around each search.
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._sync: Engine | None = None
        if self._dialect == "sqlite":
            url = engine.url.set(drivername="sqlite")
            self._sync = create_engine(url, connect_args={"check_same_thread": False})
            event.listen(self._sync, "connect", _reader_pragmas)

    async def prepare(self) -> None:
        async with self._engine.begin() as conn:
            if self._dialect == "sqlite":
                for statement in _SQLITE_SETUP:
                    await conn.exec_driver_sql(statement)
                await self._fill_fts(conn)
        if self._dialect == "postgresql":
            await self._prepare_postgres()

    async def _fill_fts(self, conn: AsyncConnection) -> None:
        """Items written before the FTS table existed (an older build) get indexed once.

        One statement, so the check and the fill are atomic: as a count and then an insert,
        another process writing items in between (a rebuild in two processes) had its rows
        indexed by the trigger and then again here, and the insert failed on their rowids."""
        await conn.exec_driver_sql(
            "INSERT INTO catalog_fts(rowid, title_norm) "
            "SELECT rowid, title_norm FROM catalog_items "
            "WHERE NOT EXISTS (SELECT 1 FROM catalog_fts)"
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

    # ---- reads: one trip to the database's thread (SQLite) or one connection (PostgreSQL) ---

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(conn, *args)` on a plain connection. SQLite reads run whole in one worker thread
        on their own synchronous engine: through aiosqlite, every statement, fetch and cursor
        close is a hop to its thread and back, which cost more than the search itself."""
        if self._sync is not None:
            return await asyncio.to_thread(self._in_thread, fn, *args)
        async with self._autocommit.connect() as conn:
            return await conn.run_sync(fn, *args)

    def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        assert self._sync is not None
        with self._sync.connect() as conn:
            return fn(conn, *args)

    async def close(self) -> None:
        if self._sync is not None:
            await asyncio.to_thread(self._sync.dispose)

    async def current(self, channel: str) -> str | None:
        return await self._read(self._current, channel)

    def _current(self, conn: Connection, channel: str) -> str | None:
        found = conn.execute(
            select(catalog_current.c.snapshot_id).where(catalog_current.c.channel == channel)
        ).scalar()
        return None if found is None else str(found)

    # ---- search -------------------------------------------------------------------------------

    def _words(self, query_text: str) -> list[str]:
        return fold(query_text).split()[:10]

    def _fts_match(self, words: list[str]) -> str | None:
        """SQLite: the FTS5 query for the words long enough for trigrams (each a phrase)."""
        long_words = [w for w in words if len(w) >= TRIGRAM]
        if self._dialect != "sqlite" or not long_words:
            return None
        return " AND ".join('"' + w.replace('"', '""') + '"' for w in long_words)

    async def search(self, query: SearchQuery) -> SearchPage:
        return await self._read(self._search, query)

    def _mark(self, args: list[Any], value: Any) -> str:
        """A parameter in the driver's own style, its value appended to `args`."""
        args.append(value)
        return "?" if self._paramstyle == "qmark" else f"${len(args)}"

    def _search_sql(self, query: SearchQuery) -> tuple[str, str, list[Any], int]:
        """(the FROM and WHERE, the ORDER BY, their parameters, how many of them the FROM and
        WHERE take) as driver SQL: built by hand,
        since composing and caching SQLAlchemy constructs cost several times the search."""
        args: list[Any] = []
        words = self._words(query.text)
        match = self._fts_match(words)
        plus = "+" if match is not None else ""
        channel = self._mark(args, query.channel)
        again = self._mark(args, query.channel)
        current = f"(SELECT snapshot_id FROM catalog_current WHERE channel = {again})"
        where = [f"{plus}i.channel = {channel}", f"{plus}i.snapshot_id = {current}"]
        if match is not None:
            # the FTS hits (rowids) drive the query; the unary + keeps SQLite from walking the
            # snapshot's rows by the (channel, snapshot) index and probing the hits for each
            where.append(
                "i.rowid IN (SELECT rowid FROM catalog_fts WHERE catalog_fts MATCH "
                f"{self._mark(args, match)})"
            )
            words = [w for w in words if len(w) < TRIGRAM]
        for word in words:
            where.append(f"i.title_norm LIKE {self._mark(args, _like(word))} ESCAPE '\\'")
        names = sorted({fold(c)[:200] for c in query.categories if fold(c)})
        own = (
            "SELECT 1 FROM catalog_item_categories c WHERE c.channel = i.channel "
            "AND c.snapshot_id = i.snapshot_id AND c.key = i.key AND c.category_norm"
        )
        if names and query.category_mode == "all":
            where.extend(f"EXISTS ({own} = {self._mark(args, n)})" for n in names)
        elif names:
            marks = ", ".join(self._mark(args, n) for n in names)
            where.append(f"EXISTS ({own} IN ({marks}))")
        if query.available_only:
            where.append(f"i.available = {self._mark(args, True)}")
        if query.exclude_manifests:
            marks = ", ".join(self._mark(args, m) for m in sorted(query.exclude_manifests))
            where.append(f"(i.manifest_url IS NULL OR i.manifest_url NOT IN ({marks}))")
        body = "FROM catalog_items i WHERE " + " AND ".join(where)
        n_where = len(args)
        phrase = fold(query.text)
        if query.sort == "newest":
            order = "i.published_at DESC NULLS LAST, i.title_norm, i.key"
        elif query.sort == "relevance" and phrase:
            esc = _like(phrase)
            order = (
                f"CASE WHEN i.title_norm = {self._mark(args, phrase)} THEN 0 "
                f"WHEN i.title_norm LIKE {self._mark(args, esc[1:])} ESCAPE '\\' THEN 1 "
                f"WHEN i.title_norm LIKE {self._mark(args, '% ' + esc[1:])} ESCAPE '\\' THEN 2 "
                "ELSE 3 END, length(i.title_norm), i.title_norm, i.key"
            )
        else:
            order = "i.title_norm, i.key"
        return body, order, args, n_where

    def _search(self, conn: Connection, query: SearchQuery) -> SearchPage:
        """With words to match, one statement: the page, each row carrying the total (a window
        count over the hits, which are few and sorted anyway). Without, two: the count (an
        index count) and the page (in index order), since a window would sort the whole
        snapshot. A page past the end counts apart (an empty first page means none matched);
        no row at all reads the snapshot apart, to tell "no snapshot" from "no match"."""
        body, order, args, n_where = self._search_sql(query)
        offset = (query.page - 1) * query.per_page
        windowed = bool(self._words(query.text))
        rows: list[Any] = []
        total = -1
        if not windowed:
            count = f"SELECT count(*) {body}"
            total = int(conn.exec_driver_sql(count, tuple(args[:n_where])).scalar_one())
        if windowed or total > offset:
            page_args = list(args)
            limit = self._mark(page_args, query.per_page)
            skip = self._mark(page_args, offset)
            columns = f"{_COLUMNS}, count(*) OVER ()" if windowed else _COLUMNS
            sql = f"SELECT {columns} {body} ORDER BY {order} LIMIT {limit} OFFSET {skip}"
            rows = list(conn.exec_driver_sql(sql, tuple(page_args)).all())
        if windowed:
            if rows:
                total = int(rows[0][len(rows[0]) - 1])
            elif offset == 0:
                total = 0  # no row on the first page: nothing matches (no second scan)
            else:
                count = f"SELECT count(*) {body}"
                total = int(conn.exec_driver_sql(count, tuple(args[:n_where])).scalar_one())
        snapshot_id = str(rows[0][1]) if rows else self._current(conn, query.channel)
        if snapshot_id is None:
            return SearchPage(None, 0, query.page, query.per_page, [])
        return SearchPage(snapshot_id, total, query.page, query.per_page, [_row(r) for r in rows])

    # ---- lookups ------------------------------------------------------------------------------

    def _one(self, conn: Connection, channel: str, condition: Any) -> ItemView | None:
        snapshot_id = self._current(conn, channel)
        if snapshot_id is None:
            return None
        row = conn.execute(
            select(catalog_items).where(
                catalog_items.c.channel == channel,
                catalog_items.c.snapshot_id == snapshot_id,
                condition,
            )
        ).first()
        return None if row is None else _view(row)

    async def item(self, channel: str, key: str) -> ItemView | None:
        return await self._read(self._one, channel, catalog_items.c.key == key)

    async def by_manifest(self, channel: str, manifest_url: str) -> ItemView | None:
        return await self._read(self._one, channel, catalog_items.c.manifest_url == manifest_url)

    async def items(self, channel: str, snapshot_id: str) -> dict[str, CatalogItem]:
        return await self._read(self._items, channel, snapshot_id)

    def _items(self, conn: Connection, channel: str, snapshot_id: str) -> dict[str, CatalogItem]:
        rows = conn.execute(
            select(catalog_items)
            .where(catalog_items.c.channel == channel, catalog_items.c.snapshot_id == snapshot_id)
            .order_by(catalog_items.c.position)
        ).all()
        found = {}
        for row in rows:
            data = dict(row._mapping)
            data["published_at"] = _utc(data["published_at"])
            found[data["key"]] = item_of(data)
        return found

    async def categories(self, channel: str) -> list[CategoryCount]:
        return await self._read(self._categories, channel)

    def _categories(self, conn: Connection, channel: str) -> list[CategoryCount]:
        cats = catalog_item_categories.c
        snapshot_id = self._current(conn, channel)
        if snapshot_id is None:
            return []
        rows = conn.execute(
            select(func.min(cats.category), func.count())
            .where(cats.channel == channel, cats.snapshot_id == snapshot_id)
            .group_by(cats.category_norm)
            .order_by(cats.category_norm)
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
        return await self._read(self._snapshots, channel, limit)

    def _snapshots(self, conn: Connection, channel: str, limit: int) -> list[SnapshotInfo]:
        snaps = catalog_snapshots.c
        current = self._current(conn, channel)
        rows = conn.execute(
            select(catalog_snapshots)
            .where(snaps.channel == channel)
            .order_by(snaps.started_at.desc())
            .limit(limit)
        ).all()
        return [self._info(r, current) for r in rows]

    async def snapshot(self, channel: str, snapshot_id: str) -> SnapshotDetail | None:
        return await self._read(self._snapshot, channel, snapshot_id)

    def _snapshot(self, conn: Connection, channel: str, snapshot_id: str) -> SnapshotDetail | None:
        snaps = catalog_snapshots.c
        current = self._current(conn, channel)
        row = conn.execute(
            select(catalog_snapshots).where(
                snaps.channel == channel, snaps.snapshot_id == snapshot_id
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
