"""What a projection runner needs from a read-model database, in plain rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from attrs import frozen

Row = Mapping[str, Any]


@frozen
class ReplaceRows:
    """Delete the rows of `table` matching `match`, then insert `rows`."""

    table: str
    match: Row
    rows: Sequence[Row]


@frozen
class Upsert:
    """Insert or update the one row of `table` identified by the `key` columns of `row`."""

    table: str
    key: tuple[str, ...]
    row: Row


@frozen
class InsertRows:
    """Append rows (history that is never rewritten)."""

    table: str
    rows: Sequence[Row]


@frozen
class Increment:
    """Insert the one row of `table` identified by the `key` columns of `row`, or, when it is
    there, add `row`'s `add` columns to the stored ones, keep the larger of the stored and the
    new value in the `greatest` columns, and set the other columns from `row`.

    For totals that grow with the log (plays per medium): the projection writes what a batch
    added, so it need not hold every total in memory. Increments to one key apply in order."""

    table: str
    key: tuple[str, ...]
    row: Row
    add: tuple[str, ...]
    greatest: tuple[str, ...] = ()


Write = ReplaceRows | Upsert | InsertRows | Increment


class CheckpointMoved(Exception):
    """Another process (a rebuild, a second instance) moved this projection's checkpoint."""

    def __init__(self, name: str, expected: int, actual: int) -> None:
        super().__init__(f"projection {name} is at {actual}, not {expected}")
        self.name = name
        self.expected = expected
        self.actual = actual


@frozen
class ProjectionStatus:
    name: str
    position: int
    last_error: str | None


class ProjectionStore(Protocol):
    async def prepare(self) -> None:
        """Create the tables if they are missing."""
        ...

    async def checkpoint(self, name: str) -> int: ...

    async def status(self, name: str) -> ProjectionStatus: ...

    async def commit(
        self, name: str, expected: int, position: int, writes: Sequence[Write]
    ) -> None:
        """Rows and checkpoint in one transaction; CheckpointMoved if it is not at `expected`."""
        ...

    async def reset(self, name: str, tables: Sequence[str]) -> None:
        """Empty the projection's tables and put its checkpoint back to 0, atomically."""
        ...

    async def record_error(self, name: str, error: str | None) -> None: ...

    async def fetch(
        self, table: str, match: Row | None = None, order_by: Sequence[str] = ()
    ) -> list[dict[str, Any]]: ...

    async def count(self, table: str) -> int: ...

    async def page(
        self, table: str, *, order_by: str | None, descending: bool, limit: int, offset: int
    ) -> tuple[list[str], list[dict[str, Any]]]:
        """(column names, one page of rows): for browsing a read model."""
        ...
