"""Refunds payers who leave or go AFK, after a grace period: the presence refund monitor.

Presence is observed (joins, leaves, AFK changes are facts in the log); the monitor only looks
an owner up through CyTube when presence knows nothing of them, and a failed lookup is
inconclusive: no clock starts. Grace windows and cancellations are recorded in the queue log,
so a restart keeps every deadline. The pay flow does the refund and the delete.

The buyer is told by PM once the purchase is over (item off the playlist, money answered), and
only if they are in the channel then: CyTube refuses a PM to someone who left, while the robot
still answers success. The notice waits in memory, so a restart in between loses it (at most
once, never twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime

from application.clock import Clock
from application.cytube.observing import Observer
from application.cytube.port import Cytube, CytubeUnavailable
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.ports import ConcurrencyConflict, EventStore, StoreUnavailable
from application.log.streams import presence_stream, queue_stream
from domain.errors import Rejected
from domain.presence.model import (
    ObserveUserJoined,
    ObserveUserLeft,
    Presence,
    PresenceState,
    presence_decider,
)
from domain.queue.decider import queue_decider
from domain.queue.pay_model import CancelPayItem
from domain.queue.presence_policy import (
    CancelForAbsence,
    OwnerGone,
    OwnerHere,
    OwnerStatus,
    PresenceRefundConfig,
    decide_presence,
    owners_at_stake,
)
from domain.queue.state import QueueState

log = logging.getLogger(__name__)

RETRY_SEC = 0.5  # after a round lost to the log or to a concurrent writer

MESSAGES = {
    "owner_left": "You left the channel, so your queued item was cancelled and refunded.",
    "owner_afk": "You were away (AFK), so your queued item was cancelled and refunded.",
}


class PresenceMonitor:
    def __init__(
        self,
        handler: CommandHandler,
        events: EventStore,
        cytube: Cytube,
        observer: Observer,
        clock: Clock,
        *,
        channels: Sequence[str],
        config: PresenceRefundConfig | None = None,
    ) -> None:
        self._handler = handler
        self._events = events
        self._cytube = cytube
        self._observer = observer
        self._clock = clock
        self._channels = list(channels)
        self.config = config or PresenceRefundConfig()
        self._changed = asyncio.Event()
        # (channel, request id) -> (name as written, reason): PMs owed once the item is gone.
        self._notices: dict[tuple[str, str], tuple[str, str]] = {}
        self.cancelled = 0
        self.started = 0
        self.evaluations = 0

    async def run(self) -> None:
        if not self.config.enabled:
            return
        follower = asyncio.create_task(self._follow(await self._events.head()))
        try:
            while True:
                self._changed.clear()
                self.started += 1
                wake_at: datetime | None = None
                for channel in self._channels:
                    try:
                        deadline = await self.evaluate(channel)
                    except (StoreUnavailable, ConcurrencyConflict, Rejected) as exc:
                        # Give up this round, not the monitor: the next change (once the log
                        # is back) or the periodic check evaluates again.
                        log.warning("presence check on %s waits: %s", channel, exc)
                        # Soon (in real time), not only at the next change or periodic check.
                        asyncio.get_running_loop().call_later(RETRY_SEC, self._changed.set)
                        continue
                    except Exception:
                        # A bug in one evaluation must not end refunds for good.
                        log.exception("presence check on %s failed", channel)
                        continue
                    if deadline is not None and (wake_at is None or deadline < wake_at):
                        wake_at = deadline
                self.evaluations += 1
                await self._wait(wake_at)
        finally:
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)

    def poke(self) -> None:
        """Evaluate now rather than at the next change, deadline or periodic check."""
        self._changed.set()

    async def _follow(self, after: int) -> None:
        async for stored in self._events.subscribe(after=after):
            if stored.commit.stream.aggregate in ("queue", "presence"):
                self._changed.set()

    async def _wait(self, wake_at: datetime | None) -> None:
        seconds = self.config.check_interval_seconds
        if wake_at is not None:
            seconds = max(0.0, min(seconds, (wake_at - self._clock.now()).total_seconds()))
        changed = asyncio.ensure_future(self._changed.wait())
        timer = asyncio.ensure_future(self._clock.sleep(seconds))
        try:
            await asyncio.wait({changed, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for f in (changed, timer):
                f.cancel()
            await asyncio.gather(changed, timer, return_exceptions=True)

    async def evaluate(self, channel: str) -> datetime | None:
        """Apply the policy once; returns the next grace deadline, if any."""
        # Woken by the shared tail (or a deadline): as current as it, without a read of the log
        # when the tail has seen nothing new on the stream.
        queue: QueueState = await self._handler.current(queue_decider, queue_stream(channel))
        await self._notify(channel, queue)
        at_stake = owners_at_stake(queue)
        if not at_stake and not queue.away:
            return None
        # Keys are lowercased; CyTube (and the robot's lookup) want the name as written.
        names = {pay.user.lower(): pay.user for pay in queue.pay}
        owners = {user: await self._status(channel, names[user]) for user in at_stake}
        now = self._clock.now()
        for decision in decide_presence(queue, owners, now, self.config, at_stake):
            if isinstance(decision, CancelForAbsence):
                await self._cancel(channel, decision, names.get(decision.user, decision.user))
            else:
                await self._handler.handle(
                    queue_decider, queue_stream(channel), decision, CommandMeta.new("presence")
                )
        queue = await self._handler.current(queue_decider, queue_stream(channel))
        deadlines = [w.deadline for w in queue.away if w.deadline > now]
        return min(deadlines, default=None)

    async def _status(self, channel: str, user: str) -> OwnerStatus:
        presence: PresenceState = await self._handler.current(
            presence_decider, presence_stream(channel)
        )
        status = presence.status(user)
        if status is None:
            status = await self._look_up(channel, user)
        if isinstance(status, Presence):
            return OwnerHere(status.afk, status.since)
        if isinstance(status, datetime):
            return OwnerGone(status)
        return None

    async def _look_up(self, channel: str, user: str) -> Presence | datetime | None:
        """Presence knows nothing of them (a restart, missed events): ask CyTube once."""
        try:
            found = await self._cytube.user(channel, user)
        except CytubeUnavailable as exc:
            log.info("presence of %s on %s is inconclusive: %s", user, channel, exc)
            return None
        observation = ObserveUserJoined(found) if found else ObserveUserLeft(user)
        with contextlib.suppress(Rejected):
            await self._observer.record(channel, observation)
        presence: PresenceState = await self._handler.state(  # read back what was recorded
            presence_decider, presence_stream(channel)
        )
        return presence.status(user)

    async def _cancel(self, channel: str, decision: CancelForAbsence, name: str) -> None:
        cancelled = 0
        for request_id in decision.request_ids:
            try:
                outcome = await self._handler.handle(
                    queue_decider,
                    queue_stream(channel),
                    CancelPayItem(request_id, decision.reason, "presence"),
                    CommandMeta.new("presence"),
                )
            except Rejected as exc:  # it started playing meanwhile: exempt
                log.info("kept %s: %s", request_id, exc.message)
                continue
            if outcome.events:
                cancelled += 1
                if self.config.notify_user:
                    self._notices[(channel, request_id)] = (name, decision.reason)
        self.cancelled += cancelled

    async def _notify(self, channel: str, queue: QueueState) -> None:
        """Tell buyers whose cancelled purchase is now over, if they are here to read it."""
        owed = [key for key in self._notices if key[0] == channel]
        if not owed:
            return
        presence: PresenceState = await self._handler.current(
            presence_decider, presence_stream(channel)
        )
        told: set[str] = set()
        for key in owed:
            pay = queue.pay_item(key[1])
            if pay is not None and not pay.finished:
                continue  # still on the playlist, or the refund not answered yet
            name, reason = self._notices.pop(key)
            if pay is None or pay.payment != "refunded" or name.lower() in told:
                continue
            if not isinstance(presence.status(name), Presence):
                log.info("not telling %s (%s): not in the channel", name, reason)
                continue
            told.add(name.lower())
            try:
                await self._cytube.pm(channel, name, MESSAGES[reason])
            except CytubeUnavailable as exc:
                log.info("could not tell %s: %s", name, exc)
