"""The catalog refresh aggregate, one stream per channel: a refresh is started, its items are
indexed in numbered batches, and it is completed (its snapshot becomes the current one) or failed
(with the reason); the previous snapshot stays current until then.

Two refreshes never run at once: a start while one runs is refused, unless the running one is
its own owner's (which has restarted, so it is certainly not running any more) or has made no
progress for `stale_after_sec` (its process is gone): then it is failed in the same decision.
State stays small (counts, no items): the items live in the events and in the read model.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from attrs import evolve as replace
from attrs import frozen

from domain.catalog.diff import SnapshotDiff
from domain.catalog.items import CatalogItem
from domain.decider import Context, Decider
from domain.errors import Rejected

MAX_BATCH = 500
MAX_REASON = 1000
MAX_WARNINGS = 50


# ---- commands -------------------------------------------------------------------------------


@frozen
class StartRefresh:
    refresh_id: str
    source: str
    owner: str  # the process running it (a stable name per data directory)
    by: str
    stale_after_sec: float = 300.0


@frozen
class IndexItems:
    refresh_id: str
    batch: int  # 0, 1, 2, ... in order; a batch sent again is ignored
    items: tuple[CatalogItem, ...]


@frozen
class CompleteRefresh:
    refresh_id: str
    item_count: int
    diff: SnapshotDiff
    warnings: tuple[str, ...] = ()


@frozen
class FailRefresh:
    refresh_id: str
    reason: str


CatalogCommand = StartRefresh | IndexItems | CompleteRefresh | FailRefresh


# ---- events ---------------------------------------------------------------------------------


@frozen
class RefreshStarted:
    VERSION: ClassVar[int] = 1
    refresh_id: str
    source: str
    owner: str
    by: str
    at: datetime


@frozen
class ItemsIndexed:
    VERSION: ClassVar[int] = 1
    refresh_id: str
    batch: int
    items: tuple[CatalogItem, ...]
    at: datetime


@frozen
class RefreshCompleted:
    VERSION: ClassVar[int] = 1
    refresh_id: str
    item_count: int
    available_count: int
    diff: SnapshotDiff
    warnings: tuple[str, ...]
    at: datetime


@frozen
class RefreshFailed:
    VERSION: ClassVar[int] = 1
    refresh_id: str
    reason: str
    at: datetime


CatalogEvent = RefreshStarted | ItemsIndexed | RefreshCompleted | RefreshFailed
CATALOG_EVENTS: tuple[type, ...] = (RefreshStarted, ItemsIndexed, RefreshCompleted, RefreshFailed)


# ---- state ----------------------------------------------------------------------------------


@frozen
class Running:
    refresh_id: str
    source: str
    owner: str
    started_at: datetime
    last_activity: datetime
    batches: int = 0
    items: int = 0
    available: int = 0


@frozen
class CatalogState:
    channel: str
    current: str | None = None  # the snapshot searches read: the last completed refresh
    current_count: int = 0
    completed_at: datetime | None = None
    ended_at: datetime | None = None  # when the latest refresh ended, completed or failed
    running: Running | None = None
    refreshes: int = 0  # started, ever
    finished: tuple[str, ...] = ()  # the latest refresh ids that ended (newest last)

    def knows(self, refresh_id: str) -> bool:
        running = self.running is not None and self.running.refresh_id == refresh_id
        return running or refresh_id in self.finished


def initial(channel: str) -> CatalogState:
    return CatalogState(channel=channel)


def _running(state: CatalogState, refresh_id: str) -> Running:
    running = state.running
    if running is None or running.refresh_id != refresh_id:
        if refresh_id in state.finished:
            raise Rejected(
                "refresh_finished", f"Refresh {refresh_id!r} has already finished or been replaced."
            )
        raise Rejected("no_refresh_running", f"There is no refresh {refresh_id!r} running.")
    return running


def decide(state: CatalogState, command: CatalogCommand, ctx: Context) -> tuple[CatalogEvent, ...]:
    match command:
        case StartRefresh():
            if not command.refresh_id or state.knows(command.refresh_id):
                raise Rejected("refresh_exists", f"Refresh {command.refresh_id!r} exists already.")
            events: list[CatalogEvent] = []
            running = state.running
            if running is not None:
                idle = (ctx.now - running.last_activity).total_seconds()
                if running.owner == command.owner:
                    reason = "Interrupted: the process running it stopped before it finished."
                elif idle >= command.stale_after_sec:
                    reason = (
                        f"Abandoned: no progress for {int(idle)} s "
                        f"(its process, {running.owner}, is gone)."
                    )
                else:
                    raise Rejected(
                        "refresh_running",
                        f"A refresh is already running (started by {running.owner} at "
                        f"{running.started_at:%H:%M:%S} UTC, {running.items} items so far).",
                    )
                events.append(RefreshFailed(running.refresh_id, reason, ctx.now))
            events.append(
                RefreshStarted(
                    command.refresh_id, command.source[:300], command.owner, command.by, ctx.now
                )
            )
            return tuple(events)
        case IndexItems():
            running = _running(state, command.refresh_id)
            if command.batch < running.batches:
                return ()  # sent again after a lost answer: it is in the log already
            if command.batch > running.batches:
                raise Rejected(
                    "batch_out_of_order",
                    f"Batch {command.batch} arrived before batch {running.batches}.",
                )
            if len(command.items) > MAX_BATCH:
                raise Rejected("batch_too_large", f"A batch holds at most {MAX_BATCH} items.")
            return (ItemsIndexed(command.refresh_id, command.batch, tuple(command.items), ctx.now),)
        case CompleteRefresh():
            running = _running(state, command.refresh_id)
            if command.item_count != running.items:
                raise Rejected(
                    "incomplete_snapshot",
                    f"The refresh indexed {running.items} items, not {command.item_count}: "
                    "a snapshot is complete or it is not current.",
                )
            warnings = tuple(w[:MAX_REASON] for w in command.warnings[:MAX_WARNINGS])
            return (
                RefreshCompleted(
                    command.refresh_id,
                    running.items,
                    running.available,
                    command.diff,
                    warnings,
                    ctx.now,
                ),
            )
        case FailRefresh():
            running = _running(state, command.refresh_id)
            reason = command.reason.strip()[:MAX_REASON] or "The refresh failed."
            return (RefreshFailed(running.refresh_id, reason, ctx.now),)
    raise Rejected("unknown_command", f"The catalog does not handle {type(command).__name__}.")


KEEP_FINISHED = 20


def _finish(state: CatalogState, refresh_id: str) -> tuple[str, ...]:
    return (*state.finished, refresh_id)[-KEEP_FINISHED:]


def evolve(state: CatalogState, event: CatalogEvent) -> CatalogState:
    match event:
        case RefreshStarted():
            return replace(
                state,
                running=Running(event.refresh_id, event.source, event.owner, event.at, event.at),
                refreshes=state.refreshes + 1,
            )
        case ItemsIndexed():
            running = state.running
            if running is None or running.refresh_id != event.refresh_id:
                return state
            available = sum(1 for item in event.items if item.available)
            return replace(
                state,
                running=replace(
                    running,
                    batches=running.batches + 1,
                    items=running.items + len(event.items),
                    available=running.available + available,
                    last_activity=event.at,
                ),
            )
        case RefreshCompleted():
            if state.running is None or state.running.refresh_id != event.refresh_id:
                return state
            return replace(
                state,
                current=event.refresh_id,
                current_count=event.item_count,
                completed_at=event.at,
                ended_at=event.at,
                running=None,
                finished=_finish(state, event.refresh_id),
            )
        case RefreshFailed():
            if state.running is None or state.running.refresh_id != event.refresh_id:
                return state
            return replace(
                state, ended_at=event.at, running=None, finished=_finish(state, event.refresh_id)
            )
    return state


catalog_decider: Decider[CatalogState, CatalogCommand, CatalogEvent] = Decider(
    aggregate="catalog", initial=initial, decide=decide, evolve=evolve
)
