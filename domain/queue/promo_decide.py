"""decide() for promo commands, and the promo facts that observations imply."""

from __future__ import annotations

from domain.decider import Context
from domain.errors import Rejected
from domain.queue.promo_model import (
    DirectPromos,
    FailPromo,
    PromoAddStarted,
    PromoAttached,
    PromoCancelled,
    PromoCommand,
    PromoDone,
    PromoEvent,
    PromoInsert,
    PromoPlaying,
    PromoPositioned,
    StartPromoAdd,
)
from domain.queue.promo_policy import direct
from domain.queue.state import QueueItem, QueueState


def _known(state: QueueState, promo_id: str) -> PromoInsert:
    promo = next((p for p in state.promos if p.promo_id == promo_id), None)
    if promo is None:
        raise Rejected("unknown_promo", f"No promo {promo_id!r}.")
    return promo


def decide_promo(state: QueueState, cmd: PromoCommand, ctx: Context) -> tuple[PromoEvent, ...]:
    match cmd:
        case DirectPromos():
            return direct(state, cmd, ctx)
        case StartPromoAdd():
            promo = _known(state, cmd.promo_id)
            if promo.placement != "adding":
                return ()
            return (PromoAddStarted(promo.promo_id, promo.add_attempts + 1),)
        case FailPromo():
            promo = _known(state, cmd.promo_id)
            if not promo.active:
                return ()
            return (PromoCancelled(promo.promo_id, cmd.reason),)
    raise Rejected("unknown_command", f"The queue does not handle {type(cmd).__name__}.")


def _in_front_of(state: QueueState, promo: PromoInsert) -> bool:
    """`[general][lead-in][target]`: a lead-in sits right before its target; a general promo
    right before the target's lead-in if it has one, else right before the target."""
    if promo.item_id is None:
        return False
    index = state.index_of(promo.item_id)
    if index is None or index + 1 >= len(state.items):
        return False
    following = state.items[index + 1]
    if following.item_id == promo.target_item_id:
        return not (promo.role == "general" and _has_lead_in(state, promo.target_item_id))
    return promo.role == "general" and following.lead_in_for == promo.target_item_id


def promo_slot(state: QueueState, promo: PromoInsert) -> tuple[bool, str | None]:
    """Where the promo must go: (found, item id to follow; None for the top). A general promo
    goes in front of its target's lead-in when there is one, else in front of the target."""
    front = promo.target_item_id
    if promo.role == "general":
        lead = next(
            (
                p.item_id
                for p in state.promos
                if p.role == "lead_in"
                and p.target_item_id == promo.target_item_id
                and p.item_id is not None
                and p.active
            ),
            None,
        )
        front = lead or front
    index = state.index_of(front)
    if index is None:
        return False, None
    items = [i for i in state.items if i.item_id != promo.item_id]
    index = next(n for n, i in enumerate(items) if i.item_id == front)
    return True, items[index - 1].item_id if index else None


def _has_lead_in(state: QueueState, target: str) -> bool:
    return any(
        p.role == "lead_in" and p.target_item_id == target and p.item_id is not None and p.active
        for p in state.promos
    )


def _target_lost(state: QueueState, promo: PromoInsert, target: QueueItem | None) -> str | None:
    if target is None:
        return "target_gone"
    if state.now_playing == target.item_id:
        return "target_started"
    if target.request_id is not None:
        pay = state.pay_item(target.request_id)
        if pay is not None and pay.cancelled:
            return "target_cancelled"
    return None


def _landed(state: QueueState, promo: PromoInsert) -> QueueItem | None:
    """The playlist item the promo's add became: its media, still plain content."""
    match = [
        i
        for i in state.items
        if i.media.key == promo.media.key and i.kind == "content" and i.request_id is None
    ]
    return match[-1] if match else None


def promo_facts(state: QueueState) -> list[PromoEvent]:
    facts: list[PromoEvent] = []
    by_id = {i.item_id: i for i in state.items}
    for promo in state.promos:
        item = by_id.get(promo.item_id) if promo.item_id else None
        if promo.placement == "playing":
            if item is None or state.now_playing != promo.item_id:
                facts.append(PromoDone(promo.promo_id, "played"))
            continue
        if promo.placement == "cancelled":
            if promo.item_id is None and promo.add_attempts > 0:
                # Its add was sent before it was cancelled and has landed since: claim the item
                # (it stays cancelled), so the director takes it off instead of leaving a
                # promo clip on the playlist as if it were content.
                landed = _landed(state, promo)
                if landed is not None:
                    facts.append(PromoAttached(promo.promo_id, landed.item_id, landed.uid))
            continue
        if promo.placement in ("attached", "positioned"):
            if item is None:
                facts.append(PromoDone(promo.promo_id, "gone_from_playlist"))
                continue
            if state.now_playing == promo.item_id:
                facts.append(PromoPlaying(promo.promo_id))
                continue
        if promo.active:
            lost = _target_lost(state, promo, by_id.get(promo.target_item_id))
            if lost is not None:
                facts.append(PromoCancelled(promo.promo_id, lost))
                continue
        if promo.placement == "adding" and promo.item_id is None:
            landed = _landed(state, promo)
            if landed is not None:
                facts.append(PromoAttached(promo.promo_id, landed.item_id, landed.uid))
        elif promo.placement == "attached" and _in_front_of(state, promo):
            facts.append(PromoPositioned(promo.promo_id))
    return facts
