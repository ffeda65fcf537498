"""Applying a saved playlist to the channel's queue: one aggregate per channel
(`playlist_apply`), the record a process manager keeps of what it has done, step by step.

At most one apply runs on a channel: a second is refused with the running one's id. An apply
starts with everything it needs (the playlist's items as they were, what in the queue it
displaces), so a later edit of the playlist or a restart changes nothing about it. Then:

1. the queue is cleared of what the mode displaces (`ApplyQueueCleared`: preserve-current
   keeps now playing, hard-replace takes it too, append keeps everything);
2. each item, in order: `ApplyItemAddStarted` is recorded *before* CyTube is asked (attempt
   n may be started once: the guard that keeps an item from being added twice, even by two
   processes), then `ApplyItemQueued` or `ApplyItemFailed` with the reason;
3. `ApplyFinished` with the counts (or aborted by an admin).

An item whose add was started but has no outcome (a crash, a lost answer) is looked for on
CyTube's playlist before it is tried again; that is the application's part.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from attrs import evolve as replace
from attrs import frozen

from domain.decider import Context, Decider
from domain.errors import Rejected
from domain.media import Media

ApplyMode = Literal["preserve_current", "append", "hard_replace"]
MODES: tuple[ApplyMode, ...] = ("preserve_current", "append", "hard_replace")
ItemStatus = Literal["pending", "adding", "queued", "failed"]
RunStatus = Literal["running", "done", "aborted"]
KEEP_RECENT = 20
#: Why a paid item displaced by a replace was cancelled (and so refunded by the pay flow).
DISPLACED = "replaced_by_playlist"


@frozen
class ApplyTarget:
    """A queue item the apply displaces; `request_id` when it is a purchase."""

    item_id: str
    uid: int
    media: Media
    request_id: str | None = None


@frozen
class ApplyEntry:
    position: int
    media: Media
    ref: str | None = None
    status: ItemStatus = "pending"
    attempts: int = 0
    reason: str = ""
    detail: str = ""
    uid: int | None = None

    @property
    def done(self) -> bool:
        return self.status in ("queued", "failed")


@frozen
class ApplyRun:
    apply_id: str
    playlist_id: str
    playlist_name: str
    mode: ApplyMode
    by: str
    items: tuple[ApplyEntry, ...]
    removals: tuple[ApplyTarget, ...] = ()
    started_at: datetime | None = None
    cleared: bool = False
    removed: int = 0
    kept: tuple[str, ...] = ()
    status: RunStatus = "running"
    finished_at: datetime | None = None
    reason: str = ""
    displaced_reason: str = DISPLACED

    @property
    def queued(self) -> int:
        return sum(1 for e in self.items if e.status == "queued")

    @property
    def failed(self) -> int:
        return sum(1 for e in self.items if e.status == "failed")

    def entry(self, position: int) -> ApplyEntry | None:
        return self.items[position] if 0 <= position < len(self.items) else None

    def next_entry(self) -> ApplyEntry | None:
        return next((e for e in self.items if not e.done), None)


# ---- commands --------------------------------------------------------------------------------


@frozen
class StartApply:
    apply_id: str
    playlist_id: str
    playlist_name: str
    mode: ApplyMode
    by: str
    items: tuple[Media, ...]
    refs: tuple[str | None, ...] = ()
    removals: tuple[ApplyTarget, ...] = ()
    #: (position, reason) of items known unusable at the start (say, gone from the catalog).
    unavailable: tuple[tuple[int, str], ...] = ()
    #: Why displaced purchases are cancelled (a scheduled event's fire says schedule_displaced).
    displaced_reason: str = DISPLACED


@frozen
class RecordQueueCleared:
    apply_id: str
    removed: int
    kept: tuple[str, ...] = ()


@frozen
class StartApplyItemAdd:
    apply_id: str
    position: int
    attempt: int


@frozen
class RecordApplyItemQueued:
    apply_id: str
    position: int
    uid: int | None = None


@frozen
class RecordApplyItemFailed:
    apply_id: str
    position: int
    reason: str
    detail: str = ""


@frozen
class FinishApply:
    apply_id: str


@frozen
class AbortApply:
    apply_id: str
    by: str
    reason: str = "aborted"


ApplyCommand = (
    StartApply
    | RecordQueueCleared
    | StartApplyItemAdd
    | RecordApplyItemQueued
    | RecordApplyItemFailed
    | FinishApply
    | AbortApply
)

# ---- events ----------------------------------------------------------------------------------


@frozen
class ApplyStarted:
    VERSION: ClassVar[int] = 1
    apply_id: str
    playlist_id: str
    playlist_name: str
    mode: ApplyMode
    by: str
    items: tuple[Media, ...]
    refs: tuple[str | None, ...]
    removals: tuple[ApplyTarget, ...]
    unavailable: tuple[tuple[int, str], ...]
    at: datetime | None = None
    displaced_reason: str = DISPLACED


@frozen
class ApplyQueueCleared:
    VERSION: ClassVar[int] = 1
    apply_id: str
    removed: int
    kept: tuple[str, ...]


@frozen
class ApplyItemAddStarted:
    VERSION: ClassVar[int] = 1
    apply_id: str
    position: int
    attempt: int


@frozen
class ApplyItemQueued:
    VERSION: ClassVar[int] = 1
    apply_id: str
    position: int
    uid: int | None


@frozen
class ApplyItemFailed:
    VERSION: ClassVar[int] = 1
    apply_id: str
    position: int
    reason: str
    detail: str


@frozen
class ApplyFinished:
    VERSION: ClassVar[int] = 1
    apply_id: str
    playlist_id: str
    queued: int
    failed: int
    aborted: bool = False
    reason: str = ""
    at: datetime | None = None


ApplyEvent = (
    ApplyStarted
    | ApplyQueueCleared
    | ApplyItemAddStarted
    | ApplyItemQueued
    | ApplyItemFailed
    | ApplyFinished
)
APPLY_EVENTS: tuple[type, ...] = (
    ApplyStarted,
    ApplyQueueCleared,
    ApplyItemAddStarted,
    ApplyItemQueued,
    ApplyItemFailed,
    ApplyFinished,
)


@frozen
class ApplyState:
    channel: str
    running: ApplyRun | None = None
    recent: tuple[ApplyRun, ...] = ()  # newest last, at most KEEP_RECENT
    started: int = 0

    def find(self, apply_id: str) -> ApplyRun | None:
        if self.running is not None and self.running.apply_id == apply_id:
            return self.running
        return next((r for r in self.recent if r.apply_id == apply_id), None)

    @property
    def latest(self) -> ApplyRun | None:
        return self.running or (self.recent[-1] if self.recent else None)


def initial(channel: str) -> ApplyState:
    return ApplyState(channel=channel)


def _running(state: ApplyState, apply_id: str) -> ApplyRun:
    run = state.running
    if run is None or run.apply_id != apply_id:
        raise Rejected("not_running", f"Apply {apply_id} is not running.")
    return run


def _entry(run: ApplyRun, position: int) -> ApplyEntry:
    entry = run.entry(position)
    if entry is None:
        raise Rejected("invalid_position", f"Apply {run.apply_id} has no item {position}.")
    return entry


def decide(state: ApplyState, command: ApplyCommand, ctx: Context) -> tuple[ApplyEvent, ...]:
    match command:
        case StartApply():
            if state.find(command.apply_id) is not None:
                return ()
            if state.running is not None:
                run = state.running
                raise Rejected(
                    "apply_running",
                    f"Playlist {run.playlist_name!r} is being applied (apply {run.apply_id}, "
                    f"by {run.by}); wait for it to finish.",
                    {"running_apply_id": run.apply_id},
                )
            if command.mode not in MODES:
                raise Rejected(
                    "invalid_mode", f"{command.mode!r} is not a mode; use one of {MODES}."
                )
            if not command.items:
                raise Rejected("empty_playlist", "The playlist has no items to apply.")
            if len(command.refs) > len(command.items):
                raise Rejected("invalid_items", "More catalog ids than items.")
            for position, _reason in command.unavailable:
                if not 0 <= position < len(command.items):
                    raise Rejected("invalid_position", f"No item {position} to mark unusable.")
            return (
                ApplyStarted(
                    command.apply_id,
                    command.playlist_id,
                    command.playlist_name,
                    command.mode,
                    command.by,
                    tuple(command.items),
                    tuple(command.refs),
                    tuple(command.removals),
                    tuple(command.unavailable),
                    ctx.now,
                    command.displaced_reason,
                ),
            )
        case RecordQueueCleared():
            run = _running(state, command.apply_id)
            if run.cleared:
                return ()
            return (ApplyQueueCleared(command.apply_id, command.removed, tuple(command.kept)),)
        case StartApplyItemAdd():
            run = _running(state, command.apply_id)
            entry = _entry(run, command.position)
            if entry.done:
                raise Rejected("item_done", f"Item {command.position} is {entry.status} already.")
            if command.attempt <= entry.attempts:
                raise Rejected(
                    "add_started",
                    f"Attempt {command.attempt} at item {command.position} was started already.",
                )
            if command.attempt != entry.attempts + 1:
                raise Rejected(
                    "invalid_attempt",
                    f"Item {command.position} is at attempt {entry.attempts}, not "
                    f"{command.attempt - 1}.",
                )
            if not run.cleared:
                raise Rejected("not_cleared", "The queue is not cleared yet.")
            return (ApplyItemAddStarted(command.apply_id, command.position, command.attempt),)
        case RecordApplyItemQueued() | RecordApplyItemFailed():
            run = _running(state, command.apply_id)
            entry = _entry(run, command.position)
            if entry.done:
                return ()
            if isinstance(command, RecordApplyItemQueued):
                if entry.status != "adding":
                    raise Rejected("not_added", f"Item {command.position} was never added.")
                return (ApplyItemQueued(command.apply_id, command.position, command.uid),)
            return (
                ApplyItemFailed(
                    command.apply_id, command.position, command.reason, command.detail[:500]
                ),
            )
        case FinishApply():
            run = _running(state, command.apply_id)
            if not run.cleared or run.next_entry() is not None:
                raise Rejected("items_pending", f"Apply {run.apply_id} has items to go.")
            return (
                ApplyFinished(run.apply_id, run.playlist_id, run.queued, run.failed, at=ctx.now),
            )
        case AbortApply():
            run = _running(state, command.apply_id)
            return (
                ApplyFinished(
                    run.apply_id,
                    run.playlist_id,
                    run.queued,
                    run.failed,
                    aborted=True,
                    reason=f"{command.reason} by {command.by}",
                    at=ctx.now,
                ),
            )
    raise Rejected("unknown_command", f"Applies do not handle {type(command).__name__}.")


def _with_entry(run: ApplyRun, entry: ApplyEntry) -> ApplyRun:
    items = list(run.items)
    if 0 <= entry.position < len(items):
        items[entry.position] = entry
    return replace(run, items=tuple(items))


def evolve(state: ApplyState, event: ApplyEvent) -> ApplyState:
    match event:
        case ApplyStarted():
            refs = (*event.refs, *(None,) * (len(event.items) - len(event.refs)))
            unusable = dict(event.unavailable)
            entries = tuple(
                ApplyEntry(i, m, refs[i])
                if i not in unusable
                else ApplyEntry(i, m, refs[i], "failed", reason="unavailable", detail=unusable[i])
                for i, m in enumerate(event.items)
            )
            started = ApplyRun(
                event.apply_id,
                event.playlist_id,
                event.playlist_name,
                event.mode,
                event.by,
                entries,
                tuple(event.removals),
                started_at=event.at,
                cleared=not event.removals,
                displaced_reason=event.displaced_reason,
            )
            return replace(state, running=started, started=state.started + 1)
    current = state.running
    if current is None or getattr(event, "apply_id", None) != current.apply_id:
        return state
    run = current
    entry = run.entry(getattr(event, "position", -1))
    match event:
        case ApplyQueueCleared():
            run = replace(run, cleared=True, removed=event.removed, kept=tuple(event.kept))
        case ApplyItemAddStarted() if entry is not None:
            run = _with_entry(run, replace(entry, status="adding", attempts=event.attempt))
        case ApplyItemQueued() if entry is not None:
            run = _with_entry(run, replace(entry, status="queued", uid=event.uid))
        case ApplyItemFailed() if entry is not None:
            failed = replace(entry, status="failed", reason=event.reason, detail=event.detail)
            run = _with_entry(run, failed)
        case ApplyFinished():
            done = replace(
                run,
                status="aborted" if event.aborted else "done",
                finished_at=event.at,
                reason=event.reason,
            )
            return replace(state, running=None, recent=(*state.recent, done)[-KEEP_RECENT:])
    return replace(state, running=run)


apply_decider: Decider[ApplyState, ApplyCommand, ApplyEvent] = Decider(
    aggregate="playlist_apply", initial=initial, decide=decide, evolve=evolve
)
