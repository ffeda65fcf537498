"""Is pay-to-play (and with it the promo director) closed right now, and what to tell people."""

from __future__ import annotations

from datetime import datetime

from domain.queue.state import QueueState


def lock_message(state: QueueState, now: datetime) -> str | None:
    lock = state.lock
    if lock is None or (lock.until is not None and now >= lock.until):
        return None
    until = (
        f"until {lock.until:%Y-%m-%d %H:%M} UTC"
        if lock.until is not None
        else "until an admin reopens it"
    )
    return f'Pay-to-play is closed: "{lock.label}" {until}.'
