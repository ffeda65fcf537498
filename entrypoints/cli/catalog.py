"""`webqueue catalog refresh`: read the configured source and record a new snapshot in the log,
with a progress bar; `webqueue catalog status`: the latest snapshots.

The refresh runs in this process, so it works whether the service runs or not: the service's
projection makes the snapshot current when it reads the completion (at once when it runs, at
its next start otherwise). A refresh the service is running is refused (one at a time)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from entrypoints.config.settings import Settings


def add_catalog_parser(sub: argparse._SubParsersAction, common) -> None:  # type: ignore[type-arg, no-untyped-def]
    catalog = sub.add_parser("catalog", help="refresh the catalog, or show its snapshots")
    action = catalog.add_subparsers(dest="catalog_action", required=True, metavar="ACTION")
    refresh = action.add_parser("refresh", help="read the source and record a new snapshot")
    common(refresh)
    refresh.add_argument("--channel", help="the channel (default lobby)")
    refresh.add_argument("--db", help="read-model database URL (default: SQLite in the data dir)")
    refresh.add_argument(
        "--full", action="store_true", help="read every item's details, not only changed ones"
    )
    status = action.add_parser("status", help="the latest snapshots, newest first")
    common(status, log=False)
    status.add_argument("--channel", help="the channel (default lobby)")
    status.add_argument("--db", help="read-model database URL (default: SQLite in the data dir)")


def _bar(done: int, total: int | None, width: int = 30) -> str:
    if not total:
        return f"{done:,}"
    filled = min(int(width * done / total), width)
    return f"[{'#' * filled}{'-' * (width - filled)}] {done:,}/{total:,}"


async def run_catalog(settings: Settings, action: str, *, full: bool = False) -> int:
    if action == "status":
        return await _status(settings)
    return await _refresh(settings, full)


async def _status(settings: Settings) -> int:
    from adapters.sql.catalog_index import SqlCatalogIndex
    from entrypoints.bootstrap import open_read_models

    read_models = await open_read_models(settings)
    try:
        snaps = await SqlCatalogIndex(read_models.engine).snapshots(settings.channel, 10)
    finally:
        await read_models.close()
    if not snaps:
        print(f"no catalog snapshot for {settings.channel} yet", file=sys.stderr)
    for s in snaps:
        mark = "*" if s.current else " "
        print(
            f"{mark} {s.snapshot_id[:12]} {s.status:9} {s.started_at:%Y-%m-%d %H:%M} "
            f"{s.item_count:>6} items  +{s.added} -{s.removed} ~{s.changed}  {s.source}"
            + (f"  ({s.reason})" if s.reason else "")
        )
    return 0


_PROJECT_TRIES = 20


async def _project(events: object, read_models: object) -> None:
    """Fold the log into the catalog's read model here too, so the new snapshot is current
    whether the service runs or not (a runner that finds its checkpoint moved by the service's
    reloads and goes on: they never interleave rows)."""
    from application.catalog.projection import CatalogProjection
    from application.projections.ports import CheckpointMoved
    from application.projections.runner import ProjectionRunner

    runner = ProjectionRunner(events, read_models, CatalogProjection())  # type: ignore[arg-type]
    for attempt in range(_PROJECT_TRIES):
        try:
            await runner.start()
            await runner.catch_up()
            return
        except CheckpointMoved:
            # The running service folded the same commits first: reload its rows, go on.
            if attempt == _PROJECT_TRIES - 1:
                raise


async def _refresh(settings: Settings, full: bool) -> int:
    from adapters.clock import WallClock
    from adapters.sql.catalog_index import SqlCatalogIndex
    from application.catalog.refresh import CatalogRefresher
    from application.log.command_handler import CommandHandler
    from domain.errors import Rejected
    from entrypoints.bootstrap import catalog_source, node_name, open_log, open_read_models

    source = catalog_source(settings)
    if source is None:
        print('webqueue: no catalog source ([catalog] source = "none")', file=sys.stderr)
        return 2
    log_ = await open_log(settings)
    read_models = await open_read_models(settings)
    out = sys.stderr
    tty = out.isatty()
    try:
        clock = WallClock()
        refresher = CatalogRefresher(
            CommandHandler(log_.events, clock),
            log_.events,
            SqlCatalogIndex(read_models.engine),
            source,
            clock,
            channel=settings.channel,
            owner=f"{node_name(settings)}:cli",
            config=settings.catalog,
        )
        try:
            await refresher.start("cli", full=full)
        except Rejected as exc:
            print(f"webqueue: {exc.code}: {exc.message}", file=out)
            return 1
        print(f"refreshing the catalog of {settings.channel} from {source.description}", file=out)
        version = -1
        shown = ""
        while True:
            progress = await refresher.changed(version, 1.0)
            version = progress.version
            if progress.phase == "listing":
                line = f"listing  {_bar(progress.listed, progress.total)}"
            elif progress.phase == "details":
                line = f"details  {_bar(progress.detailed, progress.details_needed)}"
            elif progress.phase == "indexing":
                line = f"indexing {_bar(progress.indexed, progress.item_count)}"
            else:
                line = progress.phase
            if line != shown:
                out.write(f"\r{line:<70}" if tty else f"{line}\n")
                out.flush()
                shown = line
            if not progress.running:
                break
            await asyncio.sleep(0.1)
        if tty:
            out.write("\n")
        progress = await refresher.wait()
        for warning in progress.warnings:
            print(f"warning: {warning}", file=out)
        if progress.phase != "completed":
            print(f"webqueue: the refresh failed: {progress.error}", file=out)
            await _project(log_.events, read_models)  # so `catalog status` shows it too
            return 1
        print(f"snapshot {progress.refresh_id} recorded: {progress.item_count:,} items", file=out)
        await _project(log_.events, read_models)
        print("it is the current snapshot now", file=out)
        return 0
    finally:
        await refresher.stop()
        await read_models.close()
        await log_.close()
