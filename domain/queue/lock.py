"""Is pay-to-play (and with it the promo director) closed right now, and what to tell people.

Two locks may close it: the manual one an admin sets (`state.lock`) and a scheduled event's
(`state.schedule_lock`: `pre_fire` from fire time minus the lock length, `event` while an
immutable event runs). The manual lock speaks first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.queue.state import QueueState


def _manual_open(state: QueueState, now: datetime) -> bool:
    lock = state.lock
    return lock is None or (lock.until is not None and now >= lock.until)


def lock_message(state: QueueState, now: datetime) -> str | None:
    if not _manual_open(state, now):
        lock = state.lock
        assert lock is not None
        until = (
            f"until {lock.until:%Y-%m-%d %H:%M} UTC"
            if lock.until is not None
            else "until an admin reopens it"
        )
        return f'Pay-to-play is closed: "{lock.label}" {until}.'
    held = state.schedule_lock
    if held is None or not held.active(now):
        return None
    if held.kind == "pre_fire":
        return f'Pay-to-play is closed: "{held.label}" starts at {held.fire_at:%Y-%m-%d %H:%M} UTC.'
    end = (
        f" until about {held.estimated_end_at:%Y-%m-%d %H:%M} UTC"
        if held.estimated_end_at is not None
        else ""
    )
    return f'Pay-to-play is closed while "{held.label}" is on{end}.'


def lock_details(state: QueueState, now: datetime) -> dict[str, Any]:
    """What a refusal carries beside its message: `kind` (manual, pre_fire, event), the label
    and the times a client shows (ISO 8601, UTC)."""
    if not _manual_open(state, now):
        lock = state.lock
        assert lock is not None
        return {
            "kind": "manual",
            "label": lock.label,
            "until": lock.until.isoformat() if lock.until is not None else None,
        }
    held = state.schedule_lock
    if held is None or not held.active(now):
        return {}
    details: dict[str, Any] = {"kind": held.kind, "label": held.label}
    if held.kind == "pre_fire":
        details["fire_at"] = held.fire_at.isoformat()
    else:
        details["estimated_end_at"] = (
            held.estimated_end_at.isoformat() if held.estimated_end_at is not None else None
        )
    return details
