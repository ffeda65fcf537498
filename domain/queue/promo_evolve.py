"""How promo facts fold into the queue state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from attrs import evolve as replace

from domain.queue.promo_model import (
    PROMO_FAILURES,
    PromoAddStarted,
    PromoAttached,
    PromoCadenceStarted,
    PromoCancelled,
    PromoChosen,
    PromoDone,
    PromoInsert,
    PromoPlaying,
    PromoPositioned,
)

if TYPE_CHECKING:
    from domain.queue.state import QueueState

KEEP_FINISHED = 100


def _update(state: QueueState, promo_id: str, **changes: Any) -> QueueState:
    promos = tuple(replace(p, **changes) if p.promo_id == promo_id else p for p in state.promos)
    finished = [p for p in promos if not p.active and p.placement != "playing"]
    if len(finished) > KEEP_FINISHED:
        drop = {p.promo_id for p in finished[: len(finished) - KEEP_FINISHED]}
        promos = tuple(p for p in promos if p.promo_id not in drop)
    return replace(state, promos=promos)


def evolve_promo(state: QueueState, event: object) -> QueueState:
    match event:
        case PromoCadenceStarted():
            return replace(state, cadence=replace(state.cadence, last_general_at=event.at))
        case PromoChosen():
            cadence = state.cadence
            cadence = replace(
                cadence,
                last_clip={**cadence.last_clip, event.promo_type: event.media.key},
                next_index={**cadence.next_index, event.promo_type: event.pool_index + 1},
            )
            if event.role == "general":
                cadence = replace(cadence, content_since_general=0, last_general_at=event.at)
            insert = PromoInsert(
                event.promo_id, event.promo_type, event.role, event.media, event.target_item_id
            )
            return replace(
                state,
                promos=(*state.promos, insert),
                cadence=cadence,
                next_promo_seq=state.next_promo_seq + 1,
            )
        case PromoAddStarted():
            return _update(state, event.promo_id, add_attempts=event.attempt)
        case PromoAttached():
            promo = next((p for p in state.promos if p.promo_id == event.promo_id), None)
            if promo is not None:
                lead_in_for = promo.target_item_id if promo.role == "lead_in" else None
                state = replace(
                    state,
                    items=tuple(
                        replace(
                            i, kind="promo", promo_type=promo.promo_type, lead_in_for=lead_in_for
                        )
                        if i.item_id == event.item_id
                        else i
                        for i in state.items
                    ),
                )
            if promo is not None and promo.placement == "cancelled":  # claimed to be taken off
                return _update(state, event.promo_id, item_id=event.item_id)
            return _update(state, event.promo_id, placement="attached", item_id=event.item_id)
        case PromoPositioned():
            return _update(state, event.promo_id, placement="positioned")
        case PromoPlaying():
            return _update(state, event.promo_id, placement="playing")
        case PromoDone():
            return _update(state, event.promo_id, placement="done")
        case PromoCancelled():
            failed = event.reason in PROMO_FAILURES
            return _update(state, event.promo_id, placement="cancelled", failed=failed)
    return state
