"""Firing scheduled events: a process manager, level-triggered over the log like the pay flow
and the playlist apply, so a restart (or a second instance) resumes from the log alone.

Each pass (`tick`), per channel:

1. Every active schedule whose armed occurrence is due gets a `FireDue` with a fire id made of
   the schedule and the occurrence: the decider appends `OccurrenceFired` (optimistic
   concurrency, before any side effect, so two passes or two instances fire once), or records
   the occurrence missed when it is more than `too_late_minutes` late, advancing a recurring
   schedule past a downtime; the next occurrence is armed in the same event.
2. The running fire's effects, each idempotent: the event lock (immutable) or the pre-fire lock
   lifted (mutable); the playlist applied in `hard_replace` mode as the system, with the fire id
   as the apply id (so it starts once; recorded on the fire, `FireApplyStarted`) and displaced
   purchases cancelled as `schedule_displaced` (the pay flow refunds them, its one refund
   path); a purchase playing at the fire is cut off first (it cannot finish before the
   event), and refunded too. The first item of the load CyTube reports playing is recorded
   as the one that starts the event (`FireStartedWith`).
3. The end of an event: when the apply is done and the last queued item has begun, or none of
   the event's items is left, the fire is finished; then the event lock lifts and the fallback
   playlist, if any, is appended (apply id `{fire}-fallback`, once, recorded on the fire).
4. The soonest armed occurrence's pre-fire lock is set in the queue ahead of time (its
   `starts_at` in the event), so a replay shows exactly when pay-to-play closed.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

from application.clock import Clock
from application.errors import NotFoundError
from application.identity.roles import Identity
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.ports import ConcurrencyConflict, StoreUnavailable
from application.log.streams import queue_stream, schedules_stream
from application.playlists.apply import PlaylistApplier
from application.schedules.service import SCHEDULE_DISPLACED, ScheduleService
from domain.errors import Rejected
from domain.playlists.apply import ApplyRun
from domain.queue.decider import queue_decider
from domain.queue.pay_model import (
    CancelPayItem,
    CutOffPayItem,
    LiftScheduleLock,
    SetScheduleLock,
)
from domain.queue.state import QueueState
from domain.schedules.model import (
    ApplyKind,
    FinishFire,
    Fire,
    FireDue,
    RecordFireApply,
    RecordFireStart,
    ScheduleCommand,
    SchedulesState,
    schedules_decider,
)

log = logging.getLogger(__name__)

#: Who a fire acts as: the system, with an admin's reach (hard-replace).
SYSTEM = Identity("scheduler", "admin")


def fire_id_of(schedule_id: str, occurrence_at_ts: float) -> str:
    return f"{schedule_id}-{int(occurrence_at_ts)}"


class ScheduleFirer:
    def __init__(
        self,
        handler: CommandHandler,
        clock: Clock,
        service: ScheduleService,
        applier: PlaylistApplier,
        *,
        channels: Sequence[str],
    ) -> None:
        self._handler = handler
        self._clock = clock
        self._service = service
        self._applier = applier
        self._channels = list(channels)
        self.passes = 0

    async def run(self) -> None:
        while True:
            for channel in self._channels:
                try:
                    await self.tick(channel)
                except (StoreUnavailable, ConcurrencyConflict) as exc:
                    log.warning("schedules %s: pass failed (%s); trying again", channel, exc)
            await self._clock.sleep(max(0.05, self._service.config.tick_sec))

    async def _state(self, channel: str) -> SchedulesState:
        return await self._service.state(channel)

    async def _queue(self, channel: str) -> QueueState:
        state: QueueState = await self._handler.state(queue_decider, queue_stream(channel))
        return state

    async def _schedule(self, channel: str, command: ScheduleCommand, command_id: str) -> None:
        await self._handler.handle(
            schedules_decider,
            schedules_stream(channel),
            command,
            CommandMeta(command_id, actor="scheduler"),
            config=self._service.rules,
        )

    async def _queue_cmd(self, channel: str, command: object) -> None:
        await self._handler.handle(
            queue_decider, queue_stream(channel), command, CommandMeta.new("scheduler")
        )

    async def tick(self, channel: str) -> None:
        self.passes += 1
        now = self._clock.now()
        state = await self._state(channel)
        for s in state.schedules:
            if s.active and s.next_at is not None and now >= s.next_at:
                fire_id = fire_id_of(s.schedule_id, s.next_at.timestamp())
                try:
                    await self._schedule(
                        channel, FireDue(s.schedule_id, fire_id), f"schedule:{channel}:{fire_id}"
                    )
                except Rejected as exc:  # another event is on: tried again until too late
                    log.info("schedules %s: %s not fired yet: %s", channel, fire_id, exc.message)
        state = await self._state(channel)
        running = state.running
        if running is not None:
            await self._effects(channel, running)
            state = await self._state(channel)
        await self._after(channel, state)
        await self._arm(channel, await self._state(channel))

    async def _run_of(self, channel: str, apply_id: str) -> ApplyRun | None:
        return (await self._applier.state(channel)).find(apply_id)

    async def _start_apply(
        self, channel: str, playlist_id: str, apply_id: str, mode: str, reason: str
    ) -> None:
        applies = await self._applier.state(channel)
        if applies.find(apply_id) is not None:
            return
        other = applies.running
        if other is not None:
            with contextlib.suppress(Rejected, NotFoundError):
                await self._applier.abort(channel, SYSTEM, other.apply_id)
        try:
            await self._applier.start(
                channel,
                SYSTEM,
                playlist_id,
                mode,  # type: ignore[arg-type]
                apply_id=apply_id,
                displaced_reason=reason,
            )
        except (Rejected, NotFoundError) as exc:
            log.warning("schedules %s: apply %s not started: %s", channel, apply_id, exc)

    async def _effects(self, channel: str, fire: Fire) -> None:
        if fire.immutable:
            await self._queue_cmd(
                channel,
                SetScheduleLock(
                    fire.schedule_id,
                    "event",
                    fire.label,
                    fire.at,
                    fire.occurrence_at,
                    fire.estimated_end_at,
                ),
            )
        else:
            await self._queue_cmd(channel, LiftScheduleLock("fired", schedule_id=fire.schedule_id))
        if await self._run_of(channel, fire.fire_id) is None:
            await self._cut_off(channel, fire)
        await self._start_apply(
            channel, fire.playlist_id, fire.fire_id, "hard_replace", SCHEDULE_DISPLACED
        )
        if fire.apply_id is None:
            await self._applied(channel, fire, fire.fire_id, "event")
        await self._sweep(channel, fire)
        if fire.starts_with is None:
            await self._started_with(channel, fire)
        reason = await self._over(channel, fire)
        if reason is not None:
            await self._schedule(
                channel,
                FinishFire(fire.fire_id, reason),
                f"schedule:{channel}:finish:{fire.fire_id}",
            )

    async def _applied(self, channel: str, fire: Fire, apply_id: str, kind: ApplyKind) -> None:
        """The apply behind the fire recorded on it, once it exists (started now or by an
        earlier pass, or refused: then nothing is recorded)."""
        if await self._run_of(channel, apply_id) is None:
            return
        await self._schedule(
            channel,
            RecordFireApply(fire.fire_id, apply_id, kind),
            f"schedule:{channel}:apply:{fire.fire_id}:{kind}",
        )

    async def _started_with(self, channel: str, fire: Fire) -> None:
        """The item that starts the event: the first of the event's load that CyTube reports
        playing (now playing is one of the items the apply queued)."""
        run = await self._run_of(channel, fire.fire_id)
        if run is None:
            return
        loaded = {e.uid for e in run.items if e.status == "queued" and e.uid is not None}
        current = (await self._queue(channel)).current
        if current is None or current.uid not in loaded:
            return
        await self._schedule(
            channel,
            RecordFireStart(fire.fire_id, current.uid, current.media),
            f"schedule:{channel}:start:{fire.fire_id}",
        )

    async def _cut_off(self, channel: str, fire: Fire) -> None:
        """A purchase playing when the event fires does not finish before it (point 2: only
        those that finish before the event keep their place): the hard-replace takes it off,
        and it is cut off first so the pay flow refunds it as `schedule_displaced` once it is
        off. Done before the apply starts (so after a restart, a purchase playing during a
        mutable event that fired earlier is never touched)."""
        queue = await self._queue(channel)
        for pay in queue.pay:
            playing = pay.placement == "playing" and not pay.cut_off
            if playing and pay.payment == "captured" and pay.requested_at < fire.at:
                with contextlib.suppress(Rejected):
                    await self._queue_cmd(
                        channel, CutOffPayItem(pay.request_id, SCHEDULE_DISPLACED, SYSTEM.user)
                    )

    async def _sweep(self, channel: str, fire: Fire) -> None:
        """Purchases made before the fire that the replace could not see (still being paid
        for or added when it began) are displaced too, once the apply is done: cancelled as
        `schedule_displaced`, so the pay flow takes them off and refunds them. One this
        replace displaced that began to play only because the replace deleted what played
        before it is cut off (refunded too): it did not play."""
        run = await self._run_of(channel, fire.fire_id)
        if run is None or run.status == "running":
            return
        queue = await self._queue(channel)
        removed = {t.request_id for t in run.removals if t.request_id}
        for pay in queue.pay:
            late = (
                pay.request_id in removed
                and pay.cancel_reason == SCHEDULE_DISPLACED
                and pay.placement in ("playing", "played")
                and pay.payment == "captured"
                and not pay.cut_off
            )
            if late and pay.requested_at < fire.at:
                # Displaced, then started by the replace's own delete of what played before
                # it: it did not play, it was cut off.
                with contextlib.suppress(Rejected):
                    await self._queue_cmd(
                        channel, CutOffPayItem(pay.request_id, SCHEDULE_DISPLACED, SYSTEM.user)
                    )
            elif pay.pending and pay.placement != "playing" and pay.requested_at < fire.at:
                with contextlib.suppress(Rejected):
                    await self._queue_cmd(
                        channel, CancelPayItem(pay.request_id, SCHEDULE_DISPLACED, SYSTEM.user)
                    )

    async def _over(self, channel: str, fire: Fire) -> str | None:
        """Why the event is over, or None while it runs: its last item began, its items are
        gone, or (the playlist never started) its estimated end passed."""
        run = await self._run_of(channel, fire.fire_id)
        if run is None:
            return "estimated_end_passed" if self._clock.now() >= fire.estimated_end_at else None
        if run.status == "running":
            return None
        uids = [e.uid for e in run.items if e.status == "queued" and e.uid is not None]
        queue = await self._queue(channel)
        on_queue = {i.uid for i in queue.items}
        if not any(uid in on_queue for uid in uids):
            return "items_gone"
        current = queue.current
        if current is not None and current.uid == uids[-1]:
            return "last_item_began"
        return None

    async def _after(self, channel: str, state: SchedulesState) -> None:
        """A finished event: its lock lifted, then its fallback appended (once)."""
        if state.running is not None or not state.fires:
            return
        last = state.fires[-1]
        queue = await self._queue(channel)
        held = queue.schedule_lock
        if held is not None and held.kind == "event":
            await self._queue_cmd(channel, LiftScheduleLock(last.finish_reason or "event_over"))
        if last.fallback_playlist_id is not None:
            fallback = f"{last.fire_id}-fallback"
            await self._start_apply(
                channel, last.fallback_playlist_id, fallback, "append", SCHEDULE_DISPLACED
            )
            if last.fallback_apply_id is None:
                await self._applied(channel, last, fallback, "fallback")

    async def _arm(self, channel: str, state: SchedulesState) -> None:
        """The soonest armed occurrence's pre-fire lock, set ahead in the queue (never over a
        running event's lock); a pre-fire lock for nothing armed is lifted."""
        if state.running is not None and state.running.immutable:
            return
        armed = [s for s in state.schedules if s.active and s.next_at is not None]
        queue = await self._queue(channel)
        held = queue.schedule_lock
        if not armed:
            if held is not None and held.kind == "pre_fire":
                await self._queue_cmd(channel, LiftScheduleLock("disarmed"))
            return
        soonest = min(armed, key=lambda s: s.next_at)  # type: ignore[arg-type, return-value]
        assert soonest.next_at is not None and soonest.lock_from is not None
        await self._queue_cmd(
            channel,
            SetScheduleLock(
                soonest.schedule_id,
                "pre_fire",
                soonest.label,
                soonest.lock_from,
                soonest.next_at,
                soonest.next_at + soonest.duration,
            ),
        )
