"""A read-model store for projections shared by several instances: only the holder of the
database's projections lease writes; the others fold the log in memory all the same (their
live fan-out to their own sockets is driven by it) but write nothing.

A non-holder's commit waits instead until the holder's checkpoint has reached the same position,
so on every instance a projection's position still means "its rows are in the database" (whoever
reads rows after waiting for a position reads them). If this instance takes the lease meanwhile,
it writes itself: the checkpoint it expects is then usually stale, the store says so
(CheckpointMoved) and the runner reloads from the rows, as after any other writer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from application.leases.keeper import LeaseKeeper
from application.projections.ports import ProjectionStatus, ProjectionStore, Row, Write

POLL_SEC = 0.05


class LeasedProjectionStore:
    def __init__(
        self, store: ProjectionStore, keeper: LeaseKeeper, lease: str, *, poll: float = POLL_SEC
    ) -> None:
        self._store = store
        self._keeper = keeper
        self.lease = lease
        self._poll = poll

    async def prepare(self) -> None:
        await self._store.prepare()

    async def checkpoint(self, name: str) -> int:
        return await self._store.checkpoint(name)

    async def status(self, name: str) -> ProjectionStatus:
        return await self._store.status(name)

    async def commit(
        self, name: str, expected: int, position: int, writes: Sequence[Write]
    ) -> None:
        while not self._keeper.held(self.lease):
            if await self._store.checkpoint(name) >= position:
                return  # the holder wrote it
            await asyncio.sleep(self._poll)
        await self._store.commit(name, expected, position, writes)

    async def writer_elsewhere(self) -> str | None:
        """Who writes the rows when this instance does not (a sentence naming the holder), or
        None when this instance holds the lease and may write, a rebuild included."""
        if self._keeper.held(self.lease):
            return None
        for entry in await self._keeper.entries():
            if entry.name == self.lease:
                h = entry.holding
                return f"instance {h.holder} on node {h.node} does"
        return "no instance holds their lease at the moment; one takes it within the lease TTL"

    async def reset(self, name: str, tables: Sequence[str]) -> None:
        await self._store.reset(name, tables)

    async def record_error(self, name: str, error: str | None) -> None:
        if self._keeper.held(self.lease):
            await self._store.record_error(name, error)

    async def fetch(
        self, table: str, match: Row | None = None, order_by: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        return await self._store.fetch(table, match, order_by)

    async def count(self, table: str) -> int:
        return await self._store.count(table)

    async def page(
        self, table: str, *, order_by: str | None, descending: bool, limit: int, offset: int
    ) -> tuple[list[str], list[dict[str, Any]]]:
        return await self._store.page(
            table, order_by=order_by, descending=descending, limit=limit, offset=offset
        )
