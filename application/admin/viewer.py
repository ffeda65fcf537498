"""What the admin projections viewer needs: status, rebuilds with progress, rows, commits."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import msgspec

from application.errors import NotFoundError
from application.identity.roles import Identity, require
from application.log.ports import EventStore, StoredCommit, release
from application.projections.base import Projection
from application.projections.ports import ProjectionStore
from application.projections.runner import ProjectionRunner
from domain.errors import Rejected

log = logging.getLogger(__name__)

MAX_POSITION = 2**63 - 1
"""The highest log position asked about; a wider one fails in the log, not as "not found"."""


class Progress(msgspec.Struct):
    done: int
    total: int
    started_at: datetime
    finished_at: datetime | None = None
    error: str | None = None


class ProjectionInfo(msgspec.Struct):
    name: str
    position: int
    head: int
    lag: int
    last_error: str | None
    tables: dict[str, int]
    rebuild: Progress | None


class TablePage(msgspec.Struct):
    projection: str
    table: str
    columns: list[str]
    rows: list[dict[str, Any]]
    total: int
    page: int
    size: int


class CommitView(msgspec.Struct):
    position: int
    commit_id: str
    channel: str
    aggregate: str
    aggregate_id: str
    version: int
    at: datetime
    actor: str
    causation_id: str | None
    correlation_id: str | None
    events: list[dict[str, Any]]


EventEncoder = Callable[[object], dict[str, Any]]


class Admin:
    def __init__(
        self,
        events: EventStore,
        read_models: ProjectionStore,
        projections: Callable[[], Sequence[Projection]],
        clock_now: Callable[[], datetime],
        encode_event: EventEncoder,
        writer_elsewhere: Callable[[], Awaitable[str | None]] | None = None,
    ) -> None:
        self._events = events
        self._writer_elsewhere = writer_elsewhere
        self._read = read_models
        self._projections = projections
        self._now = clock_now
        self._encode = encode_event
        self._rebuilds: dict[str, Progress] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def _projection(self, name: str) -> Projection:
        for projection in self._projections():
            if projection.name == name:
                return projection
        raise NotFoundError("unknown_projection", f"No projection named {name!r}.")

    async def projections(self, who: Identity) -> list[ProjectionInfo]:
        require(who, "admin")
        head = await self._events.head()
        out = []
        for projection in self._projections():
            status = await self._read.status(projection.name)
            tables = {t: await self._read.count(t) for t in projection.tables}
            out.append(
                ProjectionInfo(
                    name=projection.name,
                    position=status.position,
                    head=head,
                    lag=max(head - status.position, 0),
                    last_error=status.last_error,
                    tables=tables,
                    rebuild=self._rebuilds.get(projection.name),
                )
            )
        return out

    async def rebuild(self, who: Identity, name: str) -> Progress:
        """Start a rebuild in the background (a fresh runner: the live one notices the moved
        checkpoint and reloads); progress shows in `projections()`."""
        require(who, "admin")
        projection = self._projection(name)
        # Several instances share the read models and one of them writes them (its lease): a
        # rebuild anywhere else would write beside it, so it is refused and the writer named.
        elsewhere = await self._writer_elsewhere() if self._writer_elsewhere else None
        if elsewhere is not None:
            raise Rejected(
                "not_the_writer",
                f"This instance does not write the read models ({elsewhere}). "
                "Rebuild from the writer's admin page.",
            )
        running = self._tasks.get(name)
        if running is not None and not running.done():
            return self._rebuilds[name]
        progress = Progress(0, 0, self._now())
        self._rebuilds[name] = progress

        def report(done: int, total: int) -> None:
            progress.done, progress.total = done, total

        async def run() -> None:
            try:
                await ProjectionRunner(self._events, self._read, projection).rebuild(report)
            except Exception as exc:
                log.exception("rebuild of %s failed", name)
                progress.error = repr(exc)
            finally:
                progress.finished_at = self._now()

        self._tasks[name] = asyncio.create_task(run())
        return progress

    async def rows(
        self,
        who: Identity,
        name: str,
        table: str,
        *,
        page: int,
        size: int,
        sort: str | None,
        descending: bool,
    ) -> TablePage:
        require(who, "admin")
        projection = self._projection(name)
        if table not in projection.tables:
            raise NotFoundError("unknown_table", f"{name} has tables {projection.tables}.")
        try:
            columns, rows = await self._read.page(
                table, order_by=sort, descending=descending, limit=size, offset=(page - 1) * size
            )
        except KeyError as exc:
            raise NotFoundError("unknown_column", f"{table} has no column {sort!r}.") from exc
        return TablePage(name, table, columns, rows, await self._read.count(table), page, size)

    async def commit(self, who: Identity, position: int) -> CommitView:
        require(who, "admin")
        if not 1 <= position <= MAX_POSITION:  # the log starts at 1; JetStream's are uint64
            raise NotFoundError("unknown_position", f"No commit at log position {position}.")
        found: StoredCommit | None = None
        commits = self._events.read_all(after=position - 1)
        try:
            async for stored in commits:
                found = stored
                break
        finally:
            await release(commits)  # its consumer goes now, not when the reader is collected
        if found is None or found.position != position:
            raise NotFoundError("unknown_position", f"No commit at log position {position}.")
        c = found.commit
        return CommitView(
            position=found.position,
            commit_id=c.commit_id,
            channel=c.stream.channel,
            aggregate=c.stream.aggregate,
            aggregate_id=c.stream.id,
            version=c.version,
            at=c.at,
            actor=c.actor,
            causation_id=c.causation_id,
            correlation_id=c.correlation_id,
            events=[self._encode(e) for e in c.events],
        )
