"""Shared by every process manager that adds to CyTube or waits on what it observes."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import datetime

from application.clock import Clock


class AddPacer:
    """At most one add per channel every `delay_sec` (channel time), whoever adds: CyTube
    validates each add (fetching custom manifests) and answers adds that outpace it with a
    transient queueFail. The pay flow and the promo director share one."""

    def __init__(self, clock: Clock, delay_sec: float) -> None:
        self._clock = clock
        self.delay_sec = delay_sec
        self._last: dict[str, datetime] = {}
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def turn(self, channel: str) -> None:
        async with self._locks[channel]:
            last = self._last.get(channel)
            if last is not None:
                wait = self.delay_sec - (self._clock.now() - last).total_seconds()
                if wait > 0:
                    await self._clock.sleep(wait)
            self._last[channel] = self._clock.now()


class ChannelSignals:
    """Wake whoever waits on a channel when its log moves; waits time out in channel time."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._events: dict[str, asyncio.Event] = defaultdict(asyncio.Event)

    def wake(self, channel: str) -> None:
        self._events[channel].set()
        self._events[channel] = asyncio.Event()

    def mark(self, channel: str) -> asyncio.Event:
        """Taken before acting or reading: a wait `since` it also sees a change that lands
        before the wait begins (otherwise that wake-up is lost and the wait runs out)."""
        return self._events[channel]

    async def wait(self, channel: str, seconds: float, since: asyncio.Event | None = None) -> None:
        changed = asyncio.ensure_future((since or self._events[channel]).wait())
        timer = asyncio.ensure_future(self._clock.sleep(seconds))
        try:
            await asyncio.wait({changed, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for f in (changed, timer):
                f.cancel()
            await asyncio.gather(changed, timer, return_exceptions=True)
