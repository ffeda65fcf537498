"""The pay flow: spend, add, move, confirm, and refund on any failure after money was taken.

It is level-triggered: for each purchase still in flight it reads the queue aggregate (rebuilt
from the log) and takes the next step that state calls for. Resuming after a crash at any point
is therefore the same as carrying on: a spend is re-sent with the same request id (the economy
answers the stored outcome), an add that may have happened is looked for on the playlist before
it is tried again (adds are not idempotent), and every outcome is recorded as an event.

Per channel, one purchase at a time goes from add to in-place, paced, so first come is first
served and CyTube gets time to validate each add.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import attrs
from attrs import frozen

from application.clock import Clock
from application.cytube.observing import Observer
from application.cytube.pacing import AddPacer, ChannelSignals
from application.cytube.port import Cytube, CytubeUnavailable
from application.log.command_handler import CommandHandler, CommandMeta, Outcome
from application.log.ports import ConcurrencyConflict, EventStore, StoreUnavailable
from application.log.streams import purchase_stream, queue_stream
from application.pay.economy import Economy, EconomyUnavailable, OutcomeUnknown, payment_key
from application.pay.rules import LengthRules
from application.tasks import cancel_and_wait
from application.telemetry import NullTelemetry, PayOutcome, Telemetry
from domain.errors import Rejected
from domain.queue.commands import ObservePlaylist
from domain.queue.decider import queue_decider
from domain.queue.pay_claim import OpenClaim, claim_decider
from domain.queue.pay_model import (
    AbandonPayItemAdd,
    AttachPayItem,
    ChoosePayItemSlot,
    FailPayItem,
    PayItem,
    RecheckPayRules,
    RecordPaymentCaptured,
    RecordPaymentDeclined,
    RecordPriceChecked,
    RecordRefund,
    RecordRefundRefused,
    RecordTopUp,
    RecordUnderpaid,
    StartPayItemAdd,
    StartPayment,
    VoidPayment,
)
from domain.queue.state import QueueState

log = logging.getLogger(__name__)
T = TypeVar("T")
#: A refund answered so: that key was never debited (a top-up that was not taken).
NOTHING_TAKEN = ("unknown_request_id", "nothing_to_refund")


@frozen
class PayFlowConfig:
    add_delay_sec: float = 2.0
    add_retries: int = 3
    confirm_timeout_sec: float = 10.0
    move_retries: int = 2
    retry_delay_sec: float = 2.0
    retry_delay_max_sec: float = 60.0


class PayFlow:
    def __init__(
        self,
        handler: CommandHandler,
        events: EventStore,
        economy: Economy,
        cytube: Cytube,
        observer: Observer,
        clock: Clock,
        *,
        channels: Sequence[str],
        config: PayFlowConfig | None = None,
        pacer: AddPacer | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._handler = handler
        self._events = events
        self._economy = economy
        self._cytube = cytube
        self._observer = observer
        self._clock = clock
        self._channels = list(channels)
        self.config = config or PayFlowConfig()
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._signals = ChannelSignals(clock)
        self._placing: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.pacer = pacer or AddPacer(clock, self.config.add_delay_sec)
        self.outcomes: dict[str, int] = defaultdict(int)
        self._telemetry: Telemetry = telemetry or NullTelemetry()
        self._rules: LengthRules | None = None

    def plug_rules(self, rules: LengthRules) -> None:
        """The channel's request rules, judged again on CyTube's length (once wired)."""
        self._rules = rules

    # ---- running -------------------------------------------------------------------------

    async def run(self) -> None:
        """Resume every purchase in flight, then follow the log for new ones."""
        head = await self._events.head()
        for channel in self._channels:
            await self.resume(channel)
        async for stored in self._events.subscribe(after=head):
            if stored.commit.stream.aggregate != "queue":
                continue
            channel = stored.commit.stream.channel
            self._signals.wake(channel)
            for event in stored.commit.events:
                request_id = getattr(event, "request_id", None)
                if request_id is not None:
                    self._ensure(channel, request_id)

    async def resume(self, channel: str) -> None:
        """Drive every purchase in flight. Read from the log itself, not the cached state:
        `run` follows the log only after the head it read first, and the cache is only as
        current as the shared tail, which may lag that head (a purchase taken by another
        instance just before this one took the lease would be in neither, and stranded)."""
        state: QueueState = await self._handler.state(queue_decider, queue_stream(channel))
        for pay in state.pay:
            if not pay.finished:
                self._ensure(channel, pay.request_id)

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks.values())
        self._tasks.clear()

    async def idle(self) -> None:
        """Wait until no purchase is being driven (for tests and orderly shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    @property
    def in_flight(self) -> int:
        """Purchases being driven right now."""
        return len(self._tasks)

    def _ensure(self, channel: str, request_id: str) -> None:
        key = (channel, request_id)
        task = self._tasks.get(key)
        if task is None or task.done():
            task = asyncio.create_task(self._drive(channel, request_id))
            self._tasks[key] = task

            def forget(done: asyncio.Task[None]) -> None:
                self._forget(key, done)

            task.add_done_callback(forget)

    def _forget(self, key: tuple[str, str], task: asyncio.Task[None]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if not task.cancelled() and task.exception() is not None:
            log.error("pay flow for %s stopped", key, exc_info=task.exception())

    async def _state(self, channel: str) -> QueueState:
        # Driven by its own appends and by the shared tail's signals: as current as the tail
        # (no read of the log when it has read nothing new on the queue).
        state: QueueState = await self._handler.current(queue_decider, queue_stream(channel))
        return state

    async def _do(
        self,
        channel: str,
        command: Any,
        key: str | None = None,
        config: dict[str, Any] | None = None,
    ) -> Outcome:
        """Record a decision. A `key` makes a retried append land once; decisions the decider
        already makes idempotent (attach, slot) go without one, so a later, different decision
        is never mistaken for a repeat."""
        # Every commit of one purchase shares its request id as correlation id.
        correlation = getattr(command, "request_id", None)
        meta = (
            CommandMeta(f"pay:{channel}:{key}", actor="pay-flow", correlation_id=correlation)
            if key
            else CommandMeta.new("pay-flow", correlation_id=correlation)
        )
        return await self._handler.handle(
            queue_decider, queue_stream(channel), command, meta, config=config
        )

    async def _wait_change(
        self, channel: str, seconds: float, since: asyncio.Event | None = None
    ) -> None:
        await self._signals.wait(channel, seconds, since)

    async def _backoff(self, attempt: int) -> None:
        delay = min(
            self.config.retry_delay_sec * 2 ** min(attempt, 10), self.config.retry_delay_max_sec
        )
        await self._clock.sleep(delay)

    # ---- one purchase --------------------------------------------------------------------

    async def _drive(self, channel: str, request_id: str) -> None:
        idle_rounds = 0
        while True:
            seen = self._signals.mark(channel)
            try:
                state = await self._state(channel)
                pay = state.pay_item(request_id)
                if pay is None:
                    # Named by a commit we followed, so it is on the log: one read of the log
                    # itself before letting it go, so that a cache behind it cannot strand it.
                    state = await self._handler.state(queue_decider, queue_stream(channel))
                    pay = state.pay_item(request_id)
                if pay is None or pay.finished:
                    return
                progressed = await self._step(channel, state, pay)
            except (
                CytubeUnavailable,
                EconomyUnavailable,
                StoreUnavailable,
                ConcurrencyConflict,
            ) as exc:
                # An unreachable log, or one too busy for the handler's retries, too: dropping
                # the purchase here would strand it (nothing drives it again until a restart),
                # with its money taken; the next round re-reads where it stands.
                log.warning("pay %s on %s waits: %s", request_id, channel, exc)
                await self._backoff(idle_rounds)
                idle_rounds += 1
                continue
            except Rejected as exc:
                # The purchase moved on underneath us (say, cancelled mid-add): look again.
                log.info("pay %s on %s: %s; re-reading", request_id, channel, exc.message)
                continue
            except Exception:
                # A fault we did not foresee must not strand money either: it is logged loudly,
                # and the purchase is tried again, more slowly each time.
                log.exception("pay %s on %s failed unexpectedly; trying again", request_id, channel)
                await self._backoff(idle_rounds)
                idle_rounds += 1
                continue
            if progressed:
                idle_rounds = 0
            elif pay.placement in ("positioned", "playing") and (
                pay.price_checked or pay.cancelled
            ):
                return  # in place and paid for: observations carry it from here
            else:
                idle_rounds += 1
                await self._wait_change(channel, self.config.confirm_timeout_sec, seen)

    async def _step(self, channel: str, state: QueueState, pay: PayItem) -> bool:
        if pay.payment == "pending":
            if not pay.spend_started:
                await self._open_claim(channel, pay.request_id)
            if pay.cancelled and not pay.spend_started:
                # Cancelled before any spend went out: none goes out now.
                await self._do(channel, VoidPayment(pay.request_id), f"{pay.request_id}:void")
                return True
            await self._settle_payment(channel, pay)
            return True
        if pay.cancelled:
            return await self._unwind(channel, state, pay)
        if pay.payment == "captured" and pay.item_id is not None and not pay.price_checked:
            await self._check_price(channel, pay)
            return True
        if pay.placement in ("waiting", "adding", "attached"):
            async with self._placing[channel]:
                return await self._place(channel, pay.request_id)
        return False

    async def _open_claim(self, channel: str, request_id: str) -> None:
        """Mark the purchase id's claim opened before any payment step (domain.queue.pay_claim):
        from here the purchase can finish and be forgotten by the queue, and its id can never
        be taken for one whose request did not reach the queue."""
        await self._handler.handle(
            claim_decider,
            purchase_stream(channel, request_id),
            OpenClaim(request_id),
            CommandMeta(
                f"claim-open:{channel}:{request_id}", actor="pay-flow", correlation_id=request_id
            ),
        )

    async def _answered(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """The economy's answer, asking again with the same request id (never a new one, never
        two at once) until it gives one: a timeout says nothing about what happened."""
        attempt = 0
        while True:
            try:
                return await call()
            except (OutcomeUnknown, EconomyUnavailable) as exc:
                log.warning("%s unresolved (%s); asking again", what, exc)
                await self._backoff(attempt)
                attempt += 1

    async def _settle_payment(self, channel: str, pay: PayItem) -> None:
        if not pay.spend_started:
            # Recorded first, decided on the latest state: a cancel that landed before it makes
            # this refused (the next round voids the purchase), one that lands after it is
            # refunded once the spend's outcome is known.
            await self._do(channel, StartPayment(pay.request_id), f"{pay.request_id}:start")
        key = payment_key(channel, pay.request_id, "spend")
        outcome = await self._answered(
            f"spend for {pay.request_id}",
            lambda: self._economy.spend(channel, pay.user, pay.priced_sec, pay.tier, key),
        )
        if outcome.ok:
            command: Any = RecordPaymentCaptured(pay.request_id, outcome.cost)
            await self._settled(channel, pay, command, "captured", "captured")
        else:
            code = outcome.error_code or "declined"
            command = RecordPaymentDeclined(pay.request_id, code, outcome.message or "")
            await self._settled(channel, pay, command, "declined", f"declined:{code}")

    async def _settled(
        self, channel: str, pay: PayItem, command: Any, outcome: PayOutcome, tally: str
    ) -> None:
        """Record how the economy answered (once, whatever retries), and count it."""
        key = "refund" if outcome in ("refunded", "refund_refused") else outcome
        await self._do(channel, command, f"{pay.request_id}:{key}")
        self.outcomes[tally] += 1
        self._telemetry.pay_outcome(outcome)

    async def _unwind(self, channel: str, state: QueueState, pay: PayItem) -> bool:
        """A cancelled purchase: take the media off the playlist, then give the money back.
        In that order: money goes back only for media that will not play. One that started
        playing before the delete landed has played, and keeps its price, with two
        exceptions: the one that started before its length was priced and could not pay it
        (`PayItem.skipping`: taken off, refunded), and one a scheduled event cut off while it
        played (`cut_off`): it did not play in full, so once it is off the air (the event's
        hard-replace takes it off) its money goes back."""
        if pay.skipping:
            return await self._skip(channel, state, pay)
        if pay.cut_off and pay.placement in ("played", "removed") and pay.payment == "captured":
            await self._refund(channel, pay)
            return True
        if pay.placement in ("playing", "played"):
            return False
        item = state.by_id(pay.item_id) if pay.item_id else None
        if pay.placement in ("attached", "positioned") and item is not None:
            seen = self._signals.mark(channel)
            await self._cytube.delete(channel, item.uid)
            await self._wait_change(channel, self.config.confirm_timeout_sec, seen)
            if (await self._state(channel)).by_id(item.item_id) is not None:
                await self._resync(channel)
            return True
        if pay.placement == "adding":
            if await self._on_playlist(channel, pay):
                return True  # now attached (the snapshot attached it): delete it next round
            await self._do(channel, AbandonPayItemAdd(pay.request_id))
            return True
        if pay.payment == "captured":
            await self._refund(channel, pay)
            return True
        return False

    async def _skip(self, channel: str, state: QueueState, pay: PayItem) -> bool:
        """A playing item that cannot pay its price: CyTube moves on (the delete starts the
        next item), and the buyer gets everything back. The refund does not wait for CyTube
        to confirm: the skip is decided, and the delete is sent again until it takes."""
        item = state.by_id(pay.item_id) if pay.item_id else None
        if item is not None:
            seen = self._signals.mark(channel)
            await self._cytube.delete(channel, item.uid)
            await self._wait_change(channel, self.config.confirm_timeout_sec, seen)
        after = (await self._state(channel)).pay_item(pay.request_id) or pay
        if after.payment == "captured":
            await self._refund(channel, after)
        elif after.skipping and item is not None:
            await self._resync(channel)  # refunded, still there: read CyTube before again
        elif item is None:
            await self._wait_change(channel, self.config.confirm_timeout_sec)
        return True

    async def _check_price(self, channel: str, pay: PayItem) -> None:
        """Price the length CyTube reported (the buyer's was only a hint): take the difference
        if it costs more, or else take the item off and give everything back. Nothing plays for
        less than its price: one that started playing before the difference could be taken is
        recorded as owing it and cancelled `underpaid` in the same decision, so the next round
        skips it and refunds it in full (`_skip`)."""
        duration = pay.media.duration_sec
        rid = pay.request_id
        if duration <= 0:  # a live stream, or a length CyTube does not know: it has no price
            await self._fail(channel, pay, "duration_unknown", "CyTube reports no length.")
            return
        if await self._breaks_rule(channel, pay):
            return  # cancelled by a length rule: the next round takes it off and refunds it
        quote = await self._answered(
            f"price for {rid}",
            lambda: self._economy.preview(channel, pay.user, duration, pay.tier),
        )
        price = quote.cost
        if price <= pay.cost:
            await self._do(channel, RecordPriceChecked(rid, duration, price), f"{rid}:price")
            return
        owed = price - pay.cost
        key = payment_key(channel, rid, "topup")
        outcome = await self._answered(
            f"top-up for {rid}",
            lambda: self._economy.top_up(channel, pay.user, owed, key),
        )
        if outcome.ok:
            command: Any = RecordTopUp(rid, outcome.cost, duration, price)
            await self._do(channel, command, f"{rid}:topup")
            self.outcomes["topped_up"] += 1
            return
        if pay.placement in ("playing", "played"):
            log.warning("%s started playing %d short of its price: skipped", rid, owed)
            await self._do(channel, RecordUnderpaid(rid, owed, duration), f"{rid}:underpaid")
            self.outcomes["underpaid"] += 1
            return
        minutes, seconds = divmod(duration, 60)
        detail = (
            f"It is {minutes}:{seconds:02d} long, which costs {price:,}; {pay.cost:,} was paid "
            f"and the difference could not be taken ({outcome.error_code or 'declined'})."
        )
        self.outcomes["underpaid"] += 1
        await self._fail(channel, pay, "underpaid", detail)

    async def _breaks_rule(self, channel: str, pay: PayItem) -> bool:
        """The length rules judged again on CyTube's length, before it is priced (the decision
        is `domain.queue.pay_rules.recheck`): one it breaks cancels it with the rule's code, and
        the refusal is recorded for the stats."""
        if self._rules is None:
            return False
        rid = pay.request_id
        config = await self._rules.recheck_config(channel, pay.user)
        outcome = await self._do(channel, RecheckPayRules(rid), f"{rid}:rules", config)
        if not outcome.events and not outcome.duplicate:
            return False
        after = (await self._state(channel)).pay_item(rid) or pay
        code = after.cancel_reason or ""
        log.info("%s breaks %s at %d s as CyTube reports it", rid, code, pay.media.duration_sec)
        self.outcomes[f"refused:{code}"] += 1
        await self._rules.refused_on_length(channel, pay.user, rid, pay.media, code)
        return True

    async def _refund(self, channel: str, pay: PayItem) -> None:
        reason = pay.cancel_reason or "cancelled"
        key = payment_key(channel, pay.request_id, "spend")
        outcome = await self._answered(
            f"refund for {pay.request_id}",
            lambda: self._economy.refund(channel, pay.user, key, reason),
        )
        if outcome.ok and (pay.top_up > 0 or (pay.item_id is not None and not pay.price_checked)):
            # A top-up may have been taken (its record lost to a crash): give it back too.
            top_key = payment_key(channel, pay.request_id, "topup")
            top = await self._answered(
                f"top-up refund for {pay.request_id}",
                lambda: self._economy.refund(channel, pay.user, top_key, reason),
            )
            if top.ok:
                outcome = attrs.evolve(outcome, refunded=outcome.refunded + top.refunded)
            elif top.error_code not in NOTHING_TAKEN or pay.top_up > 0:
                outcome = top
        if not outcome.ok:
            # Recorded as it is: the money did not go back. The purchase ends here with status
            # refund_refused for a person to settle; it is never shown as refunded.
            code = outcome.error_code or "refused"
            log.error("economy refused refund of %s: %s", pay.request_id, code)
            refused = RecordRefundRefused(pay.request_id, code, outcome.message or "")
            await self._settled(channel, pay, refused, "refund_refused", f"refund_refused:{code}")
            return
        refund = RecordRefund(pay.request_id, outcome.refunded)
        await self._settled(channel, pay, refund, "refunded", f"refunded:{pay.cancel_reason}")
        self._telemetry.refund(reason)

    async def _fail(self, channel: str, pay: PayItem, reason: str, detail: str = "") -> None:
        command = FailPayItem(pay.request_id, reason, detail)
        with contextlib.suppress(Rejected):
            await self._do(channel, command, f"{pay.request_id}:fail")

    async def _on_playlist(self, channel: str, pay: PayItem) -> bool:
        """Does CyTube hold the media? Reported as a snapshot so the shadow (and attach) follow."""
        items = await self._cytube.playlist(channel)
        if items is None:
            raise CytubeUnavailable("the playlist could not be read")
        if not any(i.media.key == pay.media.key for i in items):
            return False
        playing = await self._state(channel)
        await self._observer.record(
            channel, ObservePlaylist(items, current_uid=playing.now_playing_uid)
        )
        return True

    async def _resync(self, channel: str) -> None:
        items = await self._cytube.playlist(channel)
        if items is not None:
            state = await self._state(channel)
            with contextlib.suppress(Rejected):
                await self._observer.record(
                    channel, ObservePlaylist(items, current_uid=state.now_playing_uid)
                )

    async def _place(self, channel: str, request_id: str) -> bool:
        """Add (paced, retried) and move one purchase until it is in its slot."""
        move_attempts = 0
        while True:
            state = await self._state(channel)
            pay = state.pay_item(request_id)
            if pay is None or pay.cancelled or pay.payment != "captured":
                return True
            if pay.placement in ("positioned", "playing", "played", "removed"):
                return True
            if pay.placement == "attached":
                if not pay.price_checked:
                    return True  # priced at CyTube's length before it is moved into place
                if move_attempts > self.config.move_retries:
                    await self._resync(channel)
                    after = (await self._state(channel)).pay_item(request_id)
                    if after is not None and after.placement == "attached":
                        await self._fail(channel, pay, "move_failed")
                    return True
                await self._move(channel, state, pay)
                move_attempts += 1
                continue
            if state.now_playing is None:
                if state.items:
                    return False  # between two items: the next setCurrent is on its way
                await self._fail(channel, pay, "no_now_playing")
                return True
            if any(i.media.key == pay.media.key and i.request_id is None for i in state.items):
                await self._do(channel, AttachPayItem(pay.request_id))
                continue
            if pay.placement == "adding" and await self._on_playlist(channel, pay):
                continue
            if pay.add_attempts > self.config.add_retries:
                await self._fail(channel, pay, "add_failed")
                return True
            await self._add(channel, pay)

    async def _add(self, channel: str, pay: PayItem) -> None:
        await self.pacer.turn(channel)
        started = await self._do(
            channel, StartPayItemAdd(pay.request_id), f"{pay.request_id}:add:{pay.add_attempts + 1}"
        )
        if started.duplicate:
            # This attempt is in the log already: an earlier run of ours, or another instance
            # (the channel's owner before or after us) decided it from a state we had not seen,
            # and may have sent it. Never send it again: the next round looks on the playlist.
            return
        outcome = await self._cytube.add(channel, pay.media, "end", temp=True)
        if outcome.ok:
            for _ in range(3):
                seen = self._signals.mark(channel)
                state = await self._state(channel)
                now = state.pay_item(pay.request_id)
                if now is not None and now.placement != "adding":
                    return
                await self._wait_change(channel, self.config.confirm_timeout_sec / 3, seen)
            return  # not seen yet: the next round looks on the playlist
        if not outcome.transient:
            log.warning("CyTube refused %s: %s", pay.request_id, outcome.error)
            await self._fail(channel, pay, "add_failed", outcome.error or "")
        # transient: the next round retries, paced, within the budget

    async def _move(self, channel: str, state: QueueState, pay: PayItem) -> None:
        await self._do(
            channel,
            ChoosePayItemSlot(pay.request_id),
            f"{pay.request_id}:slot:{len(state.items)}:{state.now_playing}",
        )
        state = await self._state(channel)
        pay = state.pay_item(pay.request_id) or pay
        if pay.placement != "attached" or pay.item_id is None:
            return
        item = state.by_id(pay.item_id)
        anchor = state.by_id(pay.slot_after) if pay.slot_after else None
        if item is None:
            return
        seen = self._signals.mark(channel)
        await self._cytube.move(channel, item.uid, anchor.uid if anchor else "prepend")
        await self._wait_change(channel, self.config.confirm_timeout_sec, seen)
