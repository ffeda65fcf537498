"""How pay facts fold into the queue state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from attrs import evolve as replace

from domain.queue.pay_model import (
    AwayWindow,
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
    PayItems,
    PayItemSlotChosen,
    PayItemUnderpaid,
    PaymentCaptured,
    PaymentDeclined,
    PaymentStarted,
    PaymentToppedUp,
    PaymentVoided,
    PayOwnerAway,
    PayOwnerBack,
    QueueLock,
    QueueLocked,
    QueueUnlocked,
    ScheduleLock,
    ScheduleLockLifted,
    ScheduleLockSet,
)

if TYPE_CHECKING:
    from domain.queue.state import QueueState

#: Finished purchases kept in the aggregate (for idempotency and status); the pay ledger
#: projection keeps them all.
KEEP_FINISHED = 200


def _update(state: QueueState, request_id: str, **changes: Any) -> QueueState:
    """Change the purchase `request_id`, then drop the oldest finished purchases beyond
    `KEEP_FINISHED`. With an indexed tuple (`PayItems`) this finds the purchase by its request
    id and counts finished purchases by the one that changed, so it looks at every purchase
    only when one must be dropped; any other tuple takes the plain scan once and is indexed."""
    pay = state.pay
    if isinstance(pay, PayItems):
        i = pay.positions.get(request_id)
        if i is not None:
            old = pay[i]
            new = replace(old, **changes)
            items = (*pay[:i], new, *pay[i + 1 :])
            finished = pay.finished_count - old.finished + new.finished
            if finished <= KEEP_FINISHED:
                return replace(state, pay=PayItems.known(items, pay.positions, finished))
            return replace(state, pay=_drop_oldest_finished(items, finished - KEEP_FINISHED))
        if pay.finished_count <= KEEP_FINISHED:
            return state  # no such purchase, and nothing to drop
    return replace(state, pay=PayItems.of(_scan_update(pay, request_id, changes)))


def _drop_oldest_finished(items: tuple[PayItem, ...], excess: int) -> tuple[PayItem, ...]:
    """`items` without its first `excess` finished purchases (request ids are unique)."""
    kept: list[PayItem] = []
    for n, p in enumerate(items):
        if excess and p.finished:
            excess -= 1
            if not excess:
                kept.extend(items[n + 1 :])
                break
            continue
        kept.append(p)
    return PayItems.of(kept)


def _scan_update(
    pay: tuple[PayItem, ...], request_id: str, changes: dict[str, Any]
) -> tuple[PayItem, ...]:
    """The same change by a scan of every purchase (for a tuple that has no index)."""
    pay = tuple(replace(p, **changes) if p.request_id == request_id else p for p in pay)
    finished = [p for p in pay if p.finished]
    if len(finished) > KEEP_FINISHED:
        drop = {p.request_id for p in finished[: len(finished) - KEEP_FINISHED]}
        pay = tuple(p for p in pay if p.request_id not in drop)
    return pay


def _requested(pay: tuple[PayItem, ...], item: PayItem) -> tuple[PayItem, ...]:
    if isinstance(pay, PayItems) and item.request_id not in pay.positions:
        index = {**pay.positions, item.request_id: len(pay)}
        return PayItems.known((*pay, item), index, pay.finished_count + item.finished)
    return PayItems.of((*pay, item))


def pay_changes(event: object) -> dict[str, Any] | None:
    """The purchase fields a pay fact sets, for the facts that only set fields; None for any
    other fact. One table for both folds: `evolve_pay` here, and the rebuild's in-place
    `QueueBuilder` (two copies of it drifted apart once: a cut-off purchase read `played`)."""
    match event:
        case PaymentStarted():
            return {"spend_started": True}
        case PaymentVoided():
            return {"payment": "void"}
        case PayItemPriceChecked():
            return {"price_checked": True}
        case PayItemUnderpaid():
            return {"price_checked": True, "owed": event.owed}
        case PayItemRefundRefused():
            return {"payment": "refund_refused"}
        case PaymentCaptured():
            return {"payment": "captured", "cost": event.cost}
        case PaymentDeclined():
            return {"payment": "declined", "decline_code": event.code}
        case PayItemAddStarted():
            return {"placement": "adding", "add_attempts": event.attempt}
        case PayItemSlotChosen():
            return {"slot_after": event.after_item_id, "slot_chosen": True}
        case PayItemPositioned():
            return {"placement": "positioned"}
        case PayItemPlaying():
            return {"placement": "playing"}
        case PayItemPlayed():
            return {"placement": "played"}
        case PayItemRemoved():
            return {"placement": "removed"}
        case PayItemCancelled():
            if event.cut_off:
                return {"cancel_reason": event.reason, "cut_off": True}
            return {"cancel_reason": event.reason}
        case PayItemRefunded():
            return {"payment": "refunded", "refunded": event.amount}
    return None


def evolve_pay(state: QueueState, event: object) -> QueueState:
    changes = pay_changes(event)
    if changes is not None:
        return _update(state, event.request_id, **changes)  # type: ignore[attr-defined]
    match event:
        case PayItemRequested():
            item = PayItem(
                event.request_id,
                event.user,
                event.media,
                event.tier,
                event.at,
                priced_sec=event.media.duration_sec,
            )
            return replace(state, pay=_requested(state.pay, item))
        case PaymentToppedUp():
            pay = state.pay_item(event.request_id)
            if pay is None:
                return state
            return _update(
                state,
                event.request_id,
                cost=pay.cost + event.amount,
                top_up=pay.top_up + event.amount,
            )
        case PayItemAttached():
            landed = next((i for i in state.items if i.item_id == event.item_id), None)
            pay = state.pay_item(event.request_id)
            # From here the purchase's title and length are CyTube's, not the buyer's.
            media = landed.media if landed is not None else (pay.media if pay else None)
            state = replace(
                state,
                items=tuple(
                    replace(i, kind="pay", request_id=event.request_id)
                    if i.item_id == event.item_id
                    else i
                    for i in state.items
                ),
            )
            if media is None or pay is None:
                return _update(state, event.request_id, placement="attached", item_id=event.item_id)
            return _update(
                state, event.request_id, placement="attached", item_id=event.item_id, media=media
            )
        case PayOwnerAway():
            window = AwayWindow(event.user, event.reason, event.since, event.deadline)
            others = tuple(w for w in state.away if w.user.lower() != event.user.lower())
            return replace(state, away=(*others, window))
        case PayOwnerBack():
            return replace(
                state, away=tuple(w for w in state.away if w.user.lower() != event.user.lower())
            )
        case QueueLocked():
            return replace(state, lock=QueueLock(event.label, event.until, event.by))
        case QueueUnlocked():
            return replace(state, lock=None)
        case ScheduleLockSet():
            held = ScheduleLock(
                event.schedule_id,
                event.kind,
                event.label,
                event.starts_at,
                event.fire_at,
                event.estimated_end_at,
                event.by,
            )
            return replace(state, schedule_lock=held)
        case ScheduleLockLifted():
            return replace(state, schedule_lock=None)
    return state
