"""A change that lands between looking and waiting is not missed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from adapters.clock import VirtualClock
from application.cytube.pacing import ChannelSignals

START = datetime(2026, 11, 21, tzinfo=UTC)


async def test_a_wake_after_the_mark_ends_a_wait_that_starts_later() -> None:
    signals = ChannelSignals(VirtualClock(START, monotonic=lambda: 0.0))  # time stands still
    seen = signals.mark("lobby")
    signals.wake("lobby")  # the change lands before the waiter starts waiting
    await asyncio.wait_for(signals.wait("lobby", 60.0, seen), 1.0)


async def test_without_a_mark_only_a_later_wake_ends_the_wait() -> None:
    signals = ChannelSignals(VirtualClock(START, monotonic=lambda: 0.0))
    signals.wake("lobby")
    waiting = asyncio.create_task(signals.wait("lobby", 60.0))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    signals.wake("other")
    await asyncio.sleep(0.01)
    assert not waiting.done()  # another channel's change is not ours
    signals.wake("lobby")
    await asyncio.wait_for(waiting, 1.0)
