"""`webqueue catalog refresh` folds the new snapshot into the read model itself, so it is current
whether the service runs or not. When the service is running it folds the same commits at the
same time; whichever commits second finds the checkpoint moved. Met for real against a MediaCMS
of 1,300 items (seven batches): the CLI then died with a traceback after the snapshot was
recorded. It must reload the service's rows and finish instead."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from adapters.clock import VirtualClock
from adapters.log.memory_store import InMemoryEventStore
from adapters.sql.projection_store import SqlProjectionStore, sqlite_url
from application.catalog.projection import CatalogProjection
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.ports import StoredCommit
from application.log.streams import catalog_stream
from application.projections.runner import ProjectionRunner
from domain.catalog.diff import SnapshotDiff
from domain.catalog.items import make_item
from domain.catalog.model import CompleteRefresh, IndexItems, StartRefresh, catalog_decider
from entrypoints.cli.catalog import _project

START = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)
TEMPLATE = "https://m.example/api/v1/media/cytube/{video_id}.json?format=json"


class ServiceFoldsFirst(InMemoryEventStore):
    """The log as the CLI reads it, with the running service folding everything into the same
    read model just before the CLI's first read of the commits."""

    def __init__(self) -> None:
        super().__init__()
        self.service: ProjectionRunner | None = None
        self.interleaved = 0

    async def read_all(
        self, after: int = 0, channel: str | None = None
    ) -> AsyncIterator[StoredCommit]:
        if self.service is not None and self.interleaved < 1:
            self.interleaved += 1
            await self.service.catch_up()
        async for stored in super().read_all(after, channel):
            yield stored


async def _snapshot(events: InMemoryEventStore, count: int) -> None:
    handler = CommandHandler(events, VirtualClock(START))
    stream = catalog_stream("lobby")
    await handler.handle(
        catalog_decider, stream, StartRefresh("r1", "test", "cli", "cli"), CommandMeta.new()
    )
    items = [
        make_item(video_id=f"v{n:04d}", title=f"Item {n}", ordinal=n, manifest_template=TEMPLATE)
        for n in range(count)
    ]
    for batch in range(0, count, 200):
        await handler.handle(
            catalog_decider,
            stream,
            IndexItems("r1", batch // 200, tuple(items[batch : batch + 200])),
            CommandMeta.new(),
        )
    await handler.handle(
        catalog_decider,
        stream,
        CompleteRefresh("r1", count, SnapshotDiff(count, 0, 0, ())),
        CommandMeta.new(),
    )


async def test_the_cli_finishes_when_the_service_folded_the_snapshot_first(
    tmp_path: Path,
) -> None:
    events = ServiceFoldsFirst()
    store = SqlProjectionStore(sqlite_url(tmp_path / "read.db"))
    await store.prepare()
    try:
        service = ProjectionRunner(events, store, CatalogProjection())
        await service.start()  # the service is running, caught up before the refresh
        await _snapshot(events, 1300)
        events.service = service
        await _project(events, store)  # raised CheckpointMoved before
        assert events.interleaved == 1
        head = await events.head()
        assert await store.checkpoint(CatalogProjection().name) == head
    finally:
        await store.close()
