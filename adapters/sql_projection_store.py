"""The ProjectionStore on SQLAlchemy Core: a SQLite file by default, PostgreSQL by URL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, event, func, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from adapters.sql_tables import checkpoints, metadata
from application.projections.ports import (
    CheckpointMoved,
    InsertRows,
    ProjectionStatus,
    ReplaceRows,
    Row,
    Upsert,
    Write,
)


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def _utc(value: Any) -> Any:
    """SQLite hands datetimes back naive; the log's times are UTC."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class SqlProjectionStore:
    def __init__(self, url: str, **engine_options: Any) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(url, **engine_options)
        if make_url(url).get_backend_name() == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)

    async def prepare(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def close(self) -> None:
        await self.engine.dispose()

    async def checkpoint(self, name: str) -> int:
        return (await self.status(name)).position

    async def status(self, name: str) -> ProjectionStatus:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(checkpoints).where(checkpoints.c.name == name))
            ).first()
        if row is None:
            return ProjectionStatus(name, 0, None)
        return ProjectionStatus(name, row.position, row.last_error)

    async def _move_checkpoint(
        self, conn: AsyncConnection, name: str, expected: int, position: int
    ) -> None:
        now = datetime.now(UTC)
        result = await conn.execute(
            update(checkpoints)
            .where(checkpoints.c.name == name, checkpoints.c.position == expected)
            .values(position=position, updated_at=now, last_error=None)
        )
        if result.rowcount == 1:
            return
        current = (
            await conn.execute(select(checkpoints.c.position).where(checkpoints.c.name == name))
        ).scalar()
        if current is None and expected == 0:
            await conn.execute(
                insert(checkpoints).values(name=name, position=position, updated_at=now)
            )
            return
        raise CheckpointMoved(name, expected, current or 0)

    async def commit(
        self, name: str, expected: int, position: int, writes: Sequence[Write]
    ) -> None:
        async with self.engine.begin() as conn:
            await self._move_checkpoint(conn, name, expected, position)
            for write in writes:
                await self._apply(conn, write)

    async def _apply(self, conn: AsyncConnection, write: Write) -> None:
        table = metadata.tables[write.table]
        if isinstance(write, ReplaceRows):
            await conn.execute(delete(table).where(*_match(table, write.match)))
            if write.rows:
                await conn.execute(insert(table), [dict(r) for r in write.rows])
        elif isinstance(write, InsertRows):
            if write.rows:
                await conn.execute(insert(table), [dict(r) for r in write.rows])
        elif isinstance(write, Upsert):
            key = {k: write.row[k] for k in write.key}
            values = {k: v for k, v in write.row.items() if k not in write.key}
            result = await conn.execute(update(table).where(*_match(table, key)).values(values))
            if result.rowcount == 0:
                await conn.execute(insert(table).values(dict(write.row)))

    async def reset(self, name: str, tables: Sequence[str]) -> None:
        async with self.engine.begin() as conn:
            for table in tables:
                await conn.execute(delete(metadata.tables[table]))
            await conn.execute(delete(checkpoints).where(checkpoints.c.name == name))

    async def record_error(self, name: str, error: str | None) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(checkpoints).where(checkpoints.c.name == name).values(last_error=error)
            )

    async def fetch(
        self, table: str, match: Row | None = None, order_by: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        t = metadata.tables[table]
        query = select(t).where(*_match(t, match or {})).order_by(*(t.c[c] for c in order_by))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [{k: _utc(v) for k, v in row.items()} for row in rows]

    async def page(
        self, table: str, *, order_by: str | None, descending: bool, limit: int, offset: int
    ) -> tuple[list[str], list[dict[str, Any]]]:
        t = metadata.tables[table]
        query = select(t).limit(limit).offset(offset)
        if order_by is not None:
            column = t.c[order_by]
            query = query.order_by(column.desc() if descending else column.asc())
        else:
            query = query.order_by(*(c.asc() for c in t.primary_key.columns))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [c.name for c in t.columns], [{k: _utc(v) for k, v in r.items()} for r in rows]

    async def count(self, table: str) -> int:
        async with self.engine.connect() as conn:
            return int(
                (
                    await conn.execute(select(func.count()).select_from(metadata.tables[table]))
                ).scalar_one()
            )


def _match(table: Any, match: Row) -> list[Any]:
    return [table.c[k] == v for k, v in match.items()]


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """WAL lets a rebuild in another process write while the service reads."""
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
