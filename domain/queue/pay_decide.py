"""decide() for purchases, and the pay facts that follow from what CyTube reports.

The flow (a process manager) only acts and records outcomes; the lifecycle steps that follow
from observations (attached, positioned, playing, played, removed) are decided here, in the same
decision as the observation, so the log can never say "paid item played" without the play.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from domain.decider import Context
from domain.errors import Rejected
from domain.media import validate_media
from domain.queue.lock import lock_details, lock_message
from domain.queue.pay_model import (
    CUT_OFF_REASONS,
    UNDERPAID,
    AbandonPayItemAdd,
    AttachPayItem,
    CancelPayItem,
    ChoosePayItemSlot,
    CutOffPayItem,
    FailPayItem,
    LiftScheduleLock,
    LockQueue,
    NoteOwnerAway,
    NoteOwnerBack,
    PayCommand,
    PayEvent,
    PayItem,
    PayItemAddStarted,
    PayItemAttached,
    PayItemCancelled,
    PayItemPlayed,
    PayItemPlaying,
    PayItemPositioned,
    PayItemPriceChecked,
    PayItemRefunded,
    PayItemRefundRefused,
    PayItemRemoved,
    PayItemRequested,
    PayItemSlotChosen,
    PayItemUnderpaid,
    PaymentCaptured,
    PaymentDeclined,
    PaymentStarted,
    PaymentToppedUp,
    PaymentVoided,
    PayOwnerAway,
    PayOwnerBack,
    QueueLocked,
    QueueUnlocked,
    RecheckPayRules,
    RecordPaymentCaptured,
    RecordPaymentDeclined,
    RecordPriceChecked,
    RecordRefund,
    RecordRefundRefused,
    RecordTopUp,
    RecordUnderpaid,
    RequestPayItem,
    ScheduleLockLifted,
    ScheduleLockSet,
    SetScheduleLock,
    StartPayItemAdd,
    StartPayment,
    UnlockQueue,
    VoidPayment,
)
from domain.queue.pay_rules import check as check_rules
from domain.queue.pay_rules import fair_slot, recheck
from domain.queue.promo_decide import promo_facts
from domain.queue.promo_model import PromoEvent
from domain.queue.state import QueueItem, QueueState, evolve

MAX_USER = 100


def choose_slot(state: QueueState, pay: PayItem) -> str | None:
    """`playnext`: right after now playing (so stacked ones play newest first). `queue`: after
    the last paid item already in place, else right after now playing (first come, first
    served), or round-robin between buyers when the channel's rules ask for a fair order."""
    if pay.tier == "queue" and state.fair_order:
        return fair_slot(state, pay)
    if pay.tier == "queue":
        anchors = {
            p.item_id
            for p in state.pay
            if p.request_id != pay.request_id and p.placement == "positioned" and not p.cancelled
        }
        last = None
        for item in state.upcoming():
            if item.item_id in anchors:
                last = item.item_id
        if last is not None:
            return last
    return state.now_playing


def _known(state: QueueState, request_id: str) -> PayItem:
    pay = state.pay_item(request_id)
    if pay is None:
        raise Rejected("unknown_request", f"No purchase with request id {request_id!r}.")
    return pay


SCHEDULE_LOCK_KINDS = ("pre_fire", "event")


def _request(state: QueueState, cmd: RequestPayItem, ctx: Context) -> tuple[PayEvent, ...]:
    held = state.pay_item(cmd.request_id)
    if held is not None:
        if (held.user, held.media.key, held.tier) == (cmd.user, cmd.media.key, cmd.tier):
            return ()
        raise Rejected("duplicate_request", "That request id was already used for another item.")
    if not cmd.request_id or len(cmd.request_id) > 100:
        raise Rejected("invalid_request_id", "A request id must be 1 to 100 characters.")
    if not cmd.user.strip() or len(cmd.user) > MAX_USER:
        raise Rejected("invalid_user", f"User name must be 1 to {MAX_USER} characters.")
    validate_media(cmd.media)
    if cmd.media.duration_sec <= 0:
        raise Rejected(
            "duration_unknown",
            "This media has no known length, so it has no price: give duration_sec as a hint.",
        )
    closed = lock_message(state, ctx.now)
    if closed is not None:
        raise Rejected("queue_locked", closed, lock_details(state, ctx.now))
    if state.now_playing is None and state.now_playing_uid is None and not state.items:
        # Between two items (CyTube deletes a finished temp item before it names the next)
        # nothing is playing for a moment; only an empty playlist means there is no queue.
        raise Rejected("nothing_playing", "Nothing is playing, so there is no queue to join.")
    not_payable = ctx.config.get("non_payable_media", frozenset())
    if cmd.media.key in not_payable:
        raise Rejected(
            "media_not_payable", "This media belongs to the channel and cannot be bought."
        )
    if any(p.media.key == cmd.media.key and p.pending for p in state.pay):  # cheap test first
        raise Rejected(
            "media_already_pending", "Someone already paid for this media; it is queued."
        )
    if any(i.media.key == cmd.media.key for i in state.items):
        raise Rejected("media_on_playlist", "This media is already on the playlist.")
    check_rules(state, cmd, ctx)  # the channel's request rules (domain/queue/pay_rules.py)
    return (PayItemRequested(cmd.request_id, cmd.user, cmd.media, cmd.tier, ctx.now),)


def _attach(state: QueueState, pay: PayItem, uid: int | None) -> tuple[PayEvent, ...]:
    if pay.item_id is not None and pay.placement != "removed":
        return ()
    candidates = [i for i in state.items if i.media.key == pay.media.key and i.request_id is None]
    if not candidates:
        raise Rejected("not_on_playlist", "The media is not on the playlist (yet).")
    chosen = next((i for i in candidates if i.uid == uid), candidates[-1])
    return (PayItemAttached(pay.request_id, chosen.item_id, chosen.uid),)


def decide_pay(state: QueueState, cmd: PayCommand, ctx: Context) -> tuple[PayEvent, ...]:
    match cmd:
        case RequestPayItem():
            return _request(state, cmd, ctx)
        case LockQueue():
            if not cmd.label.strip():
                raise Rejected("invalid_lock", "A lock needs a label saying what it is for.")
            if cmd.until is not None and cmd.until <= ctx.now:
                raise Rejected("invalid_lock", "A lock must end in the future.")
            return (QueueLocked(cmd.label, cmd.until, cmd.by),)
        case UnlockQueue():
            return () if state.lock is None else (QueueUnlocked(cmd.by),)
        case SetScheduleLock():
            if cmd.kind not in SCHEDULE_LOCK_KINDS or not cmd.label.strip():
                raise Rejected("invalid_lock", "A schedule lock is pre_fire or event, labelled.")
            wanted = ScheduleLockSet(
                cmd.schedule_id,
                cmd.kind,
                cmd.label,
                cmd.starts_at,
                cmd.fire_at,
                cmd.estimated_end_at,
                cmd.by,
            )
            sched_lock = state.schedule_lock
            if sched_lock is not None and (
                sched_lock.schedule_id,
                sched_lock.kind,
                sched_lock.label,
                sched_lock.starts_at,
                sched_lock.fire_at,
                sched_lock.estimated_end_at,
            ) == (
                cmd.schedule_id,
                cmd.kind,
                cmd.label,
                cmd.starts_at,
                cmd.fire_at,
                cmd.estimated_end_at,
            ):
                return ()
            return (wanted,)
        case LiftScheduleLock():
            sched_lock = state.schedule_lock
            if sched_lock is None or (
                cmd.schedule_id is not None and sched_lock.schedule_id != cmd.schedule_id
            ):
                return ()
            return (ScheduleLockLifted(sched_lock.schedule_id, cmd.reason, cmd.by),)
        case NoteOwnerAway():
            held = state.away_window(cmd.user)
            if held is not None and (held.reason, held.since) == (cmd.reason, cmd.since):
                return ()
            return (PayOwnerAway(cmd.user, cmd.reason, cmd.since, cmd.deadline),)
        case NoteOwnerBack():
            return () if state.away_window(cmd.user) is None else (PayOwnerBack(cmd.user),)
    pay = _known(state, cmd.request_id)
    match cmd:
        case StartPayment():
            if pay.payment != "pending" or pay.spend_started:
                return ()
            if pay.cancelled:
                raise Rejected("cancelled", "It was cancelled before it was paid for.")
            return (PaymentStarted(pay.request_id),)
        case VoidPayment():
            if pay.payment == "void":
                return ()
            if not pay.cancelled or pay.payment != "pending" or pay.spend_started:
                raise Rejected("not_voidable", f"Purchase {pay.request_id} is {pay.status}.")
            return (PaymentVoided(pay.request_id),)
        case RecordPriceChecked():
            if pay.price_checked:
                return ()
            if pay.payment != "captured":
                raise Rejected("not_captured", f"Purchase {pay.request_id} is {pay.status}.")
            if cmd.price > pay.cost:
                raise Rejected("underpaid", f"It costs {cmd.price}; {pay.cost} was taken.")
            return (PayItemPriceChecked(pay.request_id, cmd.duration_sec, cmd.price),)
        case RecordTopUp():
            if pay.price_checked:
                return ()
            if pay.payment != "captured":
                raise Rejected("not_captured", f"Purchase {pay.request_id} is {pay.status}.")
            if cmd.amount <= 0 or pay.cost + cmd.amount < cmd.price:
                raise Rejected("invalid_cost", "A top-up must make up the whole difference.")
            return (
                PaymentToppedUp(pay.request_id, cmd.amount),
                PayItemPriceChecked(pay.request_id, cmd.duration_sec, cmd.price),
            )
        case RecordUnderpaid():
            if pay.price_checked:
                return ()
            if pay.placement not in ("playing", "played"):
                raise Rejected("not_playing", "An underpaid item that is not playing is removed.")
            if cmd.owed <= 0:
                raise Rejected("invalid_cost", "An underpaid item owes something.")
            owing = PayItemUnderpaid(pay.request_id, cmd.owed, cmd.duration_sec)
            if pay.placement == "played" or pay.cancelled or pay.payment != "captured":
                return (owing,)  # too late to undo (or being undone already): recorded only
            # Just started, never priced: skipped and refunded in full (the one playing item
            # that is; see PayItem.skipping). Nothing plays for less than its price.
            minutes, seconds = divmod(cmd.duration_sec, 60)
            detail = (
                f"It is {minutes}:{seconds:02d} long and costs {pay.cost + cmd.owed:,}; "
                f"{pay.cost:,} was paid and the difference could not be taken."
            )
            return (owing, PayItemCancelled(pay.request_id, UNDERPAID, "webqueue", detail))
        case RecheckPayRules():
            return _recheck(state, pay, ctx)
        case RecordPaymentCaptured():
            if pay.payment == "pending":
                if cmd.cost < 0:
                    raise Rejected("invalid_cost", "A cost cannot be negative.")
                return (PaymentCaptured(pay.request_id, cmd.cost),)
            if pay.payment == "declined":
                raise Rejected("payment_conflict", "This purchase was already declined.")
            return ()
        case RecordPaymentDeclined():
            if pay.payment == "pending":
                return (PaymentDeclined(pay.request_id, cmd.code, cmd.message),)
            if pay.payment == "declined":
                return ()
            raise Rejected("payment_conflict", "This purchase was already paid.")
        case StartPayItemAdd():
            if (
                pay.payment != "captured"
                or pay.cancelled
                or pay.placement not in ("waiting", "adding")
            ):
                raise Rejected("not_addable", f"Purchase {pay.request_id} is {pay.status}.")
            return (PayItemAddStarted(pay.request_id, pay.add_attempts + 1),)
        case AttachPayItem():
            return _attach(state, pay, cmd.uid)
        case AbandonPayItemAdd():
            if pay.placement != "adding" or not pay.cancelled:
                return ()
            if any(i.media.key == pay.media.key and i.request_id is None for i in state.items):
                raise Rejected("on_playlist", "The media is on the playlist; attach it first.")
            return (PayItemRemoved(pay.request_id, "not_added"),)
        case ChoosePayItemSlot():
            if pay.placement != "attached" or pay.cancelled:
                return ()
            slot = choose_slot(state, pay)
            if pay.slot_chosen and slot == pay.slot_after:
                return ()
            return (PayItemSlotChosen(pay.request_id, slot),)
        case FailPayItem() | CancelPayItem():
            by = cmd.by if isinstance(cmd, CancelPayItem) else "webqueue"
            if pay.cancelled or pay.payment == "declined":
                return ()
            if pay.placement == "playing":
                raise Rejected(
                    "already_playing", "It is playing now; a playing item is never cancelled."
                )
            if pay.placement == "played":
                raise Rejected("already_played", "It has already played.")
            detail = cmd.detail[:500] if isinstance(cmd, FailPayItem) else ""
            return (PayItemCancelled(pay.request_id, cmd.reason, by, detail),)
        case CutOffPayItem():
            if pay.cut_off:
                return ()
            if cmd.reason not in CUT_OFF_REASONS:
                raise Rejected(
                    "not_cut_off", "Only a scheduled event's hard-replace cuts off a playing item."
                )
            # Playing now; or displaced by the event already and started by its own delete of
            # what played before it (the cancel lost that race), then taken off by it.
            late = pay.placement == "played" and pay.cancel_reason in CUT_OFF_REASONS
            if pay.placement != "playing" and not late:
                raise Rejected("not_playing", f"Purchase {pay.request_id} is not playing.")
            if pay.payment != "captured":
                raise Rejected("not_refundable", f"Purchase {pay.request_id} is {pay.status}.")
            return (PayItemCancelled(pay.request_id, cmd.reason, cmd.by, cut_off=True),)
        case RecordRefund():
            if pay.payment == "refunded":
                return ()
            if pay.placement in ("playing", "played") and not (pay.cut_off or pay.skipping):
                raise Rejected("already_played", "It played, so it is not refunded.")
            if not pay.cancelled or pay.payment != "captured":
                raise Rejected("not_refundable", f"Purchase {pay.request_id} is {pay.status}.")
            return (PayItemRefunded(pay.request_id, cmd.amount, pay.cancel_reason or ""),)
        case RecordRefundRefused():
            if pay.refund_answered:
                return ()
            if not pay.cancelled or pay.payment != "captured":
                raise Rejected("not_refundable", f"Purchase {pay.request_id} is {pay.status}.")
            reason = pay.cancel_reason or ""
            return (PayItemRefundRefused(pay.request_id, reason, cmd.code, cmd.message),)
    raise Rejected("unknown_command", f"The queue does not handle {type(cmd).__name__}.")


def _recheck(state: QueueState, pay: PayItem, ctx: Context) -> tuple[PayEvent, ...]:
    """The length rules on CyTube's length (the buyer's was only a hint): a breach cancels the
    purchase with the rule's code and says why, so it is taken off and refunded in full; one
    that started playing already is skipped (`PayItem.skipping`). Judged once, before the price
    check: one that was priced, played or is being undone already is left as it is."""
    if pay.price_checked or pay.cancelled or pay.payment != "captured" or pay.item_id is None:
        return ()
    if pay.placement not in ("attached", "positioned", "playing"):
        return ()
    refusal = recheck(state, pay, ctx)
    if refusal is None:
        return ()
    return (PayItemCancelled(pay.request_id, refusal.code, "webqueue", refusal.message),)


def _in_place(
    state: QueueState, places: Mapping[str, int], item_id: str, after: str | None
) -> bool:
    index = places.get(item_id)
    if index is None:
        return False
    if after is None:
        return index == 0
    return index > 0 and state.items[index - 1].item_id == after


def follow_ups(state: QueueState, events: Sequence[object]) -> tuple[PayEvent | PromoEvent, ...]:
    """Pay and promo facts implied by `events` applied to `state`, until nothing more follows."""
    out: list[PayEvent | PromoEvent] = []
    for event in events:
        state = evolve(state, event)  # type: ignore[arg-type]
    for _ in range(6):  # attach -> slot -> positioned -> playing settles within a few rounds
        step: list[object] = [*_next_facts(state), *promo_facts(state)]
        if not step:
            break
        for event in step:
            state = evolve(state, event)  # type: ignore[arg-type]
        out.extend(step)  # type: ignore[arg-type]
    return tuple(out)


def _next_facts(state: QueueState) -> list[PayEvent]:
    facts: list[PayEvent] = []
    by_id: dict[str, QueueItem] = {i.item_id: i for i in state.items}
    # Each item's place, found once for every purchase waiting to be in place: a scan per
    # purchase made each decision cost (purchases waiting) x (playlist length), the largest
    # part of a busy channel's CPU (bench_workers, 400 purchases).
    places: dict[str, int] | None = None
    for pay in state.pay:
        item = by_id.get(pay.item_id) if pay.item_id else None
        if pay.placement in ("attached", "positioned", "playing") and item is None:
            if pay.skipping:  # taken off as underpaid or by a rule (the flow, or CyTube moved on)
                why = "skipped_underpaid" if pay.cancel_reason == UNDERPAID else "skipped_by_rule"
                facts.append(PayItemRemoved(pay.request_id, why))
            elif pay.placement == "playing":
                facts.append(PayItemPlayed(pay.request_id))
            else:
                facts.append(PayItemRemoved(pay.request_id, "gone_from_playlist"))
                if not pay.cancelled:
                    facts.append(PayItemCancelled(pay.request_id, "removed_in_cytube", "cytube"))
            continue
        if pay.skipping:
            continue  # still on the playlist: the flow deletes it; removed once it is gone
        if pay.placement == "playing" and state.now_playing != pay.item_id:
            facts.append(PayItemPlayed(pay.request_id))
        elif pay.placement in ("attached", "positioned") and state.now_playing == pay.item_id:
            facts.append(PayItemPlaying(pay.request_id))
        elif pay.placement == "attached" and not pay.cancelled:
            if not pay.slot_chosen:
                facts.append(PayItemSlotChosen(pay.request_id, choose_slot(state, pay)))
            elif pay.item_id is not None:
                if places is None:
                    places = {i.item_id: k for k, i in enumerate(state.items)}
                if _in_place(state, places, pay.item_id, pay.slot_after):
                    facts.append(PayItemPositioned(pay.request_id))
        elif pay.placement == "adding" and pay.item_id is None:
            # attached even when cancelled meanwhile: the flow must then take it off again
            match = [
                i for i in state.items if i.media.key == pay.media.key and i.request_id is None
            ]
            if match:
                facts.append(PayItemAttached(pay.request_id, match[-1].item_id, match[-1].uid))
    return facts
