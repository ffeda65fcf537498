"""Scheduled events: one aggregate per channel holding every schedule, so two schedules whose
events would overlap are refused in one decision (both named).

A schedule plays a saved playlist at a fire time (UTC; entered and shown in the channel's zone,
which the application hands in as `ctx.config["schedule_tz"]`), with a pre-fire lock of
`lock_minutes` before it, an optional fallback playlist appended when it ends, immutable (the
queue is locked while it runs) or mutable, active or not, and an optional RRULE.

`next_at` is the armed occurrence. `FireDue` is what the firing process manager sends when it
believes an occurrence is due: the decider alone says whether it fires (`OccurrenceFired`, once:
the armed occurrence moves on in the same event, so a second `FireDue` for it is a no-op), is
too late (`OccurrencesMissed` after `too_late_minutes`, recorded, never fired hours late) or is
not due yet (nothing). A recurring schedule whose occurrences passed while the service was down
advances to its next future occurrence in the same `OccurrencesMissed`. An occurrence fired on
its time or missed is spent (`Schedule.spent_through`): an edit or an enable arms the first
occurrence after it, never it again. `FireNow` fires at once
(the admin's "fire now"), leaving the armed occurrence as it was (a one-off is then spent).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, ClassVar, Literal

from attrs import evolve as replace
from attrs import field, frozen

from domain.decider import Context, Decider
from domain.errors import Rejected
from domain.media import Media
from domain.schedules.occurrences import iter_occurrences, next_after, validate_rule

MAX_LABEL = 200
MAX_LOCK_MINUTES = 24 * 60
DEFAULT_LOCK_MINUTES = 15
DEFAULT_TOO_LATE_MINUTES = 10
DEFAULT_HORIZON_DAYS = 366
KEEP_FIRES = 50


# ---- commands ------------------------------------------------------------------------------


@frozen
class ScheduleSpec:
    """What an admin sets on a schedule (create and edit take the whole of it)."""

    playlist_id: str
    label: str
    fire_at: datetime
    duration_sec: int
    lock_minutes: int | None = None  # None: the configured default
    fallback_playlist_id: str | None = None
    immutable: bool = True
    rrule: str | None = None


@frozen
class CreateSchedule:
    schedule_id: str
    spec: ScheduleSpec
    by: str
    active: bool = True


@frozen
class EditSchedule:
    schedule_id: str
    spec: ScheduleSpec
    by: str


@frozen
class SetScheduleActive:
    schedule_id: str
    active: bool
    by: str


@frozen
class DeleteSchedule:
    schedule_id: str
    by: str


@frozen
class FireDue:
    """The process manager believes the armed occurrence is due; the decider decides."""

    schedule_id: str
    fire_id: str
    by: str = "system"


@frozen
class FireNow:
    schedule_id: str
    fire_id: str
    by: str


@frozen
class FinishFire:
    """The fired event is over (its last item began, its items are gone, or an admin said)."""

    fire_id: str
    reason: str
    by: str = "system"


ApplyKind = Literal["event", "fallback"]


@frozen
class RecordFireApply:
    """The firer started the playlist apply behind a fire (the event's, or its fallback's)."""

    fire_id: str
    apply_id: str
    kind: ApplyKind = "event"
    by: str = "system"


@frozen
class RecordFireStart:
    """CyTube reports an item of the event's load playing: the item that starts the event."""

    fire_id: str
    uid: int
    media: Media
    by: str = "system"


ScheduleCommand = (
    CreateSchedule
    | EditSchedule
    | SetScheduleActive
    | DeleteSchedule
    | FireDue
    | FireNow
    | FinishFire
    | RecordFireApply
    | RecordFireStart
)


# ---- events --------------------------------------------------------------------------------


@frozen
class ScheduleCreated:
    VERSION: ClassVar[int] = 1
    schedule_id: str
    spec: ScheduleSpec
    lock_minutes: int
    active: bool
    next_at: datetime | None
    by: str
    at: datetime


@frozen
class ScheduleEdited:
    VERSION: ClassVar[int] = 1
    schedule_id: str
    spec: ScheduleSpec
    lock_minutes: int
    next_at: datetime | None
    by: str
    at: datetime


@frozen
class ScheduleActiveSet:
    VERSION: ClassVar[int] = 1
    schedule_id: str
    active: bool
    next_at: datetime | None
    by: str
    at: datetime


@frozen
class ScheduleDeleted:
    VERSION: ClassVar[int] = 1
    schedule_id: str
    by: str
    at: datetime


@frozen
class OccurrenceFired:
    """Appended (with optimistic concurrency) before any side effect of the fire."""

    VERSION: ClassVar[int] = 1
    schedule_id: str
    fire_id: str
    occurrence_at: datetime
    playlist_id: str
    label: str
    immutable: bool
    fallback_playlist_id: str | None
    estimated_end_at: datetime
    next_at: datetime | None
    manual: bool
    by: str
    at: datetime


@frozen
class OccurrencesMissed:
    """Occurrences that passed more than `too_late_minutes` ago without a fire: recorded, not
    fired; the schedule advances to `next_at` (the next future occurrence, or None)."""

    VERSION: ClassVar[int] = 1
    schedule_id: str
    missed: tuple[datetime, ...]
    next_at: datetime | None
    at: datetime


@frozen
class FireFinished:
    VERSION: ClassVar[int] = 1
    fire_id: str
    reason: str
    by: str
    at: datetime


@frozen
class FireApplyStarted:
    """The playlist apply behind a fire started: `kind` event (the hard-replace that loads the
    event) or fallback (the append after it), `apply_id` its id in `playlist_apply`."""

    VERSION: ClassVar[int] = 1
    fire_id: str
    apply_id: str
    kind: ApplyKind
    by: str
    at: datetime


@frozen
class FireStartedWith:
    """The item that starts the event: the first of the event's load CyTube reports playing
    (`uid`, `media`), at `at`."""

    VERSION: ClassVar[int] = 1
    fire_id: str
    uid: int
    media: Media
    by: str
    at: datetime


ScheduleEvent = (
    ScheduleCreated
    | ScheduleEdited
    | ScheduleActiveSet
    | ScheduleDeleted
    | OccurrenceFired
    | OccurrencesMissed
    | FireFinished
    | FireApplyStarted
    | FireStartedWith
)
SCHEDULE_EVENTS: tuple[type, ...] = (
    ScheduleCreated,
    ScheduleEdited,
    ScheduleActiveSet,
    ScheduleDeleted,
    OccurrenceFired,
    OccurrencesMissed,
    FireFinished,
    FireApplyStarted,
    FireStartedWith,
)


# ---- state ---------------------------------------------------------------------------------


@frozen
class Schedule:
    schedule_id: str
    spec: ScheduleSpec
    lock_minutes: int
    active: bool
    next_at: datetime | None
    created_by: str
    created_at: datetime
    missed: tuple[datetime, ...] = ()  # the latest few, newest last
    #: The latest occurrence fired on its time or recorded missed: it and every occurrence
    #: before it are spent, never armed again (an edit or an enable takes the next one).
    spent_through: datetime | None = None

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def lock_from(self) -> datetime | None:
        """When the armed occurrence's pre-fire lock begins."""
        if self.next_at is None:
            return None
        return self.next_at - timedelta(minutes=self.lock_minutes)

    @property
    def duration(self) -> timedelta:
        return timedelta(seconds=self.spec.duration_sec)


@frozen
class FireStart:
    uid: int
    media: Media
    at: datetime


@frozen
class Fire:
    fire_id: str
    schedule_id: str
    occurrence_at: datetime
    playlist_id: str
    label: str
    immutable: bool
    fallback_playlist_id: str | None
    estimated_end_at: datetime
    manual: bool
    at: datetime
    finished_at: datetime | None = None
    finish_reason: str | None = None
    #: The playlist applies behind it (None until started, and in logs from before they were
    #: recorded) and the item that started it, once CyTube reported it playing.
    apply_id: str | None = None
    fallback_apply_id: str | None = None
    starts_with: FireStart | None = None

    @property
    def running(self) -> bool:
        return self.finished_at is None


@frozen
class SchedulesState:
    channel: str
    schedules: tuple[Schedule, ...] = ()
    fires: tuple[Fire, ...] = field(default=())  # newest last, at most KEEP_FIRES

    def find(self, schedule_id: str) -> Schedule | None:
        return next((s for s in self.schedules if s.schedule_id == schedule_id), None)

    def fire(self, fire_id: str) -> Fire | None:
        return next((f for f in self.fires if f.fire_id == fire_id), None)

    @property
    def running(self) -> Fire | None:
        """The event that is on now (fired, not finished), if any."""
        return next((f for f in reversed(self.fires) if f.running), None)

    def fired(self, schedule_id: str, occurrence_at: datetime) -> bool:
        return any(
            f.schedule_id == schedule_id and f.occurrence_at == occurrence_at and not f.manual
            for f in self.fires
        )


def initial(channel: str) -> SchedulesState:
    return SchedulesState(channel=channel)


# ---- decisions -----------------------------------------------------------------------------


def _tz(ctx: Context) -> tzinfo:
    tz = ctx.config.get("schedule_tz")
    return tz if isinstance(tz, tzinfo) else UTC


def _lock_default(ctx: Context) -> int:
    return int(ctx.config.get("pre_fire_lock_minutes", DEFAULT_LOCK_MINUTES))


def _too_late(ctx: Context) -> timedelta:
    return timedelta(minutes=float(ctx.config.get("too_late_minutes", DEFAULT_TOO_LATE_MINUTES)))


def _known(state: SchedulesState, schedule_id: str) -> Schedule:
    found = state.find(schedule_id)
    if found is None:
        raise Rejected("unknown_schedule", f"There is no schedule {schedule_id!r}.")
    return found


def _validate(spec: ScheduleSpec, lock_minutes: int, ctx: Context) -> None:
    if not spec.label.strip() or len(spec.label) > MAX_LABEL:
        raise Rejected("invalid_schedule", f"A label is 1 to {MAX_LABEL} characters.")
    if not spec.playlist_id:
        raise Rejected("invalid_schedule", "A schedule plays a saved playlist: name one.")
    if spec.fire_at.tzinfo is None:
        raise Rejected("invalid_schedule", "A fire time has a time zone (it is kept in UTC).")
    if spec.fire_at.microsecond:
        raise Rejected("invalid_schedule", "A fire time is in whole seconds.")
    if spec.duration_sec <= 0:
        raise Rejected("invalid_schedule", "The playlist has no length, so the event has none.")
    if not 0 <= lock_minutes <= MAX_LOCK_MINUTES:
        raise Rejected(
            "invalid_schedule", f"A pre-fire lock is 0 to {MAX_LOCK_MINUTES} minutes long."
        )
    if spec.fallback_playlist_id is not None and not spec.fallback_playlist_id:
        raise Rejected("invalid_schedule", "A fallback names a playlist or is left out.")
    validate_rule(spec.rrule, spec.fire_at, _tz(ctx))


def _armed(
    spec: ScheduleSpec, ctx: Context, spent_through: datetime | None = None
) -> datetime | None:
    """The first occurrence not already past the too-late window and not spent (fired or
    missed: an edit or an enable within the window after a fire must not arm the occurrence
    that fired); a schedule set in the past with no recurrence arms nothing."""
    after = ctx.now - _too_late(ctx) - _EPS
    if spent_through is not None and spent_through > after:
        after = spent_through
    return next_after(spec.fire_at, spec.rrule, _tz(ctx), after)


_EPS = timedelta(microseconds=1)


def _windows(
    spec: ScheduleSpec, start: datetime, end: datetime, tz: tzinfo
) -> list[tuple[datetime, datetime]]:
    length = timedelta(seconds=spec.duration_sec)
    found = []
    for at in iter_occurrences(spec.fire_at, spec.rrule, tz):
        if at >= end:
            break
        if at + length > start:
            found.append((at, at + length))
    return found


def _fmt(at: datetime, tz: tzinfo) -> str:
    return f"{at.astimezone(tz):%Y-%m-%d %H:%M %Z}"


def _no_overlap(state: SchedulesState, schedule_id: str, spec: ScheduleSpec, ctx: Context) -> None:
    tz = _tz(ctx)
    start = ctx.now
    end = ctx.now + timedelta(
        days=int(ctx.config.get("schedule_horizon_days", DEFAULT_HORIZON_DAYS))
    )
    mine = _windows(spec, start, end, tz)
    if not mine:
        return
    for other in state.schedules:
        if other.schedule_id == schedule_id or not other.active:
            continue
        theirs = _windows(other.spec, start, end, tz)
        i = j = 0
        while i < len(mine) and j < len(theirs):
            (a0, a1), (b0, b1) = mine[i], theirs[j]
            if a0 < b1 and b0 < a1:
                raise Rejected(
                    "schedule_overlap",
                    f'"{spec.label}" at {_fmt(a0, tz)} would overlap "{other.label}" at '
                    f"{_fmt(b0, tz)} (until {_fmt(b1, tz)}).",
                    {
                        "schedule": {"label": spec.label, "fire_at": a0.isoformat()},
                        "other": {
                            "schedule_id": other.schedule_id,
                            "label": other.label,
                            "fire_at": b0.isoformat(),
                        },
                    },
                )
            if a1 <= b1:
                i += 1
            else:
                j += 1


def _fired(
    state: SchedulesState,
    schedule: Schedule,
    fire_id: str,
    at: datetime,
    manual: bool,
    by: str,
    next_at: datetime | None,
    ctx: Context,
) -> OccurrenceFired:
    running = state.running
    if running is not None and ctx.now < running.estimated_end_at:
        raise Rejected(
            "event_running",
            f'"{running.label}" is on until about {_fmt(running.estimated_end_at, _tz(ctx))}; '
            "finish it before firing another.",
            {"fire_id": running.fire_id},
        )
    spec = schedule.spec
    return OccurrenceFired(
        schedule.schedule_id,
        fire_id,
        at,
        spec.playlist_id,
        spec.label,
        spec.immutable,
        spec.fallback_playlist_id,
        ctx.now + schedule.duration,
        next_at,
        manual,
        by,
        ctx.now,
    )


def _due(state: SchedulesState, cmd: FireDue, ctx: Context) -> tuple[ScheduleEvent, ...]:
    schedule = state.find(cmd.schedule_id)
    if schedule is None or not schedule.active or schedule.next_at is None:
        return ()
    due = schedule.next_at
    if ctx.now < due:
        return ()
    if schedule.spent_through is not None and due <= schedule.spent_through:
        # Armed at a spent occurrence (a log from before edits skipped them): not fired again;
        # the schedule moves on to its next one, nothing missed.
        armed = _armed(schedule.spec, ctx, schedule.spent_through)
        return (OccurrencesMissed(schedule.schedule_id, (), armed, ctx.now),)
    if state.fire(cmd.fire_id) is not None:
        return ()
    tz = _tz(ctx)
    late = _too_late(ctx)
    if ctx.now - due <= late:
        after = next_after(schedule.spec.fire_at, schedule.spec.rrule, tz, due)
        return (_fired(state, schedule, cmd.fire_id, due, False, cmd.by, after, ctx),)
    # Too late: record every occurrence that passed unfired; arm the first one still in time
    # (it may be firable now, which the next FireDue does).
    missed: list[datetime] = []
    at: datetime | None = due
    while at is not None and ctx.now - at > late:
        missed.append(at)
        at = next_after(schedule.spec.fire_at, schedule.spec.rrule, tz, at)
    return (OccurrencesMissed(schedule.schedule_id, tuple(missed), at, ctx.now),)


def decide(state: SchedulesState, cmd: ScheduleCommand, ctx: Context) -> tuple[ScheduleEvent, ...]:
    match cmd:
        case CreateSchedule():
            if not cmd.schedule_id or len(cmd.schedule_id) > 100:
                raise Rejected("invalid_schedule", "A schedule id is 1 to 100 characters.")
            held = state.find(cmd.schedule_id)
            if held is not None:
                if held.spec == cmd.spec:
                    return ()
                raise Rejected("schedule_exists", f"Schedule {cmd.schedule_id!r} exists.")
            lock = (
                cmd.spec.lock_minutes if cmd.spec.lock_minutes is not None else _lock_default(ctx)
            )
            _validate(cmd.spec, lock, ctx)
            if cmd.active:
                _no_overlap(state, cmd.schedule_id, cmd.spec, ctx)
            return (
                ScheduleCreated(
                    cmd.schedule_id,
                    cmd.spec,
                    lock,
                    cmd.active,
                    _armed(cmd.spec, ctx),
                    cmd.by,
                    ctx.now,
                ),
            )
        case EditSchedule():
            schedule = _known(state, cmd.schedule_id)
            if schedule.spec == cmd.spec:
                return ()
            lock = (
                cmd.spec.lock_minutes if cmd.spec.lock_minutes is not None else _lock_default(ctx)
            )
            _validate(cmd.spec, lock, ctx)
            if schedule.active:
                _no_overlap(state, cmd.schedule_id, cmd.spec, ctx)
            return (
                ScheduleEdited(
                    cmd.schedule_id,
                    cmd.spec,
                    lock,
                    _armed(cmd.spec, ctx, schedule.spent_through),
                    cmd.by,
                    ctx.now,
                ),
            )
        case SetScheduleActive():
            schedule = _known(state, cmd.schedule_id)
            if schedule.active == cmd.active:
                return ()
            if cmd.active:
                _no_overlap(state, cmd.schedule_id, schedule.spec, ctx)
            armed = (
                _armed(schedule.spec, ctx, schedule.spent_through)
                if cmd.active
                else schedule.next_at
            )
            return (ScheduleActiveSet(cmd.schedule_id, cmd.active, armed, cmd.by, ctx.now),)
        case DeleteSchedule():
            _known(state, cmd.schedule_id)
            return (ScheduleDeleted(cmd.schedule_id, cmd.by, ctx.now),)
        case FireDue():
            return _due(state, cmd, ctx)
        case FireNow():
            schedule = _known(state, cmd.schedule_id)
            if state.fire(cmd.fire_id) is not None:
                return ()
            # A one-off fired by hand is spent; a recurring one keeps its armed occurrence.
            keep = schedule.next_at if schedule.spec.rrule is not None else None
            return (_fired(state, schedule, cmd.fire_id, ctx.now, True, cmd.by, keep, ctx),)
        case FinishFire():
            fire = state.fire(cmd.fire_id)
            if fire is None:
                raise Rejected("unknown_fire", f"There is no fired event {cmd.fire_id!r}.")
            if not fire.running:
                return ()
            return (FireFinished(cmd.fire_id, cmd.reason, cmd.by, ctx.now),)
        case RecordFireApply():
            fire = state.fire(cmd.fire_id)
            if fire is None:
                raise Rejected("unknown_fire", f"There is no fired event {cmd.fire_id!r}.")
            started = fire.apply_id if cmd.kind == "event" else fire.fallback_apply_id
            if started is not None:
                return ()  # recorded once: a second start of the same fire is the same apply
            return (FireApplyStarted(cmd.fire_id, cmd.apply_id, cmd.kind, cmd.by, ctx.now),)
        case RecordFireStart():
            fire = state.fire(cmd.fire_id)
            if fire is None:
                raise Rejected("unknown_fire", f"There is no fired event {cmd.fire_id!r}.")
            if fire.starts_with is not None:
                return ()  # the first one reported is the one that started it
            return (FireStartedWith(cmd.fire_id, cmd.uid, cmd.media, cmd.by, ctx.now),)


def _latest(held: datetime | None, at: datetime) -> datetime:
    return at if held is None or at > held else held


def _with(state: SchedulesState, schedule: Schedule) -> SchedulesState:
    kept = tuple(s for s in state.schedules if s.schedule_id != schedule.schedule_id)
    return replace(state, schedules=(*kept, schedule))


def _update(state: SchedulesState, schedule_id: str, **changes: Any) -> SchedulesState:
    found = state.find(schedule_id)
    if found is None:
        return state
    return _with(state, replace(found, **changes))


def evolve(state: SchedulesState, event: ScheduleEvent) -> SchedulesState:
    match event:
        case ScheduleCreated():
            return _with(
                state,
                Schedule(
                    event.schedule_id,
                    event.spec,
                    event.lock_minutes,
                    event.active,
                    event.next_at,
                    event.by,
                    event.at,
                ),
            )
        case ScheduleEdited():
            return _update(
                state,
                event.schedule_id,
                spec=event.spec,
                lock_minutes=event.lock_minutes,
                next_at=event.next_at,
            )
        case ScheduleActiveSet():
            return _update(state, event.schedule_id, active=event.active, next_at=event.next_at)
        case ScheduleDeleted():
            kept = tuple(s for s in state.schedules if s.schedule_id != event.schedule_id)
            return replace(state, schedules=kept)
        case OccurrenceFired():
            fire = Fire(
                event.fire_id,
                event.schedule_id,
                event.occurrence_at,
                event.playlist_id,
                event.label,
                event.immutable,
                event.fallback_playlist_id,
                event.estimated_end_at,
                event.manual,
                event.at,
            )
            state = replace(state, fires=(*state.fires, fire)[-KEEP_FIRES:])
            found = state.find(event.schedule_id)
            if found is None:
                return state
            spent = found.spent_through
            if not event.manual:
                spent = _latest(spent, event.occurrence_at)
            return _with(state, replace(found, next_at=event.next_at, spent_through=spent))
        case OccurrencesMissed():
            found = state.find(event.schedule_id)
            if found is None:
                return state
            missed = (*found.missed, *event.missed)[-KEEP_FIRES:]
            spent = found.spent_through
            for at in event.missed:
                spent = _latest(spent, at)
            return _with(
                state, replace(found, next_at=event.next_at, missed=missed, spent_through=spent)
            )
        case FireFinished():
            fires = tuple(
                replace(f, finished_at=event.at, finish_reason=event.reason)
                if f.fire_id == event.fire_id
                else f
                for f in state.fires
            )
            return replace(state, fires=fires)
        case FireApplyStarted():
            key = "apply_id" if event.kind == "event" else "fallback_apply_id"
            return _fire_update(state, event.fire_id, **{key: event.apply_id})
        case FireStartedWith():
            start = FireStart(event.uid, event.media, event.at)
            return _fire_update(state, event.fire_id, starts_with=start)
    return state


def _fire_update(state: SchedulesState, fire_id: str, **changes: Any) -> SchedulesState:
    fires = tuple(replace(f, **changes) if f.fire_id == fire_id else f for f in state.fires)
    return replace(state, fires=fires)


schedules_decider: Decider[SchedulesState, ScheduleCommand, ScheduleEvent] = Decider(
    aggregate="schedules", initial=initial, decide=decide, evolve=evolve
)
