"""When a payer leaves or goes AFK: a pure policy over pending paid items, presence and now.

Everything it decides is recorded (grace windows included), so a restart changes nothing: the
window that opened at 20:00 with a 60 s grace still closes at 20:01, whenever we look.

Leaving and going AFK are separate triggers with their own grace. CyTube marks anyone AFK
after its `afk_timeout` (10 min by default) without chatting, so a viewer who watches quietly is
"AFK" on the wire: AFK is off by default (the earlier web queue learnt the same), and when it is
on, a purchase made while its buyer was already AFK is not cancelled for that same AFK.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from attrs import Attribute, field, frozen

from domain.queue.pay_model import NoteOwnerAway, NoteOwnerBack
from domain.queue.state import QueueState


def _not_negative(_: object, attribute: Attribute[float], value: float) -> None:
    if not value >= 0:
        raise ValueError(f"must be zero or more, got {value}")


def _positive(_: object, attribute: Attribute[float], value: float) -> None:
    if not value > 0:
        raise ValueError(f"must be more than zero, got {value}")


@frozen
class PresenceRefundConfig:
    """`grace_seconds` is the grace after a leave (the earlier web queue's name for it),
    `afk_grace_seconds` the one after CyTube marks the buyer AFK."""

    enabled: bool = True
    on_leave: bool = True
    on_afk: bool = False
    grace_seconds: float = field(default=60.0, validator=_not_negative)
    afk_grace_seconds: float = field(default=600.0, validator=_not_negative)
    check_interval_seconds: float = field(default=15.0, validator=_positive)
    notify_user: bool = True

    def grace(self, reason: str) -> float:
        return self.afk_grace_seconds if reason == "owner_afk" else self.grace_seconds


@frozen
class OwnerHere:
    afk: bool
    since: datetime


@frozen
class OwnerGone:
    since: datetime


#: What presence knows of an owner; None: nothing (look them up before deciding).
OwnerStatus = OwnerHere | OwnerGone | None


@frozen
class CancelForAbsence:
    user: str
    reason: str
    request_ids: tuple[str, ...]


Decision = NoteOwnerAway | NoteOwnerBack | CancelForAbsence


def owners_at_stake(state: QueueState) -> dict[str, tuple[str, ...]]:
    """Owner (lowercased) -> request ids of their paid items that may still be cancelled: not
    playing, and not the now-playing item (never cancelled, even when its owner is gone)."""
    owners: dict[str, list[str]] = {}
    for pay in state.pay:
        if not pay.pending or pay.placement == "playing":
            continue
        if pay.item_id is not None and pay.item_id == state.now_playing:
            continue
        owners.setdefault(pay.user.lower(), []).append(pay.request_id)
    return {user: tuple(ids) for user, ids in owners.items()}


def _absence(status: OwnerStatus, config: PresenceRefundConfig) -> tuple[str, datetime] | None:
    if isinstance(status, OwnerGone) and config.on_leave:
        return "owner_left", status.since
    if isinstance(status, OwnerHere) and status.afk and config.on_afk:
        return "owner_afk", status.since
    return None


def _bought_before(
    state: QueueState, request_ids: tuple[str, ...], since: datetime
) -> tuple[str, ...]:
    """The purchases made before an AFK began: one made while AFK is not cancelled for it."""
    kept = []
    for request_id in request_ids:
        pay = state.pay_item(request_id)
        if pay is not None and pay.requested_at < since:
            kept.append(request_id)
    return tuple(kept)


def decide_presence(
    state: QueueState,
    owners: Mapping[str, OwnerStatus],
    now: datetime,
    config: PresenceRefundConfig,
    at_stake: Mapping[str, tuple[str, ...]] | None = None,
) -> tuple[Decision, ...]:
    """`owners` maps each owner at stake (lowercased) to what presence knows; unknown owners
    are left alone (a lookup comes first, and an inconclusive one starts no clock).
    `at_stake`: `owners_at_stake(state)` when the caller has it already (a scan of every
    purchase, which the monitor makes once per evaluation)."""
    if not config.enabled:
        return ()
    if at_stake is None:
        at_stake = owners_at_stake(state)
    decisions: list[Decision] = []
    for stale in state.away:
        if stale.user.lower() not in at_stake:
            decisions.append(NoteOwnerBack(stale.user))  # nothing of theirs is left to cancel
    for user, request_ids in sorted(at_stake.items()):
        if user not in owners or owners[user] is None:
            continue
        window = state.away_window(user)
        absence = _absence(owners[user], config)
        if absence is not None and absence[0] == "owner_afk":
            request_ids = _bought_before(state, request_ids, absence[1])
            if not request_ids:
                absence = None
        if absence is None:
            if window is not None:
                decisions.append(NoteOwnerBack(window.user))
            continue
        reason, since = absence
        if window is None or (window.reason, window.since) != (reason, since):
            window_deadline = since + timedelta(seconds=config.grace(reason))
            decisions.append(NoteOwnerAway(user, reason, since, window_deadline))
        else:
            window_deadline = window.deadline
        if now >= window_deadline:
            decisions.append(CancelForAbsence(user, reason, request_ids))
    return tuple(decisions)
