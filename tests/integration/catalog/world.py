"""A catalog over a real read-model database: the log (in memory), the projection runner, the
SQL index, the refresher and the service, with a source the test chooses."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

from attrs import define, field

from adapters.clock import VirtualClock
from adapters.log.memory_store import InMemoryEventStore
from adapters.sql.catalog_index import SqlCatalogIndex
from adapters.sql.projection_store import SqlProjectionStore
from application.catalog.config import CatalogConfig
from application.catalog.ports import CatalogSource, Report, SearchQuery
from application.catalog.projection import CatalogProjection
from application.catalog.refresh import CatalogRefresher
from application.catalog.service import CatalogService
from application.identity.roles import Identity
from application.log.command_handler import CommandHandler
from application.log.ports import AppendResult, Commit
from application.projections.runner import ProjectionRunner
from domain.catalog.items import CatalogItem, make_item
from domain.catalog.model import ItemsIndexed

START = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
ADMIN = Identity("boss", "admin")
VIEWER = Identity("ann", "viewer")
TEMPLATE = "https://media.example/api/v1/media/cytube/{video_id}.json?format=json"


def item(n: int, title: str, *categories: str, duration: int = 600, **kw: Any) -> CatalogItem:
    return make_item(
        video_id=f"v{n:05d}",
        title=title,
        ordinal=n,
        manifest_template=TEMPLATE,
        categories=categories,
        duration_sec=duration,
        **kw,
    )


@define
class ListSource:
    """Items the test sets; `gate`, when set, holds the read until the test opens it."""

    items: list[CatalogItem]
    gate: asyncio.Event | None = None
    reads: int = 0
    known_seen: list[int] = field(factory=list)
    description: str = "the test's list"

    async def read(self, known: Mapping[str, CatalogItem], report: Report) -> list[CatalogItem]:
        self.reads += 1
        self.known_seen.append(len(known))
        report.listed(len(self.items), len(self.items))
        if self.gate is not None:
            await self.gate.wait()
        return list(self.items)


class HoldingStore(InMemoryEventStore):
    """Holds the append of catalog batch `hold_batch` (a process that dies mid-refresh)."""

    def __init__(self) -> None:
        super().__init__()
        self.hold_batch: int | None = None
        self.held = asyncio.Event()

    async def append(self, commit: Commit, expected_position: int) -> AppendResult:
        for event in commit.events:
            if isinstance(event, ItemsIndexed) and event.batch == self.hold_batch:
                self.held.set()
                await asyncio.Event().wait()  # until cancelled
        return await super().append(commit, expected_position)


@define
class World:
    events: HoldingStore
    store: SqlProjectionStore
    index: SqlCatalogIndex
    clock: VirtualClock
    handler: CommandHandler
    runner: ProjectionRunner | None = None
    task: asyncio.Task[Any] | None = None

    def refresher(
        self, source: CatalogSource, *, owner: str = "node-a", **config: Any
    ) -> CatalogRefresher:
        return CatalogRefresher(
            self.handler,
            self.events,
            self.index,
            source,
            self.clock,
            channel="lobby",
            owner=owner,
            config=CatalogConfig(**config),
        )

    def service(self, refresher: CatalogRefresher, **kw: Any) -> CatalogService:
        return CatalogService(self.index, refresher, **kw)

    async def follow(self) -> None:
        """Run the projection live (as the service does)."""
        runner = ProjectionRunner(self.events, self.store, CatalogProjection(), batch_size=50)
        self.runner = runner
        self.task = asyncio.create_task(runner.run())
        await runner.caught_up.wait()

    async def settled(self) -> None:
        """Until the projection has folded everything in the log."""
        head = await self.events.head()
        for _ in range(500):
            if self.runner is not None and self.runner.position >= head:
                await asyncio.sleep(0.05)  # its transaction
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the catalog projection did not catch up")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task

    async def titles(self, **query: Any) -> list[str]:
        page = await self.index.search(SearchQuery("lobby", **query))
        return [i.title for i in page.items]


@contextlib.asynccontextmanager
async def world_on(url: str, **engine: Any) -> AsyncIterator[World]:
    store = SqlProjectionStore(url, **engine)
    await store.prepare()
    index = SqlCatalogIndex(store.engine)
    await index.prepare()
    events = HoldingStore()
    clock = VirtualClock(START, speed=1.0)
    world = World(events, store, index, clock, CommandHandler(events, clock))
    try:
        yield world
    finally:
        await world.stop()
        await store.close()
