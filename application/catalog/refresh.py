"""A catalog refresh as a process: started in the log, the source read (with progress), the items
appended in numbered batches, then completed with the diff against the snapshot it replaces, or
failed with the reason. The current snapshot changes only at completion (the projection).

One refresh at a time: here in the process (a second request is refused while one runs) and in
the log across processes (the decider). After a restart, a refresh this process (its `owner`
name) left running is failed and started again in one decision, so there is never a half
snapshot; one another process left is taken over once it has been silent `stale_after_sec`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Literal

import msgspec

from application.catalog.config import CatalogConfig
from application.catalog.ports import CatalogIndex, CatalogSource, CatalogSourceError
from application.clock import Clock
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.ports import EventStore, StoreUnavailable
from application.log.streams import catalog_stream
from application.tasks import cancel_and_wait
from domain.catalog.diff import diff
from domain.catalog.items import CatalogItem
from domain.catalog.model import (
    CatalogState,
    CompleteRefresh,
    FailRefresh,
    IndexItems,
    ItemsIndexed,
    StartRefresh,
    catalog_decider,
)
from domain.errors import Rejected

log = logging.getLogger(__name__)

Phase = Literal["idle", "listing", "details", "indexing", "completed", "failed"]
# How long a refresh waits for the read model to hold the snapshot it will be compared with.
READ_MODEL_WAIT_SEC = 10.0


class RefreshProgress(msgspec.Struct):
    phase: Phase = "idle"
    refresh_id: str | None = None
    source: str = ""
    by: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    listed: int = 0
    total: int | None = None
    detailed: int = 0
    details_needed: int = 0
    indexed: int = 0
    item_count: int = 0
    warnings: list[str] = msgspec.field(default_factory=list)
    error: str | None = None
    version: int = 0  # grows with every change, for watchers

    @property
    def running(self) -> bool:
        return self.phase in ("listing", "details", "indexing")


class _Report:
    def __init__(self, refresher: CatalogRefresher) -> None:
        self._r = refresher

    def listed(self, count: int, total: int | None) -> None:
        self._r._set(phase="listing", listed=count, total=total)

    def detailed(self, done: int, needed: int) -> None:
        self._r._set(phase="details", detailed=done, details_needed=needed)

    def warn(self, message: str) -> None:
        log.warning("catalog: %s", message)
        progress = self._r.progress
        if message not in progress.warnings:
            self._r._set(warnings=[*progress.warnings, message][-50:])


class CatalogRefresher:
    def __init__(
        self,
        handler: CommandHandler,
        events: EventStore,
        index: CatalogIndex,
        source: CatalogSource | None,
        clock: Clock,
        *,
        channel: str,
        owner: str,
        config: CatalogConfig,
        log_available: Callable[[], bool] = lambda: True,
    ) -> None:
        self._handler = handler
        self._events = events
        self._starting = False
        self._index = index
        self._source = source
        self._clock = clock
        self._channel = channel
        self._owner = owner
        self._config = config
        self._log_available = log_available
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self.progress = RefreshProgress()
        # Set once the start-up step of the schedule is over (its refresh, if any, ended).
        self.started_up = asyncio.Event()

    @property
    def source(self) -> str:
        return self._source.description if self._source is not None else "none"

    def _set(self, **changes: object) -> None:
        for name, value in changes.items():
            setattr(self.progress, name, value)
        self.progress.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def changed(self, after: int, wait_sec: float) -> RefreshProgress:
        """The progress once its version is past `after` (or after `wait_sec` seconds)."""
        if self.progress.version <= after:
            waiter = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.wait(), wait_sec)
        return self.progress

    async def state(self) -> CatalogState:
        state: CatalogState = await self._handler.state(
            catalog_decider, catalog_stream(self._channel)
        )
        return state

    def why_not(self) -> str | None:
        """Why a refresh cannot start now, or None."""
        if self._source is None:
            return 'No catalog source is configured ([catalog] source = "none").'
        if not self._log_available():
            return "The event log (NATS) cannot be reached, so a refresh cannot be recorded."
        if self._starting or (self._task is not None and not self._task.done()):
            return "A refresh is already running in this service."
        return None

    async def start(self, by: str, *, full: bool = False) -> str:
        """Record the start, then read and index in the background; the refresh id."""
        problem = self.why_not()
        if problem is not None:
            code = "refresh_running" if "already" in problem else "refresh_unavailable"
            raise Rejected(code, problem)
        assert self._source is not None
        refresh_id = uuid.uuid4().hex
        self._starting = True
        try:
            await self._handler.handle(
                catalog_decider,
                catalog_stream(self._channel),
                StartRefresh(
                    refresh_id,
                    self._source.description,
                    self._owner,
                    by,
                    stale_after_sec=self._config.stale_after_sec,
                ),
                CommandMeta(f"catalog-start:{refresh_id}", actor=by, correlation_id=refresh_id),
            )
        finally:
            self._starting = False
        self.progress = RefreshProgress(
            phase="listing",
            refresh_id=refresh_id,
            source=self._source.description,
            by=by,
            started_at=self._clock.now(),
            version=self.progress.version + 1,
        )
        self._set()
        self._task = asyncio.create_task(self._run(refresh_id, by, full), name="catalog-refresh")
        return refresh_id

    async def wait(self) -> RefreshProgress:
        """Until the refresh under way (if any) has ended."""
        task = self._task
        if task is not None:
            await asyncio.shield(task)
        return self.progress

    async def stop(self) -> None:
        task = self._task
        if task is not None:
            await cancel_and_wait([task])

    async def _cmd(self, refresh_id: str, command: object, suffix: str) -> None:
        await self._handler.handle(
            catalog_decider,
            catalog_stream(self._channel),
            command,
            CommandMeta(f"catalog-{suffix}:{refresh_id}", correlation_id=refresh_id),
        )

    async def _run(self, refresh_id: str, by: str, full: bool) -> None:
        assert self._source is not None
        try:
            previous = await self._previous()
            known = {} if full or self._config.details == "all" else previous
            items = await self._source.read(known, _Report(self))
            unique: dict[str, CatalogItem] = {}
            for item in items:
                if item.key in unique:
                    _Report(self).warn(f"The source lists {item.key!r} twice; the first is kept.")
                    continue
                unique[item.key] = item
            self._set(phase="indexing", item_count=len(unique))
            batch_size = self._config.batch_size
            ordered = list(unique.values())
            for number, start in enumerate(range(0, len(ordered), batch_size)):
                batch = tuple(ordered[start : start + batch_size])
                await self._cmd(refresh_id, IndexItems(refresh_id, number, batch), f"b{number}")
                self._set(indexed=start + len(batch))
            change = diff(previous, unique)
            await self._cmd(
                refresh_id,
                CompleteRefresh(refresh_id, len(ordered), change, tuple(self.progress.warnings)),
                "complete",
            )
            self._set(phase="completed", finished_at=self._clock.now())
            log.info(
                "catalog refresh %s completed: %d items (+%d -%d ~%d)",
                refresh_id,
                len(ordered),
                change.added,
                change.removed,
                change.changed,
            )
        except asyncio.CancelledError:
            self._set(
                phase="failed", error="Stopped with the service; it resumes at the next start."
            )
            raise
        except StoreUnavailable as exc:
            # Nothing more can be recorded; the next start (ours) fails it and starts again.
            self._set(
                phase="failed",
                error=f"The event log cannot be reached: {exc}",
                finished_at=self._clock.now(),
            )
        except Exception as exc:
            reason = str(exc) if isinstance(exc, CatalogSourceError | Rejected) else repr(exc)
            if not isinstance(exc, CatalogSourceError):
                log.exception("catalog refresh %s failed", refresh_id)
            self._set(phase="failed", error=reason, finished_at=self._clock.now())
            try:
                await self._cmd(refresh_id, FailRefresh(refresh_id, reason), "fail")
            except Exception:
                log.warning("catalog refresh %s: its failure could not be recorded", refresh_id)

    async def _previous(self) -> dict[str, CatalogItem]:
        """The items of the snapshot this refresh will replace: from the read model once it
        holds that snapshot, else from the log."""
        state = await self.state()
        if state.current is None:
            return {}
        waited = 0.0
        while waited < READ_MODEL_WAIT_SEC:
            if await self._index.current(self._channel) == state.current:
                return await self._index.items(self._channel, state.current)
            await asyncio.sleep(0.1)
            waited += 0.1
        return await self._from_log(state.current)

    async def _from_log(self, snapshot_id: str) -> dict[str, CatalogItem]:
        found: dict[str, CatalogItem] = {}
        stored = await self._events.read_stream(catalog_stream(self._channel))
        for commit in stored:
            for event in commit.commit.events:
                if isinstance(event, ItemsIndexed) and event.refresh_id == snapshot_id:
                    for item in event.items:
                        found.setdefault(item.key, item)
        return found

    # ---- after a restart, and on a schedule ---------------------------------------------------

    async def run_schedule(self) -> None:
        """Resume an interrupted refresh or make the first snapshot at start (when
        `refresh_on_start`), then refresh every `refresh_interval_minutes` (0: never)."""
        if self._source is None:
            self.started_up.set()
            return
        config = self._config
        if config.refresh_on_start:
            await self._start_quietly("system:start", only_if_needed=True)
            task = self._task
            if task is not None:
                await asyncio.wait([task])
        self.started_up.set()
        interval = config.refresh_interval_minutes * 60
        if interval <= 0:
            return
        while True:
            # Due one interval after the latest refresh ended, a failed one included: timed from
            # the last success, a source that is down would be asked again every second.
            state = await self._safe_state()
            due = interval
            if state is not None and state.ended_at is not None:
                age = (self._clock.now() - state.ended_at).total_seconds()
                due = max(interval - age, 1.0)
            await self._clock.sleep(due)
            await self._start_quietly("system:schedule", only_if_needed=False)
            task = self._task
            if task is not None:
                await asyncio.wait([task])

    async def _safe_state(self) -> CatalogState | None:
        try:
            return await self.state()
        except Exception:
            return None

    async def _start_quietly(self, by: str, *, only_if_needed: bool) -> None:
        try:
            state = await self.state()
            if only_if_needed:
                ours = state.running is not None and state.running.owner == self._owner
                if state.current is not None and not ours:
                    return
            await self.start(by)
        except Rejected as exc:
            log.info("catalog refresh (%s) not started: %s", by, exc.message)
        except Exception as exc:
            log.warning("catalog refresh (%s) not started: %s", by, exc)
