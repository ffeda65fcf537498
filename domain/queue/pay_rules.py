"""The channel's request rules checked in the queue's pay decision, and the fair order.

`refusals()` lists every rule a purchase breaks (the price preview shows them all, before any
money moves); the decision refuses with the first, carrying the others in `extra`. Each refusal
is a stable code (`rule_*`) and a sentence with the number that applies and when it clears.

What the decision needs beyond the queue comes in `Context.config`:
- `request_rules`: the channel's `RulesConfig` (absent: no rules);
- `buyer_role`: the buyer's role, for `exempt_roles`;
- `buyer_rank`: the buyer's CyTube rank as CyTube last reported it, or None, for
  `exempt_min_rank`.

When a medium last played ("no repeats") is the queue's own (`QueueState.last_started`, folded
from its log), so a medium that has just started is refused at once, whatever the read models.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.decider import Context
from domain.errors import Rejected
from domain.queue.order_model import QueueOrderSet, SetQueueOrder
from domain.queue.pay_model import PayItem, RequestPayItem
from domain.queue.state import QueueState
from domain.rules.config import RulesConfig

RULE_MAX_PENDING = "rule_max_pending"
RULE_TOO_SHORT = "rule_too_short"
RULE_TOO_LONG = "rule_too_long"
RULE_VIEWER_MINUTES = "rule_viewer_minutes"
RULE_QUEUE_MINUTES = "rule_queue_minutes"
RULE_COOLDOWN = "rule_cooldown"
RULE_REPEAT = "rule_repeat"
RULE_MEDIA_BLOCKED = "rule_media_blocked"
RULE_USER_BLOCKED = "rule_user_blocked"
RULE_CODES = (
    RULE_USER_BLOCKED,
    RULE_MEDIA_BLOCKED,
    RULE_TOO_SHORT,
    RULE_TOO_LONG,
    RULE_REPEAT,
    RULE_COOLDOWN,
    RULE_MAX_PENDING,
    RULE_VIEWER_MINUTES,
    RULE_QUEUE_MINUTES,
)
#: The rules judged on a medium's length, judged again on CyTube's length (`recheck`);
#: `pay_model.LENGTH_RULES` names the same codes (a purchase cancelled by one is skipped).
RECHECKED = (RULE_TOO_SHORT, RULE_TOO_LONG, RULE_VIEWER_MINUTES, RULE_QUEUE_MINUTES)


def _minutes(seconds: float) -> str:
    value = seconds / 60
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def _limit(seconds: int) -> str:
    """A length limit as people read it: `600 s (10 min)`, `45 s`."""
    return f"{seconds} s ({_minutes(seconds)} min)" if seconds >= 60 else f"{seconds} s"


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def _wait(seconds: float) -> str:
    seconds = max(1, int(seconds + 0.999))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def _mine(state: QueueState, user: str) -> list[PayItem]:
    low = user.lower()
    return [p for p in state.pay if p.user.lower() == low]


def refusals(state: QueueState, cmd: RequestPayItem, ctx: Context) -> list[Rejected]:
    """Every rule `cmd` breaks now, in the order of `RULE_CODES`; [] when it may go ahead."""
    rules = ctx.config.get("request_rules")
    if not isinstance(rules, RulesConfig):
        return []
    found: list[Rejected] = []
    exempt = ctx.config.get("buyer_role") in rules.exempt_roles or _rank_exempt(ctx, rules)
    length = cmd.media.duration_sec
    blocked_user = rules.user_block(cmd.user)
    if blocked_user is not None:
        found.append(
            Rejected(
                RULE_USER_BLOCKED,
                "You may not buy items on this channel"
                + (f": {blocked_user.reason}." if blocked_user.reason else ".")
                + " It clears when an admin lifts the block.",
                {"reason": blocked_user.reason},
            )
        )
    blocked = rules.media_block(cmd.media.key)
    if blocked is not None:
        found.append(
            Rejected(
                RULE_MEDIA_BLOCKED,
                "This media is blocked on this channel"
                + (f": {blocked.reason}." if blocked.reason else ".")
                + " It clears when an admin lifts the block.",
                {"reason": blocked.reason},
            )
        )
    found.extend(_length(rules, length))
    found.extend(_repeat(state, cmd, ctx, rules))
    pending = [p for p in _mine(state, cmd.user) if p.pending]
    if not exempt:
        found.extend(_cooldown(state, cmd, ctx, rules))
        limit = rules.max_pending_per_viewer
        if limit is not None and len(pending) >= limit:
            at = _clears_at(state, ctx, {p.request_id: 1 for p in pending}, 1)
            found.append(
                Rejected(
                    RULE_MAX_PENDING,
                    f"You have {len(pending)} paid items waiting to play; the limit is {limit} "
                    f"per viewer. It clears when one of them plays{_about(at, ctx)}.",
                    {"limit": limit, "pending": len(pending), **_clears(at)},
                )
            )
        mine = sum(p.media.duration_sec for p in pending)
        found.extend(_viewer_minutes(rules, mine, length, state, ctx, pending))
    waiting = [p for p in state.pay if p.pending]
    total = sum(p.media.duration_sec for p in waiting)
    found.extend(_queue_minutes(rules, total, length, state, ctx, waiting))
    return found


def _clears_at(
    state: QueueState, ctx: Context, weights: dict[str, int], needed: int
) -> datetime | None:
    """About when paid items of `weights` (request id: what its start frees) that are on the
    playlist have started enough to free `needed`: from what is playing and the lengths ahead
    of them. None when that is not known (paused, nothing timed, or not enough of them are on
    the playlist yet)."""
    current = state.current
    if needed <= 0 or current is None or state.playing_since is None or state.playback_paused:
        return None
    played = (ctx.now - state.playing_since).total_seconds()
    at = ctx.now + timedelta(seconds=max(0.0, current.media.duration_sec - played))
    freed = 0
    for item in state.upcoming():
        if item.request_id is not None and item.request_id in weights:
            freed += weights[item.request_id]
            if freed >= needed:
                return at
        at += timedelta(seconds=item.media.duration_sec)
    return None


def _about(at: datetime | None, ctx: Context) -> str:
    if at is None:
        return ""
    return f" (about {at.strftime('%H:%M UTC')}, in {_wait((at - ctx.now).total_seconds())})"


def _clears(at: datetime | None) -> dict[str, str]:
    return {} if at is None else {"clears_at": at.isoformat()}


def _length(rules: RulesConfig, length: int) -> list[Rejected]:
    if length < rules.min_length_sec:
        return [
            Rejected(
                RULE_TOO_SHORT,
                f"This media is {length} s long; the shortest that can be bought is "
                f"{_limit(rules.min_length_sec)}.",
                {"limit_sec": rules.min_length_sec, "duration_sec": length},
            )
        ]
    if rules.max_length_sec is not None and length > rules.max_length_sec:
        return [
            Rejected(
                RULE_TOO_LONG,
                f"This media is {length} s long; the longest that can be bought is "
                f"{_limit(rules.max_length_sec)}.",
                {"limit_sec": rules.max_length_sec, "duration_sec": length},
            )
        ]
    return []


def _viewer_minutes(
    rules: RulesConfig,
    mine: int,
    length: int,
    state: QueueState,
    ctx: Context,
    pending: list[PayItem],
) -> list[Rejected]:
    cap = rules.max_viewer_pending_minutes
    if cap is None or mine + length <= cap * 60:
        return []
    at = _minutes_free_at(state, ctx, pending, mine + length - int(cap * 60), length, cap)
    return [
        Rejected(
            RULE_VIEWER_MINUTES,
            f"Your paid items waiting add up to {_minutes(mine)} min; with this one "
            f"{_minutes(mine + length)} min, above the cap of {_minutes(cap * 60)} min "
            f"per viewer. It clears as your items play{_about(at, ctx)}.",
            {"limit_minutes": cap, "pending_sec": mine, **_clears(at)},
        )
    ]


def _queue_minutes(
    rules: RulesConfig,
    total: int,
    length: int,
    state: QueueState,
    ctx: Context,
    waiting: list[PayItem],
) -> list[Rejected]:
    cap = rules.max_queue_pending_minutes
    if cap is None or total + length <= cap * 60:
        return []
    at = _minutes_free_at(state, ctx, waiting, total + length - int(cap * 60), length, cap)
    return [
        Rejected(
            RULE_QUEUE_MINUTES,
            f"Paid items waiting add up to {_minutes(total)} min; with this one "
            f"{_minutes(total + length)} min, above the channel's cap of "
            f"{_minutes(cap * 60)} min. It clears as paid items play{_about(at, ctx)}.",
            {"limit_minutes": cap, "pending_sec": total, **_clears(at)},
        )
    ]


def _minutes_free_at(
    state: QueueState,
    ctx: Context,
    waiting: list[PayItem],
    excess: int,
    length: int,
    cap: float,
) -> datetime | None:
    """About when enough of `waiting` has started for `length` to fit under `cap` (never, on
    its own, for media longer than the cap)."""
    if length > cap * 60:
        return None
    return _clears_at(state, ctx, {p.request_id: p.media.duration_sec for p in waiting}, excess)


def recheck(state: QueueState, pay: PayItem, ctx: Context) -> Rejected | None:
    """The rules judged on a medium's length, judged again on the length CyTube reports
    (`pay.media`, CyTube's once attached) instead of the one it was bought at (`priced_sec`:
    the buyer's hint when the catalog did not know it): the first one it breaks, or None.

    Only what the new length changes is judged: nothing when it is the same (a rule tightened
    since never touches what was bought), the shortest length when it is shorter, the longest
    and the minutes caps when it is longer. Its own length is left out of what is waiting, and
    the per-viewer cap spares exempt buyers as at the purchase (`Context.config` as for
    `refusals`)."""
    rules = ctx.config.get("request_rules")
    length, declared = pay.media.duration_sec, pay.priced_sec
    if not isinstance(rules, RulesConfig) or length == declared:
        return None
    if length < declared:
        found = [r for r in _length(rules, length) if r.code == RULE_TOO_SHORT]
        return _rechecked(found, declared, length)
    exempt = ctx.config.get("buyer_role") in rules.exempt_roles or _rank_exempt(ctx, rules)
    found = [r for r in _length(rules, length) if r.code == RULE_TOO_LONG]
    others = [p for p in state.pay if p.pending and p.request_id != pay.request_id]
    if not exempt:
        low = pay.user.lower()
        mine = [p for p in others if p.user.lower() == low]
        mine_sec = sum(p.media.duration_sec for p in mine)
        found.extend(_viewer_minutes(rules, mine_sec, length, state, ctx, mine))
    total = sum(p.media.duration_sec for p in others)
    found.extend(_queue_minutes(rules, total, length, state, ctx, others))
    return _rechecked(found, declared, length)


def _rechecked(found: list[Rejected], declared: int, length: int) -> Rejected | None:
    if not found:
        return None
    first = found[0]
    minutes, seconds = divmod(length, 60)
    return Rejected(
        first.code,
        f"It was bought as {declared} s long; CyTube reports {minutes}:{seconds:02d} "
        f"({length} s). {first.message} It was taken off the playlist and refunded in full.",
        {**first.extra, "declared_sec": declared, "duration_sec": length},
    )


def _rank_exempt(ctx: Context, rules: RulesConfig) -> bool:
    rank = ctx.config.get("buyer_rank")
    least = rules.exempt_min_rank
    return least is not None and isinstance(rank, int | float) and rank >= least


def _repeat(
    state: QueueState, cmd: RequestPayItem, ctx: Context, rules: RulesConfig
) -> list[Rejected]:
    hours = rules.no_repeat_hours
    if hours <= 0:
        return []
    window = f"{hours:g} h"
    if any(p.pending and p.media.key == cmd.media.key for p in state.pay):
        return [
            Rejected(
                RULE_REPEAT,
                f"This media is already queued; it can be bought again {window} after it plays.",
                {"hours": hours},
            )
        ]
    last = state.started_at(cmd.media.type, cmd.media.id)
    if last is not None:
        again = last + timedelta(hours=hours)
        if again > ctx.now:
            return [
                Rejected(
                    RULE_REPEAT,
                    f"This media played at {_when(last)}; no repeats within {window}, so it can "
                    f"be bought again at {_when(again)}.",
                    {"hours": hours, "retry_at": again.isoformat()},
                )
            ]
    return []


def _cooldown(
    state: QueueState, cmd: RequestPayItem, ctx: Context, rules: RulesConfig
) -> list[Rejected]:
    if rules.cooldown_minutes <= 0:
        return []
    bought = [
        p.requested_at for p in _mine(state, cmd.user) if p.payment not in ("declined", "void")
    ]
    if not bought:
        return []
    ready = max(bought) + timedelta(minutes=rules.cooldown_minutes)
    left = (ready - ctx.now).total_seconds()
    if left <= 0:
        return []
    return [
        Rejected(
            RULE_COOLDOWN,
            f"One purchase every {_minutes(rules.cooldown_minutes * 60)} min per viewer: wait "
            f"{_wait(left)} more (until {_when(ready)}).",
            {"retry_at": ready.isoformat(), "wait_sec": int(left + 0.999)},
        )
    ]


def check(state: QueueState, cmd: RequestPayItem, ctx: Context) -> None:
    """Refuse with the first rule `cmd` breaks; the others ride along in `extra["refusals"]`."""
    found = refusals(state, cmd, ctx)
    if not found:
        return
    first = found[0]
    first.extra["refusals"] = [{"code": r.code, "message": r.message} for r in found]
    raise first


def decide_order(state: QueueState, cmd: SetQueueOrder) -> tuple[QueueOrderSet, ...]:
    if state.fair_order == cmd.fair:
        return ()
    return (QueueOrderSet(cmd.fair, cmd.by),)


def fair_slot(state: QueueState, pay: PayItem) -> str | None:
    """Round-robin between buyers for tier `queue`: a buyer's k-th waiting item goes after
    every other buyer's k-th (a viewer's second item after everyone else's first).

    Each paid item in place has a round: 0 for `playnext` (they stay right after now playing),
    else how many of its buyer's `queue` items stand before it, plus one (never below the
    round of the item before it). The new item takes
    its buyer's next round and goes after the last item in place whose round is not above it
    (after now playing when there is none)."""
    placed = {
        p.item_id: p
        for p in state.pay
        if p.request_id != pay.request_id
        and p.placement == "positioned"
        and not p.cancelled
        and p.item_id is not None
    }
    counts: dict[str, int] = {}
    rounds: list[tuple[str, int]] = []
    # An item's round never falls below the one before it: after a cancel, a buyer's next item
    # can stand in a later round than its count, and the rounds stay in playing order.
    floor = 0
    for item in state.upcoming():
        held = placed.get(item.item_id)
        if held is None:
            continue
        if held.tier == "playnext":
            rounds.append((item.item_id, 0))
            continue
        key = held.user.lower()
        counts[key] = counts.get(key, 0) + 1
        floor = max(floor, counts[key])
        rounds.append((item.item_id, floor))
    mine = counts.get(pay.user.lower(), 0) + 1
    last = None
    for item_id, round_no in rounds:
        if round_no <= mine:
            last = item_id
    return last if last is not None else state.now_playing
