"""The ProjectionStore on SQLAlchemy Core: a SQLite file by default, PostgreSQL by URL.

A batch's writes are coalesced before they are executed, so a batch costs a handful of
statements (each an executemany) rather than one or two per row: every statement is a round
trip (through aiosqlite's thread, or to PostgreSQL), and a rebuild spent most of its time there.
The coalescing keeps the rows exactly as applying the writes one by one would leave them:

- writes to different tables commute (the read models have no foreign keys or triggers), so
  each table's writes are taken in their own order;
- consecutive writes that each touch one row by primary key (an Upsert keyed on the primary key,
  a ReplaceRows matching the whole primary key) become: the last write per key, as one DELETE
  for the replaced keys, one INSERT of their new rows, and one INSERT ... ON CONFLICT DO UPDATE
  per column set for the upserted ones (SQLite and PostgreSQL);
- consecutive ReplaceRows matching the same columns (a channel's items) become one DELETE and
  one INSERT, the last write per match winning, when every row lies inside its own match;
- consecutive InsertRows become one INSERT;
- consecutive Increments with the same columns become one INSERT ... ON CONFLICT DO UPDATE
  that adds (each row applied in order, so two increments to one key both count).
Anything else runs as written.

The coalesced statements are compiled once per table and column set, and executed on the
driver (`exec_driver_sql`) with plain tuples, each value passed through the dialect's own bind
processor for its column: SQLAlchemy's per-row parameter handling was a third of a rebuild.
Dialects with a named paramstyle take SQLAlchemy's ordinary executemany instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, case, delete, event, func, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from adapters.sql.tables import checkpoints, metadata
from application.projections.ports import (
    CheckpointMoved,
    Increment,
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
        # INSERT ... ON CONFLICT DO UPDATE, for upserts by primary key in one statement
        self._upserts = self.engine.dialect.name in ("sqlite", "postgresql")
        self._statements: dict[tuple[Any, ...], _Statement] = {}
        self._kinds: dict[tuple[Any, ...], tuple[str, ...]] = {}

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
            for step in self._plan(writes):
                await self._run(conn, step)

    # ---- coalescing a batch's writes (see the module docstring) --------------------------------

    def _kind(self, write: Write, pk: tuple[str, ...]) -> tuple[str, ...]:
        if isinstance(write, InsertRows):
            return ("insert",)
        if isinstance(write, Upsert | Increment):
            # the same few shapes over and over: decided once per shape
            shape = (type(write), write.table, write.key, getattr(write, "add", None))
            kind = self._kinds.get(shape)
            if kind is None:
                kind = self._kinds[shape] = self._row_kind(write, pk)
            return kind
        if not all(_inside(row, write.match) for row in write.rows):
            return ("single",)
        if set(write.match) == set(pk):
            return ("pk",)
        return ("replace", *sorted(write.match))

    def _row_kind(self, write: Upsert | Increment, pk: tuple[str, ...]) -> tuple[str, ...]:
        if not self._upserts or set(write.key) != set(pk):
            return ("single",)
        if isinstance(write, Increment):
            return ("increment", *write.add, "|", *write.greatest)
        return ("pk",)

    def _plan(self, writes: Sequence[Write]) -> list[tuple[Any, ...]]:
        by_table: dict[str, list[Write]] = {}
        for write in writes:
            by_table.setdefault(write.table, []).append(write)
        steps: list[tuple[Any, ...]] = []
        for name, table_writes in by_table.items():
            table = metadata.tables[name]
            pk = tuple(c.name for c in table.primary_key.columns)
            kinds = [self._kind(w, pk) for w in table_writes]
            i = 0
            while i < len(table_writes):
                j = i + 1
                if kinds[i] != ("single",):
                    while j < len(table_writes) and kinds[j] == kinds[i]:
                        j += 1
                steps.extend(_steps(table, pk, kinds[i], table_writes[i:j]))
                i = j
        return steps

    async def _run(self, conn: AsyncConnection, step: tuple[Any, ...]) -> None:
        kind, table = step[0], step[1]
        if kind == "single":
            await self._apply(conn, step[2])
        elif kind == "insert":
            rows = step[2]
            await self._execute(conn, ("insert", table.name, tuple(rows[0])), rows)
        elif kind == "delete":
            columns, matches = step[2], step[3]
            await self._execute(conn, ("delete", table.name, columns), matches)
        elif kind == "upsert":
            pk, rows = step[2], step[3]
            await self._execute(conn, ("upsert", table.name, pk, tuple(rows[0])), rows)
        elif kind == "increment":
            write, rows = step[2], step[3]
            key = ("increment", table.name, write.key, write.add, write.greatest, tuple(rows[0]))
            await self._execute(conn, key, rows)

    async def _execute(
        self, conn: AsyncConnection, key: tuple[Any, ...], rows: Sequence[Row]
    ) -> None:
        """One statement (compiled once per `key`) for every row, in order."""
        statement = self._statements.get(key)
        if statement is None:
            statement = self._statements[key] = _Statement(self._build(key), self.engine.dialect)
        if statement.positional:
            await conn.exec_driver_sql(statement.sql, statement.parameters(rows))
        else:
            await conn.execute(statement.clause, [statement.named(r) for r in rows])

    def _build(self, key: tuple[Any, ...]) -> Any:
        """The SQLAlchemy statement of a coalesced step (see `_run` for the keys)."""
        kind, table = key[0], metadata.tables[key[1]]
        if kind == "insert":
            return insert(table).values({c: bindparam(c) for c in key[2]})
        if kind == "delete":
            return delete(table).where(*(table.c[c] == bindparam(c) for c in key[2]))
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        if kind == "upsert":
            pk, columns = key[2], key[3]
            add: tuple[str, ...] = ()
            greatest: tuple[str, ...] = ()
        else:
            pk, add, greatest, columns = key[2], key[3], key[4], key[5]
        base = dialect_insert(table).values({c: bindparam(c) for c in columns})
        updates: dict[str, Any] = {}
        for c in columns:
            if c in pk:
                continue
            new, old = base.excluded[c], table.c[c]
            if c in add:
                updates[c] = old + new
            elif c in greatest:
                updates[c] = case((new > old, new), else_=old)
            else:
                updates[c] = new
        if updates:
            return base.on_conflict_do_update(index_elements=list(pk), set_=updates)
        return base.on_conflict_do_nothing(index_elements=list(pk))

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
        elif isinstance(write, Increment):
            key = {k: write.row[k] for k in write.key}
            changes: dict[str, Any] = {}
            for k, v in write.row.items():
                if k in write.key:
                    continue
                column = table.c[k]
                if k in write.add:
                    changes[k] = column + v
                elif k in write.greatest:
                    changes[k] = case((column < v, v), else_=column)
                else:
                    changes[k] = v
            result = await conn.execute(update(table).where(*_match(table, key)).values(changes))
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


def _inside(row: Row, match: Row) -> bool:
    return all(k in row and row[k] == v for k, v in match.items())


def _steps(
    table: Any, pk: tuple[str, ...], kind: tuple[str, ...], run: Sequence[Write]
) -> list[tuple[Any, ...]]:
    """The statements for a run of writes of one kind to one table (see the module docstring)."""
    if kind == ("single",):
        return [("single", table, write) for write in run]
    if kind == ("insert",):
        rows = [r for write in run for r in write.rows]  # type: ignore[union-attr]
        return _by_columns("insert", table, rows)
    if kind[0] == "increment":
        rows = [w.row for w in run]  # type: ignore[union-attr]
        return [("increment", table, run[0], group) for _, group in _runs_by_columns(rows)]
    columns = pk if kind == ("pk",) else kind[1:]
    key_of = _tuple_getter(columns)
    last: dict[tuple[Any, ...], Write] = {}
    deleted: set[tuple[Any, ...]] = set()
    for write in run:
        where = write.row if isinstance(write, Upsert) else write.match  # type: ignore[union-attr]
        values = key_of(where)
        last.pop(values, None)  # the last write to a key (or match) is the one that counts,
        last[values] = write
        if isinstance(write, ReplaceRows):
            deleted.add(values)  # on top of a delete if any write before it replaced the rows
    steps: list[tuple[Any, ...]] = []
    if deleted:
        matches = [dict(zip(columns, values, strict=True)) for values in last if values in deleted]
        steps.append(("delete", table, columns, matches))
        rows = [r for w in last.values() if isinstance(w, ReplaceRows) for r in w.rows]
        steps.extend(_by_columns("insert", table, rows))
    by_columns: dict[tuple[str, ...], list[Row]] = {}
    for write in last.values():
        if isinstance(write, Upsert):
            by_columns.setdefault(tuple(write.row), []).append(write.row)
    steps.extend(("upsert", table, pk, rows) for rows in by_columns.values())
    return steps


def _by_columns(kind: str, table: Any, rows: Sequence[Row]) -> list[tuple[Any, ...]]:
    """Inserts grouped by their column set (order does not matter between new rows)."""
    groups: dict[tuple[str, ...], list[Row]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    return [(kind, table, group) for group in groups.values()]


def _runs_by_columns(rows: Sequence[Row]) -> list[tuple[tuple[str, ...], list[Row]]]:
    """Consecutive rows with the same column set, in order (increments must keep theirs)."""
    runs: list[tuple[tuple[str, ...], list[Row]]] = []
    for row in rows:
        columns = tuple(row)
        if runs and runs[-1][0] == columns:
            runs[-1][1].append(row)
        else:
            runs.append((columns, [row]))
    return runs


def _tuple_getter(keys: Sequence[str]) -> Callable[[Row], tuple[Any, ...]]:
    """`row -> tuple(row[k] for k in keys)`, at C speed."""
    get = itemgetter(*keys)
    if len(keys) == 1:
        return lambda row: (get(row),)
    return get


class _Statement:
    """A statement compiled once for the engine's dialect, fed plain tuples in bind order with
    each value through the column type's bind processor (what SQLAlchemy does per row, once)."""

    def __init__(self, clause: Any, dialect: Any) -> None:
        self.clause = clause
        compiled = clause.compile(dialect=dialect)
        self.sql: str = compiled.string
        self.positional: bool = bool(compiled.positional) and compiled.positiontup is not None
        names: list[str] = list(compiled.positiontup or compiled.binds)
        binds = [compiled.binds[n] for n in names]
        self._keys = tuple(b.key for b in binds)
        self._get = _tuple_getter(self._keys)
        self._processors = [
            (i, processor)
            for i, b in enumerate(binds)
            if (processor := b.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        ]

    def parameters(self, rows: Sequence[Row]) -> list[tuple[Any, ...]]:
        get, processors = self._get, self._processors
        if not processors:
            return [get(row) for row in rows]
        out = []
        for row in rows:
            value = list(get(row))
            for i, process in processors:
                value[i] = process(value[i])
            out.append(tuple(value))
        return out

    def named(self, row: Row) -> dict[str, Any]:
        return {k: row[k] for k in self._keys}


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """WAL lets a rebuild in another process write while the service reads."""
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
