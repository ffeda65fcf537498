"""Scheduled events as admins see them: create, edit, enable/disable, delete, fire now, lift the
event lock, list and the coming occurrences. Writes go through the schedule decider (one stream
per channel); the firing process manager (`application.schedules.firing`) does the rest.

Times are kept in UTC and shown beside the channel's zone (`ScheduleConfig.time_zone`, handed
in as a `tzinfo` by the composition root)."""

from __future__ import annotations

import builtins
import hashlib
import uuid
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
import msgspec
from attrs import field, frozen

from application.clock import Clock
from application.errors import NotFoundError
from application.identity.roles import Identity, require
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.streams import queue_stream, schedules_stream
from application.playlists.service import PlaylistService
from domain.errors import Rejected
from domain.queue.decider import queue_decider
from domain.queue.lock import lock_details
from domain.queue.state import QueueState
from domain.schedules.model import (
    CreateSchedule,
    DeleteSchedule,
    EditSchedule,
    FinishFire,
    Fire,
    FireNow,
    Schedule,
    ScheduleCommand,
    ScheduleSpec,
    SchedulesState,
    SetScheduleActive,
    schedules_decider,
)
from domain.schedules.occurrences import occurrences

#: Why a purchase a fire displaced was cancelled (and so refunded by the pay flow).
SCHEDULE_DISPLACED = "schedule_displaced"


def _not_negative(_: object, attribute: Any, value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be 0 or more, not {value}")


def _zone(_: object, attribute: Any, value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{attribute.name}: {value!r} is not a time zone (IANA)") from exc


@frozen
class ScheduleConfig:
    """`[schedules]` in the config file (docs/configuration.md)."""

    time_zone: str = field(default="UTC", validator=_zone)
    pre_fire_lock_minutes: int = field(default=15, validator=_not_negative)
    too_late_minutes: float = field(default=10.0, validator=_not_negative)
    horizon_days: int = field(default=366, validator=_not_negative)
    tick_sec: float = field(default=1.0, validator=_not_negative)

    @property
    def zone(self) -> tzinfo:
        return ZoneInfo(self.time_zone)

    def rules(self, tz: tzinfo) -> dict[str, Any]:
        """What the schedule decider reads from its context."""
        return {
            "schedule_tz": tz,
            "pre_fire_lock_minutes": self.pre_fire_lock_minutes,
            "too_late_minutes": self.too_late_minutes,
            "schedule_horizon_days": self.horizon_days,
        }


class ScheduleOut(msgspec.Struct):
    schedule_id: str
    playlist_id: str
    label: str
    fire_at: datetime
    fire_at_local: str
    duration_sec: int
    lock_minutes: int
    fallback_playlist_id: str | None
    immutable: bool
    active: bool
    rrule: str | None
    next_at: datetime | None
    lock_from: datetime | None
    missed: list[datetime]
    version: str  # changes with the settings (`edit`'s `expected_version`)


class OccurrenceOut(msgspec.Struct):
    schedule_id: str
    label: str
    fire_at: datetime
    fire_at_local: str
    lock_from: datetime
    ends_at: datetime
    immutable: bool
    fallback_playlist_id: str | None


class NextEventOut(msgspec.Struct):
    label: str
    fire_at: datetime
    fire_at_local: str
    lock_from: datetime


class EventStatusOut(msgspec.Struct):
    """What a viewer may know: the lock a scheduled event holds now, and the next event."""

    lock: dict[str, Any] | None
    next: NextEventOut | None


class StartsWithOut(msgspec.Struct):
    """The item that started the event, as CyTube reported it playing."""

    uid: int
    media_type: str
    media_id: str
    title: str
    began_at: datetime


class FireOut(msgspec.Struct):
    fire_id: str
    schedule_id: str
    label: str
    occurrence_at: datetime
    at: datetime
    estimated_end_at: datetime
    immutable: bool
    manual: bool
    running: bool
    finished_at: datetime | None
    finish_reason: str | None
    #: The playlist apply that loads the event (`GET .../playlist-applies/{id}`), and the
    #: fallback's once it runs; None until started (and in logs from before they were kept).
    apply_id: str | None = None
    fallback_apply_id: str | None = None
    starts_with: StartsWithOut | None = None


def _expect(held: Schedule, expected_version: str | None) -> None:
    current = revision(held)
    if expected_version is not None and expected_version != current:
        raise Rejected(
            "version_conflict",
            f'"{held.label}" was changed since you read it; look at it again and redo your edit.',
            {"current_version": current},
        )


def fire_out(fire: Fire) -> FireOut:
    start = fire.starts_with
    return FireOut(
        fire.fire_id,
        fire.schedule_id,
        fire.label,
        fire.occurrence_at,
        fire.at,
        fire.estimated_end_at,
        fire.immutable,
        fire.manual,
        fire.running,
        fire.finished_at,
        fire.finish_reason,
        fire.apply_id,
        fire.fallback_apply_id,
        None
        if start is None
        else StartsWithOut(
            start.uid, start.media.type, start.media.id, start.media.title, start.at
        ),
    )


def revision(s: Schedule) -> str:
    """A tag of what an admin set on the schedule (its settings and whether it is active): an
    edit made against an older tag is refused, not laid over a change it did not see."""
    return hashlib.sha256(repr((s.spec, s.active)).encode()).hexdigest()[:16]


class ScheduleService:
    def __init__(
        self,
        handler: CommandHandler,
        playlists: PlaylistService,
        clock: Clock,
        *,
        config: ScheduleConfig | None = None,
        tz: tzinfo = UTC,
    ) -> None:
        self._handler = handler
        self._playlists = playlists
        self._clock = clock
        self.config = config or ScheduleConfig()
        self.tz = tz
        self.rules = self.config.rules(tz)

    def local(self, at: datetime) -> str:
        return f"{at.astimezone(self.tz):%Y-%m-%d %H:%M %Z}"

    def parse_time(self, value: str | datetime) -> datetime:
        """A fire time as entered: with an offset it is taken as is, without one it is the
        channel's wall time (`2026-11-20T20:00` in the configured zone)."""
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError as exc:
                raise Rejected(
                    "invalid_schedule", f"{value!r} is not a time like 2026-11-20T20:00."
                ) from exc
        if value.tzinfo is None:
            value = value.replace(tzinfo=self.tz)
        return value.astimezone(UTC).replace(microsecond=0)

    async def state(self, channel: str) -> SchedulesState:
        state: SchedulesState = await self._handler.state(
            schedules_decider, schedules_stream(channel)
        )
        return state

    async def _record(self, channel: str, command: ScheduleCommand, who: str) -> None:
        await self._handler.handle(
            schedules_decider,
            schedules_stream(channel),
            command,
            CommandMeta.new(who),
            config=self.rules,
        )

    async def _duration(self, channel: str, playlist_id: str, what: str) -> int:
        playlist = await self._playlists.state(channel, playlist_id)
        if not playlist.live:
            raise NotFoundError("unknown_playlist", f"There is no {what} playlist {playlist_id!r}.")
        return sum(max(0, m.duration_sec) for m in playlist.items)

    async def _spec(self, channel: str, spec: ScheduleSpec) -> ScheduleSpec:
        duration = await self._duration(channel, spec.playlist_id, "event")
        if spec.fallback_playlist_id is not None:
            await self._duration(channel, spec.fallback_playlist_id, "fallback")
        return attrs.evolve(spec, duration_sec=duration)

    def out(self, s: Schedule) -> ScheduleOut:
        spec = s.spec
        return ScheduleOut(
            s.schedule_id,
            spec.playlist_id,
            spec.label,
            spec.fire_at,
            self.local(spec.fire_at),
            spec.duration_sec,
            s.lock_minutes,
            spec.fallback_playlist_id,
            spec.immutable,
            s.active,
            spec.rrule,
            s.next_at,
            s.lock_from,
            list(s.missed),
            revision(s),
        )

    async def _one(self, channel: str, schedule_id: str) -> Schedule:
        found = (await self.state(channel)).find(schedule_id)
        if found is None:
            raise NotFoundError("unknown_schedule", f"There is no schedule {schedule_id!r}.")
        return found

    async def create(
        self,
        channel: str,
        who: Identity,
        *,
        playlist_id: str,
        label: str,
        fire_at: str | datetime,
        lock_minutes: int | None = None,
        fallback_playlist_id: str | None = None,
        immutable: bool = True,
        active: bool = True,
        rrule: str | None = None,
        schedule_id: str | None = None,
    ) -> ScheduleOut:
        require(who, "admin")
        spec = ScheduleSpec(
            playlist_id,
            label,
            self.parse_time(fire_at),
            1,
            lock_minutes,
            fallback_playlist_id or None,
            immutable,
            rrule or None,
        )
        spec = await self._spec(channel, spec)
        schedule_id = schedule_id or uuid.uuid4().hex
        await self._record(channel, CreateSchedule(schedule_id, spec, who.user, active), who.user)
        return self.out(await self._one(channel, schedule_id))

    async def edit(
        self,
        channel: str,
        who: Identity,
        schedule_id: str,
        *,
        expected_version: str | None = None,
        **changes: Any,
    ) -> ScheduleOut:
        """Change some of a schedule's settings (the rest stay); the playlist's length is
        taken again. `expected_version`: refused with `version_conflict` when the schedule's
        settings changed since that `version` was read."""
        require(who, "admin")
        held = await self._one(channel, schedule_id)
        _expect(held, expected_version)
        allowed = {f.name for f in attrs.fields(ScheduleSpec)} - {"duration_sec"}
        unknown = set(changes) - allowed
        if unknown:
            raise Rejected("invalid_schedule", f"Not a schedule setting: {sorted(unknown)}.")
        if "fire_at" in changes:
            changes["fire_at"] = self.parse_time(changes["fire_at"])
        for blank in ("fallback_playlist_id", "rrule"):
            if blank in changes and not changes[blank]:
                changes[blank] = None
        spec = await self._spec(channel, attrs.evolve(held.spec, **changes))
        await self._record(channel, EditSchedule(schedule_id, spec, who.user), who.user)
        return self.out(await self._one(channel, schedule_id))

    async def change(
        self,
        channel: str,
        who: Identity,
        schedule_id: str,
        changes: dict[str, Any],
        expected_version: str | None = None,
    ) -> ScheduleOut:
        """An edit as HTTP and NATS take it: the settings given (`active` among them), the
        rest kept; `expected_version` as for `edit`."""
        changes = dict(changes)
        active = changes.pop("active", None)
        out = None
        if changes:
            out = await self.edit(
                channel, who, schedule_id, expected_version=expected_version, **changes
            )
            expected_version = None
        if out is None:  # `active` alone, or nothing
            require(who, "admin")
            held = await self._one(channel, schedule_id)
            _expect(held, expected_version)
            out = self.out(held)
        if active is not None:
            out = await self.set_active(channel, who, schedule_id, bool(active))
        return out

    async def set_active(
        self, channel: str, who: Identity, schedule_id: str, active: bool
    ) -> ScheduleOut:
        require(who, "admin")
        await self._one(channel, schedule_id)
        await self._record(channel, SetScheduleActive(schedule_id, active, who.user), who.user)
        return self.out(await self._one(channel, schedule_id))

    async def delete(self, channel: str, who: Identity, schedule_id: str) -> None:
        require(who, "admin")
        await self._one(channel, schedule_id)
        await self._record(channel, DeleteSchedule(schedule_id, who.user), who.user)

    async def fire_now(self, channel: str, who: Identity, schedule_id: str) -> FireOut:
        """Record a fire now; the firing process manager carries it out."""
        require(who, "admin")
        await self._one(channel, schedule_id)
        fire_id = f"{schedule_id}-now-{uuid.uuid4().hex[:12]}"
        await self._record(channel, FireNow(schedule_id, fire_id, who.user), who.user)
        fire = (await self.state(channel)).fire(fire_id)
        assert fire is not None
        return fire_out(fire)

    async def lift(self, channel: str, who: Identity) -> FireOut:
        """An admin ends the running event (its lock lifts; the fallback follows)."""
        require(who, "admin")
        running = (await self.state(channel)).running
        if running is None:
            raise NotFoundError("no_event_running", "No scheduled event is on.")
        await self._record(channel, FinishFire(running.fire_id, "admin", who.user), who.user)
        fire = (await self.state(channel)).fire(running.fire_id)
        assert fire is not None
        return fire_out(fire)

    async def status(self, channel: str) -> EventStatusOut:
        """Anyone's: the scheduled lock in force now (as a 423's error says it) and the next
        armed event, for the viewers' banner and the queue page. Read from the log; the
        pages and `/schedules/status` read `ScheduleStatusView`'s copy in memory instead."""
        queue: QueueState = await self._handler.state(queue_decider, queue_stream(channel))
        return self.status_of(queue, await self.state(channel))

    def status_of(self, queue: QueueState, schedules: SchedulesState) -> EventStatusOut:
        """`status` from the two aggregates as given (no I/O)."""
        now = self._clock.now()
        held = queue.schedule_lock
        lock = lock_details(queue, now) if held is not None and held.active(now) else None
        if lock is not None and lock.get("kind") == "manual":
            lock = None  # the manual lock has its own banner (the queue's `lock`)
        armed = [s for s in schedules.schedules if s.active and s.next_at is not None]
        nxt = None
        if armed:
            soon = min(armed, key=lambda s: s.next_at or now)
            assert soon.next_at is not None and soon.lock_from is not None
            nxt = NextEventOut(soon.label, soon.next_at, self.local(soon.next_at), soon.lock_from)
        return EventStatusOut(lock, nxt)

    async def list(self, channel: str, who: Identity) -> builtins.list[ScheduleOut]:
        require(who, "admin")
        state = await self.state(channel)
        return sorted(
            (self.out(s) for s in state.schedules),
            key=lambda s: (s.next_at is None, s.next_at or s.fire_at, s.label),
        )

    async def fires(self, channel: str, who: Identity) -> builtins.list[FireOut]:
        require(who, "admin")
        return [fire_out(f) for f in reversed((await self.state(channel)).fires)]

    async def upcoming(
        self, channel: str, who: Identity, days: float = 7
    ) -> builtins.list[OccurrenceOut]:
        """Every active schedule's occurrences in the coming `days`, by time."""
        require(who, "admin")
        if not 0 < days <= 366:
            raise Rejected("invalid_range", "Upcoming covers 1 to 366 days.")
        now = self._clock.now()
        end = now + timedelta(days=days)
        found: builtins.list[OccurrenceOut] = []
        for s in (await self.state(channel)).schedules:
            if not s.active or s.next_at is None:
                continue
            for at in occurrences(s.spec.fire_at, s.spec.rrule, self.tz, s.next_at, end):
                found.append(
                    OccurrenceOut(
                        s.schedule_id,
                        s.label,
                        at,
                        self.local(at),
                        at - timedelta(minutes=s.lock_minutes),
                        at + s.duration,
                        s.spec.immutable,
                        s.spec.fallback_playlist_id,
                    )
                )
        return sorted(found, key=lambda o: o.fire_at)
