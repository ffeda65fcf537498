"""The promo director: acts just in time as playback advances, driven by the log (not a timer).

Every change on a channel's queue (a new item playing, a paid item in place, an add observed)
triggers one direction pass: the queue decider chooses what is due (recorded in PromoChosen),
then each chosen clip is added to CyTube as a temp item (paced with the pay flow's adds),
found on the playlist by media, and moved in front of its target. A promo that is no longer
wanted (its paid item cancelled, its target gone or already playing) is taken off again.
Promos are free, so a failure only drops the promo.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence

from application.clock import Clock
from application.cytube.observing import Observer
from application.cytube.pacing import AddPacer, ChannelSignals
from application.cytube.port import Cytube, CytubeUnavailable
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.ports import EventStore
from application.log.streams import promo_config_stream, queue_stream
from application.telemetry import NullTelemetry, Telemetry
from domain.errors import Rejected
from domain.media import Media
from domain.promos.config import PromoConfig, PromoConfigState, promo_config_decider
from domain.promos.kinds import PromoType
from domain.queue.commands import ObservePlaylist
from domain.queue.decider import queue_decider
from domain.queue.promo_decide import promo_slot
from domain.queue.promo_model import DirectPromos, FailPromo, PromoInsert, StartPromoAdd
from domain.queue.state import QueueState

log = logging.getLogger(__name__)

Pools = Mapping[PromoType, tuple[Media, ...]]
PoolSource = Callable[[str], Awaitable[Pools]]


class PromoDirector:
    def __init__(
        self,
        handler: CommandHandler,
        events: EventStore,
        cytube: Cytube,
        observer: Observer,
        clock: Clock,
        pools: PoolSource,
        *,
        channels: Sequence[str],
        pacer: AddPacer,
        add_retries: int = 3,
        confirm_timeout_sec: float = 10.0,
        move_retries: int = 2,
        rng: random.Random | None = None,
        telemetry: Telemetry | None = None,
        defaults: PromoConfig | None = None,
    ) -> None:
        self._handler = handler
        self._events = events
        self._cytube = cytube
        self._observer = observer
        self._clock = clock
        self._pools = pools
        self._channels = list(channels)
        self._pacer = pacer
        self._add_retries = add_retries
        self._confirm = confirm_timeout_sec
        self._move_retries = move_retries
        self._rng = rng or random.Random()
        self._signals = ChannelSignals(clock)
        self._dirty: set[str] = set(channels)
        self._kick = asyncio.Event()
        self._kick.set()
        self._workers: dict[tuple[str, str], asyncio.Task[None]] = {}
        self.inserted = 0
        self._telemetry: Telemetry = telemetry or NullTelemetry()
        self._defaults = defaults or PromoConfig()

    async def config(self, channel: str) -> PromoConfig:
        # Woken by the shared tail: as current as it (no read when it saw nothing new).
        state: PromoConfigState = await self._handler.current(
            promo_config_decider, promo_config_stream(channel)
        )
        return state.effective(self._defaults)

    async def run(self) -> None:
        follower = asyncio.create_task(self._follow(await self._events.head()))
        try:
            while True:
                await self._kick.wait()
                self._kick.clear()
                dirty, self._dirty = self._dirty, set()
                for channel in dirty:
                    try:
                        await self.direct(channel)
                    except Exception:
                        log.exception("promo direction on %s failed", channel)
        finally:
            follower.cancel()
            for task in self._workers.values():
                task.cancel()
            await asyncio.gather(follower, *self._workers.values(), return_exceptions=True)

    async def _follow(self, after: int) -> None:
        async for stored in self._events.subscribe(after=after):
            stream = stored.commit.stream
            if stream.aggregate in ("queue", "promo_config", "playlist"):
                if stored.commit.actor != "promo-director":
                    self._dirty.add(stream.channel)
                    self._kick.set()
                self._signals.wake(stream.channel)

    async def direct(self, channel: str) -> None:
        """Choose what is due, then make sure every live promo is being placed or removed."""
        pools = await self._pools(channel)
        config = await self.config(channel)
        with contextlib.suppress(Rejected):
            await self._handler.handle(
                queue_decider,
                queue_stream(channel),
                DirectPromos(pools, config),
                CommandMeta.new("promo-director"),
                random=self._rng,
            )
        state = await self._state(channel)
        for promo in state.promos:
            if promo.placement in ("adding", "attached", "cancelled"):
                self._work(channel, promo.promo_id)

    def _work(self, channel: str, promo_id: str) -> None:
        key = (channel, promo_id)
        task = self._workers.get(key)
        if task is None or task.done():
            task = asyncio.create_task(self._place(channel, promo_id))
            self._workers[key] = task

            def forget(done: asyncio.Task[None]) -> None:
                if self._workers.get(key) is done:
                    del self._workers[key]

            task.add_done_callback(forget)

    async def _state(self, channel: str) -> QueueState:
        state: QueueState = await self._handler.current(queue_decider, queue_stream(channel))
        return state

    async def _promo(self, channel: str, promo_id: str) -> tuple[QueueState, PromoInsert | None]:
        state = await self._state(channel)
        return state, next((p for p in state.promos if p.promo_id == promo_id), None)

    async def _record(self, channel: str, command: object) -> bool:
        """True if this call appended events (False: refused, or nothing to record)."""
        with contextlib.suppress(Rejected):
            outcome = await self._handler.handle(
                queue_decider, queue_stream(channel), command, CommandMeta.new("promo-director")
            )
            return bool(outcome.events)
        return False

    async def _place(self, channel: str, promo_id: str) -> None:
        moves = 0
        while True:
            seen = self._signals.mark(channel)  # a change from here on ends the waits below
            state, promo = await self._promo(channel, promo_id)
            if promo is None or promo.placement in ("positioned", "playing", "done"):
                return
            try:
                if promo.placement == "cancelled":
                    await self._take_off(channel, state, promo)
                    return
                if promo.placement == "adding":
                    if not await self._add(channel, state, promo):
                        return
                    continue
                if moves > self._move_retries:
                    await self._record(channel, FailPromo(promo_id, "move_failed"))
                    continue
                found, follow = promo_slot(state, promo)
                item = state.by_id(promo.item_id) if promo.item_id else None
                if not found or item is None:
                    await self._signals.wait(channel, self._confirm, seen)
                    moves += 1
                    continue
                anchor = state.by_id(follow) if follow else None
                seen = self._signals.mark(channel)
                await self._cytube.move(channel, item.uid, anchor.uid if anchor else "prepend")
                moves += 1
                await self._signals.wait(channel, self._confirm, seen)
            except CytubeUnavailable as exc:
                log.warning("promo %s on %s waits: %s", promo_id, channel, exc)
                await self._clock.sleep(self._confirm)

    async def _add(self, channel: str, state: QueueState, promo: PromoInsert) -> bool:
        """True while there is more to do for this promo."""
        if promo.add_attempts > 0:
            items = await self._cytube.playlist(channel)
            if items is not None and any(i.media.key == promo.media.key for i in items):
                await self._observer.observe(
                    channel, ObservePlaylist(items, current_uid=state.now_playing_uid)
                )
                return True
        if promo.add_attempts > self._add_retries:
            await self._record(channel, FailPromo(promo.promo_id, "add_failed"))
            return True
        await self._pacer.turn(channel)
        if not await self._record(channel, StartPromoAdd(promo.promo_id)):
            # Decided again on a fresher state (another instance moved the stream: the
            # channel's owner after us), nothing was started: the add is not ours to send.
            return True
        seen = self._signals.mark(channel)
        outcome = await self._cytube.add(channel, promo.media, "end", temp=True)
        if outcome.ok:
            self.inserted += 1
            self._telemetry.promo_inserted(promo.promo_type)
            await self._signals.wait(channel, self._confirm, seen)
            return True
        if not outcome.transient:
            log.warning("CyTube refused promo %s: %s", promo.promo_id, outcome.error)
            await self._record(channel, FailPromo(promo.promo_id, "add_failed"))
        return True

    async def _take_off(self, channel: str, state: QueueState, promo: PromoInsert) -> None:
        item = state.by_id(promo.item_id) if promo.item_id else None
        if item is not None and state.now_playing != item.item_id:
            await self._cytube.delete(channel, item.uid)
