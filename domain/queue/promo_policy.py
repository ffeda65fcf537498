"""The promo director's decisions, pure: what is due before the next content, and which clip.

- General promos (channel identity, event, mod shout-out) come on a cadence: every N content
  items or M minutes, whichever first; promos never count as content. The type is drawn by
  weight among enabled types whose pool has a clip to offer; the clip follows the type's order
  (random, or sequential resuming where it left off) and never repeats the last one in a pool
  of two or more.
- Lead-ins: a paid item gets Viewer's Choice (at any length, and a paid movie gets only that);
  otherwise the next content at or above the movie threshold gets a Feature Presentation. At
  most one general promo and exactly one lead-in per target: `[general][FP|VC][content]`.
Every draw comes from `ctx.random` and is written into `PromoChosen`, so replay never re-rolls.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from domain.decider import Context, RandomSource
from domain.media import Media
from domain.promos.config import PromoConfig
from domain.promos.kinds import GENERAL_TYPES, PromoType
from domain.queue.lock import lock_message
from domain.queue.promo_model import DirectPromos, PromoCadenceStarted, PromoChosen, PromoEvent
from domain.queue.state import QueueItem, QueueState


class _Zero:
    """Without a random source every draw takes the first option: still deterministic."""

    def random(self) -> float:
        return 0.0


def _draw(rand: RandomSource, n: int) -> int:
    return min(int(rand.random() * n), n - 1)


def pick_clip(
    pool: Sequence[Media],
    order: str,
    last: tuple[str, str] | None,
    next_index: int,
    no_repeat: bool,
    taken: set[tuple[str, str]],
    rand: RandomSource,
) -> tuple[int, Media] | None:
    """(index in the pool, clip), or None when the pool has nothing to offer now."""
    candidates = [i for i, m in enumerate(pool) if m.key not in taken]
    if no_repeat and len(pool) >= 2:
        candidates = [i for i in candidates if pool[i].key != last]
    if not candidates:
        return None
    if order == "sequential":
        start = next_index % len(pool)
        index = min(candidates, key=lambda i: (i - start) % len(pool))
    else:
        index = candidates[_draw(rand, len(candidates))]
    return index, pool[index]


def pick_type(weights: Sequence[tuple[PromoType, float]], rand: RandomSource) -> PromoType | None:
    total = sum(w for _, w in weights)
    if total <= 0:
        return None
    roll = rand.random() * total
    for promo_type, weight in weights:
        roll -= weight
        if roll < 0:
            return promo_type
    return weights[-1][0]


def general_due(state: QueueState, config: PromoConfig, now: datetime) -> bool:
    cadence = state.cadence
    if cadence.content_since_general >= config.general.every_n_items:
        return True
    since = cadence.last_general_at
    return since is not None and now - since >= timedelta(minutes=config.general.every_m_minutes)


def _lead_in_type(
    state: QueueState, item: QueueItem, is_next: bool, config: PromoConfig
) -> PromoType | None:
    if item.kind == "pay":
        pay = state.pay_item(item.request_id) if item.request_id else None
        return "viewers_choice" if pay is not None and pay.placement == "positioned" else None
    if (
        is_next
        and item.kind == "content"
        and item.media.duration_sec >= config.movie_threshold_seconds
    ):
        return "feature_presentation"
    return None


def direct(state: QueueState, cmd: DirectPromos, ctx: Context) -> tuple[PromoEvent, ...]:
    config = cmd.config
    if not config.enabled or lock_message(state, ctx.now) is not None:
        return ()  # a running curated event plays exactly as built
    if state.now_playing is None:
        # Between items (CyTube deletes a finished temp item before it names the next one):
        # "what plays next" is unknown until the next setCurrent.
        return ()
    rand = ctx.random or _Zero()
    events: list[PromoEvent] = []
    if state.cadence.last_general_at is None:
        events.append(PromoCadenceStarted(ctx.now))
    taken = {i.media.key for i in state.items} | {p.media.key for p in state.promos if p.active}
    # A promo playing right now still fronts its target, which is next.
    live = [p for p in state.promos if p.active or p.placement == "playing"]
    # A target whose promo CyTube would not take is not tried again (PROMO_FAILURES).
    tried = live + [p for p in state.promos if p.failed]
    led = {p.target_item_id for p in tried if p.role == "lead_in"}
    fronted = {p.target_item_id for p in tried if p.role == "general"}
    seq = state.next_promo_seq
    last = dict(state.cadence.last_clip)
    next_index = dict(state.cadence.next_index)

    def choose(promo_type: PromoType, role: str, target: QueueItem) -> bool:
        nonlocal seq
        settings = config.type(promo_type)
        pool = cmd.pools.get(promo_type, ())
        if not settings.enabled or not pool:
            return False
        picked = pick_clip(
            pool,
            settings.order,
            last.get(promo_type),
            next_index.get(promo_type, 0),
            config.general.no_repeat,
            taken,
            rand,
        )
        if picked is None:
            return False
        index, media = picked
        events.append(
            PromoChosen(f"p{seq}", promo_type, role, media, target.item_id, ctx.now, index)  # type: ignore[arg-type]
        )
        seq += 1
        taken.add(media.key)
        last[promo_type] = media.key
        next_index[promo_type] = index + 1
        return True

    content = [i for i in state.upcoming() if i.kind != "promo"]
    for position, item in enumerate(content):
        if item.item_id in led:
            continue
        lead_in = _lead_in_type(state, item, position == 0, config)
        if lead_in is not None:
            choose(lead_in, "lead_in", item)

    if content and content[0].item_id not in fronted and general_due(state, config, ctx.now):
        weights = [
            (t, config.type(t).weight)
            for t in GENERAL_TYPES
            if config.type(t).enabled and config.type(t).weight > 0 and cmd.pools.get(t)
        ]
        while weights:
            promo_type = pick_type(weights, rand)
            if promo_type is None or choose(promo_type, "general", content[0]):
                break
            weights = [w for w in weights if w[0] != promo_type]  # empty for now: try the next
    return tuple(events)
