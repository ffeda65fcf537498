"""Applying a saved playlist to the queue (GH-009, GH-010): the service that starts an apply,
and the process manager that carries it out, one step at a time, every step in the log.

Modes: `preserve_current` (default; now playing stays, everything else goes), `append`
(nothing goes) and `hard_replace` (now playing goes too: admins, or blessed users when
`hard_replace_for_blessed` is set). Purchases the replace displaces are cancelled with the
reason `replaced_by_playlist`; the pay flow then takes them off and refunds them, as it does for
every cancelled purchase (one refund path). A purchase already playing keeps its price (the
queue decider never cancels a playing item); a hard-replace takes it off all the same.

It is level-triggered like the pay flow: for the running apply it reads the apply aggregate and
takes the next step, so a restart (or another instance) resumes from the log alone. The one
step that is not idempotent, a CyTube add, is guarded: `StartApplyItemAdd(attempt n)` is
appended with optimistic concurrency before the add, and is refused if attempt n was started
already; an item started without an outcome is looked for on CyTube's playlist before any
retry. Adds are paced (the shared `AddPacer`, and `playlist_bulk_add_delay_sec` between this
apply's own adds, 0.9.13's throttle) and a transient queueFail is retried up to
`playlist_bulk_add_max_retries` times; every item's outcome is recorded, and a failed item
never stops the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import msgspec
from attrs import field, frozen

from application.clock import Clock
from application.cytube.observing import Observer
from application.cytube.pacing import AddPacer, ChannelSignals
from application.cytube.port import Cytube, CytubeUnavailable
from application.errors import NotFoundError
from application.identity.roles import Forbidden, Identity, require
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.ports import ConcurrencyConflict, EventStore, StoreUnavailable
from application.log.streams import playlist_apply_stream, queue_stream
from application.playlists.service import PlaylistService
from application.tasks import cancel_and_wait
from domain.errors import Rejected
from domain.playlists.apply import (
    DISPLACED,
    MODES,
    AbortApply,
    ApplyCommand,
    ApplyEntry,
    ApplyMode,
    ApplyRun,
    ApplyStarted,
    ApplyState,
    ApplyTarget,
    FinishApply,
    RecordApplyItemFailed,
    RecordApplyItemQueued,
    RecordQueueCleared,
    StartApply,
    StartApplyItemAdd,
    apply_decider,
)
from domain.queue.commands import ExpectClear, ObservePlaylist
from domain.queue.decider import queue_decider
from domain.queue.pay_model import CancelPayItem
from domain.queue.state import QueueState

log = logging.getLogger(__name__)


def _not_negative(_: object, attribute: Any, value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be 0 or more, not {value}")


@frozen
class ApplyConfig:
    """`[playlists]` in the config file (docs/configuration.md)."""

    playlist_bulk_add_delay_sec: float = field(default=0.5, validator=_not_negative)
    playlist_bulk_add_max_retries: int = field(default=2, validator=_not_negative)
    hard_replace_for_blessed: bool = False
    confirm_timeout_sec: float = field(default=5.0, validator=_not_negative)
    retry_delay_sec: float = field(default=1.0, validator=_not_negative)


# ---- what callers see ------------------------------------------------------------------------


class ApplyItemOut(msgspec.Struct):
    position: int
    media_type: str
    media_id: str
    title: str
    duration_sec: int
    status: str
    attempts: int
    reason: str
    detail: str
    catalog_id: str | None = None


class ApplyStatus(msgspec.Struct):
    apply_id: str
    playlist_id: str
    playlist_name: str
    mode: ApplyMode
    by: str
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    total: int
    queued: int
    failed: int
    pending: int
    cleared: bool
    removed: int
    kept: list[str]
    displaced_purchases: list[str]
    reason: str
    items: list[ApplyItemOut]
    failures: list[ApplyItemOut]


class ModeInfo(msgspec.Struct):
    mode: ApplyMode
    allowed: bool
    explanation: str


def status_of(run: ApplyRun) -> ApplyStatus:
    items = [
        ApplyItemOut(
            e.position,
            e.media.type,
            e.media.id,
            e.media.title,
            e.media.duration_sec,
            e.status,
            e.attempts,
            e.reason,
            e.detail,
            e.ref,
        )
        for e in run.items
    ]
    return ApplyStatus(
        apply_id=run.apply_id,
        playlist_id=run.playlist_id,
        playlist_name=run.playlist_name,
        mode=run.mode,
        by=run.by,
        status=run.status,
        started_at=run.started_at,
        finished_at=run.finished_at,
        total=len(run.items),
        queued=run.queued,
        failed=run.failed,
        pending=len(run.items) - run.queued - run.failed,
        cleared=run.cleared,
        removed=run.removed,
        kept=list(run.kept),
        displaced_purchases=[t.request_id for t in run.removals if t.request_id],
        reason=run.reason,
        items=items,
        failures=[i for i in items if i.status == "failed"],
    )


_EXPLAIN: dict[ApplyMode, str] = {
    "preserve_current": "Keeps what is playing now and replaces everything after it with "
    "the playlist. Purchases waiting in the queue are taken off and refunded.",
    "append": "Keeps the queue as it is and adds the playlist at the end.",
    "hard_replace": "Removes everything, including what is playing now, and plays the "
    "playlist from its first item. Purchases waiting are refunded; one already playing "
    "is stopped and keeps its price.",
}


def removals(state: QueueState, mode: ApplyMode) -> tuple[ApplyTarget, ...]:
    """What a mode displaces from the queue as it stands."""
    if mode == "append":
        return ()
    out: list[ApplyTarget] = []
    for item in state.items:
        if mode == "preserve_current" and item.item_id == state.now_playing:
            continue
        request_id = None
        if item.request_id is not None:
            pay = state.pay_item(item.request_id)
            if pay is not None and not pay.finished:
                request_id = item.request_id
        out.append(ApplyTarget(item.item_id, item.uid, item.media, request_id))
    return tuple(out)


class ApplyWatch:
    """Who watches a channel's applies (the WebSocket): a one-slot mailbox each, offered a
    wake-up whenever the channel's apply changes; a slow watcher skips states."""

    def __init__(self) -> None:
        self._boxes: dict[str, set[asyncio.Queue[None]]] = defaultdict(set)

    def changed(self, channel: str) -> None:
        for box in self._boxes.get(channel, ()):
            with contextlib.suppress(asyncio.QueueFull):
                box.put_nowait(None)

    @contextlib.asynccontextmanager
    async def watching(self, channel: str) -> AsyncIterator[asyncio.Queue[None]]:
        box: asyncio.Queue[None] = asyncio.Queue(maxsize=1)
        self._boxes[channel].add(box)
        try:
            yield box
        finally:
            self._boxes[channel].discard(box)


class PlaylistApplier:
    """The service (start, status, abort, modes) and the process manager (run)."""

    def __init__(
        self,
        handler: CommandHandler,
        events: EventStore,
        cytube: Cytube,
        observer: Observer,
        clock: Clock,
        playlists: PlaylistService,
        *,
        channels: Sequence[str],
        config: ApplyConfig | None = None,
        pacer: AddPacer | None = None,
    ) -> None:
        self._handler = handler
        self._events = events
        self._cytube = cytube
        self._observer = observer
        self._clock = clock
        self._playlists = playlists
        self._channels = list(channels)
        self.config = config or ApplyConfig()
        self.pacer = pacer or AddPacer(clock, 0.0)
        self.watch = ApplyWatch()
        self._signals = ChannelSignals(clock)
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._last_add: dict[str, datetime] = {}
        # (apply, position, attempt) whose add CyTube answered with a failure: not on the
        # playlist, so the next attempt need not look for it there first.
        self._not_added: set[tuple[str, int, int]] = set()

    # ---- the service -------------------------------------------------------------------------

    def modes(self, who: Identity) -> list[ModeInfo]:
        return [ModeInfo(m, self._may(who, m), _EXPLAIN[m]) for m in MODES]

    def _may(self, who: Identity, mode: ApplyMode) -> bool:
        if mode == "hard_replace":
            return who.at_least("admin") or (
                who.at_least("blessed") and self.config.hard_replace_for_blessed
            )
        return who.at_least("blessed")

    async def state(self, channel: str) -> ApplyState:
        state: ApplyState = await self._handler.state(apply_decider, playlist_apply_stream(channel))
        return state

    async def start(
        self,
        channel: str,
        who: Identity,
        playlist_id: str,
        mode: ApplyMode = "preserve_current",
        *,
        apply_id: str | None = None,
        drive: bool = True,
        displaced_reason: str = DISPLACED,
    ) -> ApplyStatus:
        """Record the start (refused with `apply_running` and its id while one runs); the
        manager takes it from there (this one at once with `drive`, else the service's, which
        follows the log). The playlist's items are taken as they are now."""
        require(who, "blessed")
        if mode not in MODES:
            raise Rejected("invalid_mode", f"{mode!r} is not a mode; use one of {MODES}.")
        if not self._may(who, mode):
            raise Forbidden(
                "mode_not_allowed",
                "Hard-replace (which also stops what is playing) is for admins; this service "
                "does not allow it for blessed users (hard_replace_for_blessed is off).",
            )
        playlist = await self._playlists.state(channel, playlist_id)
        if not playlist.live:
            raise NotFoundError("unknown_playlist", f"There is no playlist {playlist_id!r}.")
        running = (await self.state(channel)).running
        if running is not None:
            raise _running(running)
        queue = await self._queue(channel)
        items = list(playlist.items)
        refs = playlist.all_refs()
        unavailable: list[tuple[int, str]] = []
        for position, ref in enumerate(refs):
            if ref is None:
                continue
            found = await self._playlists.catalog.get(channel, ref)
            if found is None:
                unavailable.append((position, f"catalog item {ref} is gone"))
            elif not found.available:
                unavailable.append((position, found.reason or f"catalog item {ref} is unavailable"))
            else:
                items[position] = found.media
        apply_id = apply_id or uuid.uuid4().hex
        command = StartApply(
            apply_id,
            playlist.playlist_id,
            playlist.name,
            mode,
            who.user,
            tuple(items),
            refs,
            removals(queue, mode),
            tuple(unavailable),
            displaced_reason,
        )
        await self._record(channel, command, f"apply:{apply_id}:start", actor=who.user)
        state = await self.state(channel)
        run = state.find(apply_id)
        assert run is not None
        if drive and state.running is not None and state.running.apply_id == apply_id:
            self._ensure(channel, apply_id)
        return status_of(run)

    async def status(self, channel: str, who: Identity, apply_id: str | None = None) -> ApplyStatus:
        """An apply by id; without one, the running apply or else the latest."""
        state = await self.state(channel)
        run = state.latest if apply_id is None else state.find(apply_id)
        if run is None:
            what = "no apply yet" if apply_id is None else f"no apply {apply_id!r}"
            raise NotFoundError("unknown_apply", f"This channel has {what}.")
        return status_of(run)

    async def recent(self, channel: str, who: Identity) -> list[ApplyStatus]:
        state = await self.state(channel)
        runs = [*state.recent, *([state.running] if state.running else [])]
        return [status_of(r) for r in reversed(runs)]

    async def abort(self, channel: str, who: Identity, apply_id: str) -> ApplyStatus:
        """Stop a running apply where it is (admin): items not yet added stay pending."""
        require(who, "admin")
        await self._record(channel, AbortApply(apply_id, who.user), f"apply:{apply_id}:abort")
        task = self._tasks.get((channel, apply_id))
        if task is not None:
            task.cancel()
        return await self.status(channel, who, apply_id)

    # ---- the process manager -----------------------------------------------------------------

    async def run(self) -> None:
        """Resume the running apply of every channel, then follow the log."""
        head = await self._events.head()
        for channel in self._channels:
            await self.resume(channel)
        async for stored in self._events.subscribe(after=head):
            stream = stored.commit.stream
            if stream.aggregate == "queue":
                self._signals.wake(stream.channel)
            elif stream.aggregate == "playlist_apply":
                self.watch.changed(stream.channel)
                for event in stored.commit.events:
                    if isinstance(event, ApplyStarted):
                        self._ensure(stream.channel, event.apply_id)

    async def resume(self, channel: str) -> None:
        running = (await self.state(channel)).running
        if running is not None:
            self._ensure(channel, running.apply_id)

    async def stop(self) -> None:
        # One cancel and a gather can hang for ever on 3.11 (application.tasks says why).
        await cancel_and_wait(self._tasks.values())
        self._tasks.clear()

    async def idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def _ensure(self, channel: str, apply_id: str) -> None:
        key = (channel, apply_id)
        task = self._tasks.get(key)
        if task is None or task.done():
            task = asyncio.create_task(self._drive(channel, apply_id))
            self._tasks[key] = task

            def forget(done: asyncio.Task[None]) -> None:
                if self._tasks.get(key) is done:
                    del self._tasks[key]
                if not done.cancelled() and done.exception() is not None:
                    log.error("apply %s stopped", key, exc_info=done.exception())

            task.add_done_callback(forget)

    async def _queue(self, channel: str) -> QueueState:
        state: QueueState = await self._handler.state(queue_decider, queue_stream(channel))
        return state

    async def _record(
        self, channel: str, command: ApplyCommand, key: str, actor: str = "playlist-apply"
    ) -> bool:
        """Append a step; True if this call recorded it (events, or our own retried commit)."""
        return await self._recorded(channel, command, key, actor) != "not"

    async def _recorded(
        self, channel: str, command: ApplyCommand, key: str, actor: str = "playlist-apply"
    ) -> str:
        """Append a step: "now" (this call recorded it), "before" (the same step is in the log
        already: an earlier run's, or another instance's) or "not" (nothing to record)."""
        outcome = await self._handler.handle(
            apply_decider,
            playlist_apply_stream(channel),
            command,
            CommandMeta(key, actor=actor, correlation_id=command.apply_id),
        )
        self.watch.changed(channel)
        if outcome.events:
            return "now"
        return "before" if outcome.duplicate else "not"

    async def _backoff(self, attempt: int) -> None:
        await self._clock.sleep(min(self.config.retry_delay_sec * 2 ** min(attempt, 6), 60.0))

    async def _drive(self, channel: str, apply_id: str) -> None:
        rounds = 0
        while True:
            try:
                state = await self.state(channel)
                run = state.running
                if run is None or run.apply_id != apply_id:
                    return
                await self._step(channel, run)
                rounds = 0
            except (CytubeUnavailable, StoreUnavailable, ConcurrencyConflict) as exc:
                log.warning("apply %s on %s waits: %s", apply_id, channel, exc)
                await self._backoff(rounds)
                rounds += 1
            except Rejected as exc:
                log.info("apply %s on %s: %s; re-reading", apply_id, channel, exc.message)
                await asyncio.sleep(0)
            except Exception:
                log.exception("apply %s on %s failed unexpectedly; trying again", apply_id, channel)
                await self._backoff(rounds)
                rounds += 1

    async def _step(self, channel: str, run: ApplyRun) -> None:
        if not run.cleared:
            await self._clear(channel, run)
            return
        entry = run.next_entry()
        if entry is None:
            await self._record(channel, FinishApply(run.apply_id), f"apply:{run.apply_id}:finish")
            return
        await self._item(channel, run, entry)

    # ---- clearing ----------------------------------------------------------------------------

    async def _clear(self, channel: str, run: ApplyRun) -> None:
        """Cancel the displaced purchases (the pay flow deletes and refunds them), delete the
        rest, and wait until CyTube reports them gone (a fresh read when it does not)."""
        for target in run.removals:
            if target.request_id is None:
                continue
            with contextlib.suppress(Rejected):  # finished, or playing (it keeps its price)
                await self._handler.handle(
                    queue_decider,
                    queue_stream(channel),
                    CancelPayItem(target.request_id, run.displaced_reason, run.by),
                    CommandMeta(
                        f"apply:{run.apply_id}:cancel:{target.request_id}",
                        actor="playlist-apply",
                        correlation_id=target.request_id,
                    ),
                )
        wanted = {t.item_id for t in run.removals}
        queue = await self._queue(channel)
        playing = queue.now_playing
        # Everything but now playing first: deleting the current item starts the next one,
        # which must not be a purchase on its way off (it would play, and keep its price).
        await self._delete(channel, run, wanted - {playing} if playing else wanted)
        await self._gone(channel, wanted - {playing} if playing else wanted)
        if playing in wanted:
            await self._delete(channel, run, {playing}, force=True)
        left = await self._gone(channel, wanted)
        if left:  # what started playing meanwhile goes too (a purchase playing keeps its price)
            await self._delete(channel, run, left, force=True)
            left = await self._gone(channel, wanted)
        await self._record(
            channel,
            RecordQueueCleared(run.apply_id, len(wanted) - len(left), tuple(sorted(left))),
            f"apply:{run.apply_id}:cleared",
        )

    async def _delete(
        self, channel: str, run: ApplyRun, ids: set[str], *, force: bool = False
    ) -> None:
        """Delete these items; a cancelled purchase is the pay flow's to take off, unless
        `force` (it is playing, or it is what plays now in a hard-replace)."""
        queue = await self._queue(channel)
        for item in queue.items:
            if item.item_id not in ids:
                continue
            pay = queue.pay_item(item.request_id) if item.request_id else None
            if not force and pay is not None and pay.cancelled and pay.placement != "playing":
                continue
            await self._cytube.delete(channel, item.uid)

    async def _gone(self, channel: str, ids: set[str]) -> set[str]:
        """Wait until CyTube reports these items gone (a fresh read if it does not say so);
        what is left after that."""
        left: set[str] = set()
        for attempt in range(4):
            seen = self._signals.mark(channel)
            queue = await self._queue(channel)
            left = {i.item_id for i in queue.items if i.item_id in ids}
            if not left:
                return left
            if attempt == 2:
                await self._resync(channel, ids)
                continue
            await self._signals.wait(channel, self.config.confirm_timeout_sec, seen)
        return left

    async def _resync(self, channel: str, ids: set[str]) -> None:
        """A fresh read of CyTube's playlist, reconciled. An empty read is not believed on its
        own (a failed robot read looks the same), but when every item the log holds is one
        this apply deleted, the empty playlist is the clear it asked for: the clear is
        expected first (`ExpectClear`), so the empty snapshot is believed and the items whose
        delete broadcasts never arrived do not stay as ghosts (a scheduled event's
        hard-replace, issue 18)."""
        items = await self._cytube.playlist(channel)
        if items is not None:
            state = await self._queue(channel)
            if not items and state.items and all(i.item_id in ids for i in state.items):
                with contextlib.suppress(Rejected):
                    await self._handler.handle(
                        queue_decider,
                        queue_stream(channel),
                        ExpectClear(by="playlist-apply"),
                        CommandMeta.new("playlist-apply"),
                    )
            with contextlib.suppress(Rejected):
                await self._observer.record(
                    channel, ObservePlaylist(items, current_uid=state.now_playing_uid)
                )

    # ---- adding ------------------------------------------------------------------------------

    async def _fail(
        self, channel: str, run: ApplyRun, entry: ApplyEntry, why: str, detail: str
    ) -> None:
        command = RecordApplyItemFailed(run.apply_id, entry.position, why, detail)
        await self._record(channel, command, f"apply:{run.apply_id}:{entry.position}:failed")

    async def _queued(
        self, channel: str, run: ApplyRun, entry: ApplyEntry, uid: int | None
    ) -> None:
        command = RecordApplyItemQueued(run.apply_id, entry.position, uid)
        await self._record(channel, command, f"apply:{run.apply_id}:{entry.position}:queued")

    async def _pace(self, channel: str) -> None:
        await self.pacer.turn(channel)
        last = self._last_add.get(channel)
        if last is not None:
            wait = (
                self.config.playlist_bulk_add_delay_sec - (self._clock.now() - last).total_seconds()
            )
            if wait > 0:
                await self._clock.sleep(wait)
        self._last_add[channel] = self._clock.now()

    async def _item(self, channel: str, run: ApplyRun, entry: ApplyEntry) -> None:
        budget = 1 + self.config.playlist_bulk_add_max_retries
        if entry.status == "adding" and (
            (run.apply_id, entry.position, entry.attempts) not in self._not_added
        ):
            # Started, outcome unknown (a crash, a lost answer): look before adding again.
            items = await self._cytube.playlist(channel)
            if items is None:
                raise CytubeUnavailable("the playlist could not be read")
            found = next((i for i in items if i.media.key == entry.media.key), None)
            if found is not None:
                await self._queued(channel, run, entry, found.uid)
                return
            if entry.attempts >= budget:
                await self._fail(channel, run, entry, "add_unconfirmed", "CyTube never showed it")
                return
        elif entry.status == "pending":
            queue = await self._queue(channel)
            if any(i.media.key == entry.media.key for i in queue.items):
                await self._fail(
                    channel, run, entry, "already_on_playlist", "CyTube holds each media once"
                )
                return
        if entry.attempts >= budget:
            await self._fail(channel, run, entry, "add_failed", entry.detail or "retries spent")
            return
        attempt = entry.attempts + 1
        await self._pace(channel)
        key = f"apply:{run.apply_id}:{entry.position}:add:{attempt}"
        started = await self._recorded(
            channel, StartApplyItemAdd(run.apply_id, entry.position, attempt), key
        )
        if started != "now":
            # Not ours to send: a step already in the log may have been sent by whoever wrote
            # it (an earlier run, the channel's owner before or after us); the next round
            # looks on the playlist before any attempt of its own.
            return
        outcome = await self._cytube.add(channel, entry.media, "end", temp=False)
        if outcome.ok:
            await self._queued(channel, run, entry, outcome.uid)
            return
        self._not_added.add((run.apply_id, entry.position, attempt))
        error = outcome.error or "refused"
        if not outcome.transient:
            log.warning(
                "CyTube refused item %d of apply %s: %s", entry.position, run.apply_id, error
            )
            await self._fail(channel, run, entry, "refused", error)
            return
        if attempt >= budget:
            await self._fail(channel, run, entry, "add_failed", f"{error} ({attempt} tries)")
            return
        await self._clock.sleep(self.config.playlist_bulk_add_delay_sec * attempt)


def _running(run: ApplyRun) -> Rejected:
    return Rejected(
        "apply_running",
        f"Playlist {run.playlist_name!r} is being applied (apply {run.apply_id}, by {run.by}); "
        "wait for it to finish.",
        {"running_apply_id": run.apply_id},
    )
